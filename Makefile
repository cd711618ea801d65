# The two commands of the README: `make demo` (main job) and `make test` (the test suite).
# Both create/refresh the virtual environment first (scripts/setup.sh is fast when nothing changed).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-slow bench docs

setup:
	scripts/setup.sh

demo: setup
	$(VENV)/bin/lingbot-depth-demo --out demo_output

test: setup
	scripts/install_browser.sh
	$(PY) -m pytest

test-slow: setup
	$(PY) -m pytest -m slow

bench: setup
	$(PY) bench/bench_node.py
	$(PY) bench/bench_estimators.py

docs:
	$(PY) -m lingbot_depth_ros.ros.param_docs --write
