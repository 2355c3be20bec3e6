"""Fuzzing and security tests: hypothesis-driven frames and requests against a real app."""
