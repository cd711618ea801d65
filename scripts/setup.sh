#!/usr/bin/env bash
# Make (or refresh) the project's virtual environment in .venv and install the package into it.
#
# ROS 2 Jazzy comes from pinned PyPI wheels (requirements*.txt); torch is the CPU build.
# Re-running is fast and harmless: requirements are only re-installed when a requirements file
# changed, and the package itself is re-installed (no dependencies) so the ament index
# (share/lingbot_depth_ros: launch/, config/, rviz/) matches the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi

want=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
stamp="$VENV/.requirements.sha256"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    echo "[setup] installing pinned requirements (ROS 2 Jazzy wheels, torch CPU, ...)"
    for f in requirements*.txt; do
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$f"
    done
    echo "$want" > "$stamp"
else
    echo "[setup] requirements up to date"
fi

echo "[setup] installing lingbot_depth_ros into $VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation .
rm -rf build ./*.egg-info
echo "[setup] done: $VENV"
