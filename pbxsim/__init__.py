"""pbxsim."""
