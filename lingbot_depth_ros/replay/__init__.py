"""Replays of evaluation bags into depth nodes: ``lingbot-depth-eval`` (evaluate.py) and the demo (demo.py)."""
