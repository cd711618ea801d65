"""Tiny random-weight checkpoints for tests and benches (official formats, no download)."""
