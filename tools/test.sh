#!/usr/bin/env bash
# Install everything labctl's test suite needs (Debian packages, then the Python package
# with its test extras) and run the whole suite: ruff, the firmware build and tests, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(gcc-avr avr-libc simavr libsimavr-dev libelf-dev pkg-config clang
              libclang-rt-14-dev hdf5-tools socat make gcc)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m pip install -q -e ".[test]"
python3 -m ruff check .
export QT_QPA_PLATFORM=offscreen
python3 -m pytest "$@"
