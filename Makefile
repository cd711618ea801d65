# The two commands of the README: `make demo` (main job) and `make test` (the test suite).
# Both create/refresh the virtual environment(s) first (scripts/setup.sh is fast when nothing changed).
#   .venv         ROS 2 Jazzy wheels (Fast DDS 2), torch CPU, every extra: demo, tools, the full suite
#   .venv-kilted  ROS 2 Kilted wheels (Fast DDS 3), no torch: the node's end-to-end tests again
VENV ?= .venv
KILTED_VENV ?= .venv-kilted
PY := $(VENV)/bin/python
KILTED_PY := $(KILTED_VENV)/bin/python
# Node and message tests that must pass on both ROS 2 families (classical estimators, no torch).
KILTED_TESTS ?= test/test_node_e2e.py test/test_node_bad_input.py test/test_node_hardening.py test/test_node_lidar_obstacles.py \
	test/test_compressed_node.py test/test_camera_geometry_node.py test/test_dds_profile.py test/test_doctor_graph.py \
	test/test_image_codec.py test/test_messages_image.py test/test_messages_pointcloud.py test/test_camera_model.py \
	test/test_navigation_msgs.py test/test_obstacle_outputs.py \
	test/test_cloud_geometry.py test/test_transform_source.py test/test_node_help.py \
	test/test_channel_link.py test/test_modes.py test/test_node_lifecycle.py test/test_launch_lifecycle.py

.PHONY: setup setup-kilted demo test lint test-jazzy test-kilted test-slow bench docs

setup:
	VENV=$(VENV) scripts/setup.sh jazzy

setup-kilted:
	KILTED_VENV=$(KILTED_VENV) scripts/setup.sh kilted

demo: setup
	$(VENV)/bin/lingbot-depth-demo --out demo_output $(DEMO_ARGS)

# The linters, the full suite on Jazzy, then the node tests on Kilted; all always run, and any failing fails.
test: setup setup-kilted
	scripts/install_browser.sh
	@status=0; \
	$(MAKE) --no-print-directory lint || status=1; \
	$(PY) -m pytest || status=1; \
	echo "[test] ROS 2 Kilted (Fast DDS 3): $(KILTED_TESTS)"; \
	$(KILTED_PY) -m pytest $(KILTED_TESTS) || status=1; \
	exit $$status

# Architecture contracts (.importlinter), ruff (ruff.toml), mypy (mypy.ini); the package's working tree is checked.
# All three always run; any finding fails.
lint: setup
	@status=0; \
	echo "[lint] import-linter (.importlinter)"; PYTHONPATH=$(CURDIR) $(VENV)/bin/lint-imports --no-cache || status=1; \
	echo "[lint] ruff (ruff.toml)"; $(VENV)/bin/ruff check . || status=1; \
	echo "[lint] mypy (mypy.ini)"; $(VENV)/bin/mypy || status=1; \
	exit $$status

test-jazzy: setup
	scripts/install_browser.sh
	$(PY) -m pytest

test-kilted: setup-kilted
	$(KILTED_PY) -m pytest $(KILTED_TESTS)

test-slow: setup
	$(PY) -m pytest -m slow

bench: setup
	$(PY) bench/bench_node.py
	$(PY) bench/bench_estimators.py

docs:
	$(PY) -m lingbot_depth_ros.params.docs --write
