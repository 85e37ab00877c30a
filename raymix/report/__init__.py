"""raymix.report."""
