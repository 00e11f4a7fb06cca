"""Users, roles, agents and password hashing."""
