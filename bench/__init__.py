"""Reproducible benchmarks: each prints its figures and a ratio against a baseline measured in
the same run, so machine drift hits both alike."""
