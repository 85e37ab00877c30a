"""raymix.mixtures."""
