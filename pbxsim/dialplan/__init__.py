"""The dialplan: extensions.conf loading, pattern matching, variable substitution."""
