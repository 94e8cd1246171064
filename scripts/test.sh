#!/usr/bin/env bash
# Run the whole test suite of every package in one pytest session, so each
# service (PostgreSQL, Slurm, Chromium) starts once. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
# rustup installs cargo and rustc in ~/.cargo/bin, which only login shells put on PATH.
if [ -d "$HOME/.cargo/bin" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
.venv/bin/python -m pytest tests "$@"
status=$?
# pytest exits 5 when it collected no test: that is not a failure of the code.
if [ "$status" -eq 5 ]; then
  echo "0 passed, 0 failed"
  exit 0
fi
exit "$status"
