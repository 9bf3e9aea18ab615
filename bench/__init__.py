"""Benchmarks: each prints its figures beside a baseline run side by side."""
