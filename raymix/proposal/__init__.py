"""raymix.proposal."""
