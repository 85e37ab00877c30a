"""raymix.scaling."""
