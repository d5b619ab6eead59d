"""Research topic suggestions: what a notebook mentions but covers thinly, per-notebook
preferences, accept (starts one research run) and reject."""
