"""raymix.sweep."""
