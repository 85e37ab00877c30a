"""raymix.regression."""
