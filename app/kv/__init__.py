"""Interprocess memory: sessions and rate-limit counters (cache and pub/sub to come).

Each store has a Redis backend for production and an in-process backend for the embedded
default; both honour the same interface and the same tests.
"""
