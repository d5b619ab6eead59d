"""Benchmarks, run from the repository root: `python bench/jobs.py`."""
