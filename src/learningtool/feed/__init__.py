"""The knowledge feed: one timeline of everything a notebook holds."""
