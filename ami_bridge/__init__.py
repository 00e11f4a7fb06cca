"""ami_bridge."""
