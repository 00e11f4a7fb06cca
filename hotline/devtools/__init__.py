"""Tools for tests, benchmarks and the demo; never imported by the running service."""
