#!/usr/bin/env bash
# Set up a development environment from nothing: system packages (when run as
# root on Debian), the virtualenv .venv, and every workspace package installed
# editable with the test tools. Safe to run again: it only does what is missing.
#
#   scripts/setup.sh            everything the whole test suite needs
#   scripts/setup.sh --demo     only what `genesis run` on the examples needs
#   scripts/setup.sh --python   only the virtualenv and the Python packages
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the test suite uses: the sandbox (bubblewrap), PostgreSQL,
# a single-node Slurm with accounting (MariaDB, munge), Chromium for the web
# UI's browser tests, and Debian's Rust crates for offline Cargo builds.
APT_PACKAGES=(
  bubblewrap util-linux procps
  g++ clang binutils
  postgresql
  slurm-wlm slurmctld slurmd slurm-client slurmdbd munge mariadb-server
  chromium
  librust-criterion-dev librust-rand-dev librust-rayon-dev
)

DEMO_APT_PACKAGES=(bubblewrap)

install_system_packages() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "setup: not root on Debian; skipping system packages (${APT_PACKAGES[*]})." >&2
    echo "setup: the tests that need them are skipped with the reason." >&2
    return 0
  fi
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  echo "setup: installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  flock /tmp/apt.lock apt-get update -qq
  flock /tmp/apt.lock apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

find_python() {
  # Python 3.11+, preferring the real interpreter over a version-manager shim.
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      "$candidate" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  echo "setup: Genesis needs Python 3.11 or newer on PATH." >&2
  return 1
}

install_python_packages() {
  local python
  python=$(find_python)
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  local stamp=.venv/.genesis-installed
  local inputs
  inputs=$(cat pyproject.toml genesis_*/pyproject.toml plugins/*/pyproject.toml 2>/dev/null | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ]; then
    return 0
  fi
  # Optional extras the tests exercise, per package folder.
  declare -A extras=([genesis_core]=postgres [plugins/logs_clickhouse]=chdb [plugins/webui]=test [genesis_backend_e2b]=test)
  local packages=()
  for dir in genesis_core genesis_lang_* genesis_backend_* plugins/*/; do
    dir=${dir%/}
    [ -f "$dir/pyproject.toml" ] || continue
    packages+=(-e "./$dir${extras[$dir]:+[${extras[$dir]}]}")
  done
  echo "setup: installing the workspace packages into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check "${packages[@]}" \
    "pytest>=8" "pytest-timeout>=2.3" "ruff>=0.6" hatchling editables 2> >(grep -v "is ignored: it is neither" >&2)
  echo "$inputs" > "$stamp"
}

case "${1:-}" in
  --python) ;;
  --demo) APT_PACKAGES=("${DEMO_APT_PACKAGES[@]}"); install_system_packages ;;
  *) install_system_packages ;;
esac
install_python_packages
