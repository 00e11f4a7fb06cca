"""Who is asking: browser sessions, bearer tokens, role gates with CSRF checks, and the login
throttle."""
