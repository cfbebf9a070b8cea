"""Benchmarks of the validation engine: `python -m benchmarks.run`."""
