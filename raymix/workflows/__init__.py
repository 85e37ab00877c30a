"""raymix.workflows."""
