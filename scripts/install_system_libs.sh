#!/usr/bin/env bash
# Debian shared libraries that pip wheels of the Jazzy venv load but do not ship:
#   libusb-1.0-0  open3d-cpu (fusion extra) links libusb-1.0.so.0 (RealSense support built in)
# Idempotent: installs only what ldconfig does not already know. Needs root (or sudo).
set -euo pipefail

missing=()
ldconfig -p | grep -q "libusb-1.0.so.0" || missing+=(libusb-1.0-0)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "[install_system_libs] installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
