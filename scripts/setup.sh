#!/usr/bin/env bash
# Make (or refresh) the project's virtual environments and install the package into them.
#
#   scripts/setup.sh [jazzy|kilted|all]      (default: jazzy)
#
#   jazzy -> $VENV (.venv):               ROS 2 Jazzy (Fast DDS 2) wheels, torch CPU, every extra:
#            requirements.txt requirements-model.txt requirements-server.txt requirements-dev.txt
#            requirements-estimators.txt requirements-engine.txt requirements-fusion.txt requirements-batch.txt
#   kilted -> $KILTED_VENV (.venv-kilted): ROS 2 Kilted (Fast DDS 3) wheels and the node's run-time
#            and test dependencies only: requirements/kilted.txt
#
# The two ROS families are never mixed in one venv: they share the unprefixed wheel names (ros-rclpy ...).
# Re-running is fast and harmless: a venv's requirements are only re-installed when one of its files
# changed (a hash per venv), and the package itself is re-installed (no dependencies) so the ament
# index (share/lingbot_depth_ros: launch/, config/, rviz/) matches the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
KILTED_VENV=${KILTED_VENV:-.venv-kilted}
JAZZY_FILES=(requirements.txt requirements-model.txt requirements-server.txt requirements-dev.txt
             requirements-estimators.txt requirements-engine.txt requirements-fusion.txt requirements-batch.txt)
KILTED_FILES=(requirements/kilted.txt)

# Every requirements*.txt at the top level belongs to the Jazzy venv: refuse one that is not listed
# here rather than silently leaving it out.
for f in requirements*.txt; do
    case " ${JAZZY_FILES[*]} " in
        *" $f "*) ;;
        *) echo "[setup] $f is not assigned to a venv: add it to JAZZY_FILES in scripts/setup.sh" >&2; exit 2 ;;
    esac
done

# make_venv DIR LABEL FILE...: create DIR, install the pinned FILEs (one pip resolve) when they changed,
# then (re)install this package without dependencies.
make_venv() {
    local venv=$1 label=$2
    shift 2
    if [ ! -x "$venv/bin/python" ]; then
        echo "[setup] creating $venv with $PYTHON"
        "$PYTHON" -m venv "$venv"
    fi
    local want stamp args=()
    want=$( { "$venv/bin/python" --version; cat "$@"; } | sha256sum | cut -d' ' -f1)
    stamp="$venv/.requirements.sha256"
    if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
        echo "[setup] installing pinned requirements into $venv ($label): $*"
        for f in "$@"; do args+=(-r "$f"); done
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}"
        echo "$want" > "$stamp"
    else
        echo "[setup] $venv requirements up to date ($label)"
    fi
    echo "[setup] installing lingbot_depth_ros into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation .
    rm -rf build ./*.egg-info
}

case "${1:-jazzy}" in
    jazzy) scripts/install_system_libs.sh; make_venv "$VENV" "ROS 2 Jazzy wheels, torch CPU, extras" "${JAZZY_FILES[@]}" ;;
    kilted) make_venv "$KILTED_VENV" "ROS 2 Kilted wheels, node tests" "${KILTED_FILES[@]}" ;;
    all)
        scripts/install_system_libs.sh
        make_venv "$VENV" "ROS 2 Jazzy wheels, torch CPU, extras" "${JAZZY_FILES[@]}"
        make_venv "$KILTED_VENV" "ROS 2 Kilted wheels, node tests" "${KILTED_FILES[@]}"
        ;;
    *) echo "usage: scripts/setup.sh [jazzy|kilted|all]" >&2; exit 2 ;;
esac
echo "[setup] done"
