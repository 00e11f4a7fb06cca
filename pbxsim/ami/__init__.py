"""The Asterisk Manager Interface side of the simulator: framing, sessions, actions."""
