"""raymix.training."""
