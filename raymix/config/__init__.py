"""raymix.config."""
