"""Off-robot HTTP API (FastAPI) and web UI (Gradio): the optional ``server`` extra.

Submodules import their web framework themselves; ``codec`` needs only numpy, OpenCV and Pillow.
"""
