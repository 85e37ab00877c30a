"""raymix.data."""
