"""Database models, sessions, migrations and error translation."""
