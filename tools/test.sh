#!/usr/bin/env bash
# Install everything labctl's test suite needs (Debian packages, then the Python package
# with its test extras) and run the whole suite: ruff, the installed wheel in a fresh
# virtual environment, the firmware build and tests, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

APT_PACKAGES=(gcc-avr avr-libc simavr libsimavr-dev libelf-dev pkg-config clang
              libclang-rt-14-dev hdf5-tools socat make gcc python3-venv
              chromium chromium-driver)
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

# The wheel alone (core dependencies only, no extras) in a fresh virtual environment runs
# the demo from an unrelated folder: shipped bench files come from the package, the run
# lands in the per-user data folder, a command needing an extra says which one.
wheel_check() (  # a subshell: its EXIT trap removes the scratch folder on any exit
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    rm -rf build  # setuptools' scratch folder: stale files there would enter the wheel
    python3 -m pip wheel -q --no-deps -w "$tmp/dist" .
    python3 -m venv "$tmp/venv"
    "$tmp/venv/bin/python" -m pip install -q "$tmp"/dist/labctl-*.whl
    labctl="$tmp/venv/bin/labctl"
    mkdir "$tmp/elsewhere" "$tmp/home"
    (
        cd "$tmp/elsewhere"
        export HOME="$tmp/home"
        unset XDG_DATA_HOME LABCTL_DATA_DIR
        "$labctl" --help >/dev/null
        "$labctl" validate "$ROOT/protocols/demo.toml"
        "$labctl" run "$ROOT/protocols/demo.toml" -q
        # the shipped protocols come with the wheel (labctl reproduce finds them there)
        shipped="$("$tmp/venv/bin/python" -c 'from labctl.reproduce.claims import PROTOCOLS
print(PROTOCOLS)')"
        case "$shipped" in "$tmp/venv/"*) ;; *) echo "wheel check: protocols at $shipped"; exit 1;;
        esac
        for claim in "$shipped"/*.toml; do "$labctl" validate "$claim" >/dev/null; done
        [ -f "$shipped/papers/kappa.toml" ] || { echo "wheel check: no papers/ protocols"; exit 1; }
        set +e
        "$labctl" analyze nothing.h5 -o out 2>"$tmp/extra.txt"
        code=$?
        set -e
        [ "$code" -eq 2 ] && grep -q "pip install 'labctl\[analysis\]'" "$tmp/extra.txt" ||
            { echo "wheel check: labctl analyze without extras: exit $code"; cat "$tmp/extra.txt"
              exit 1; }
    )
    runs=("$tmp"/home/.local/share/labctl/runs/demo-*.h5)
    [ -f "${runs[0]}" ] || { echo "wheel check: no run file in the per-user folder"; exit 1; }
    echo "wheel check: ok (demo run from an unrelated folder: ${runs[0]#"$tmp/"})"
)
wheel_check

export QT_QPA_PLATFORM=offscreen
python3 -m pytest "$@"
