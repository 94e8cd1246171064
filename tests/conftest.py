"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


class CLIResult:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def __repr__(self) -> str:
        return f"CLIResult(rc={self.returncode}, stdout={self.stdout[-2000:]!r}, stderr={self.stderr[-2000:]!r})"


@pytest.fixture
def genesis_cli():
    """Run the real `genesis` command in a subprocess: `genesis_cli(args, env=..., cwd=...)`."""

    def run(args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300, input: str | None = None) -> CLIResult:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("GENESIS_")}
        full_env.update(env or {})
        proc = subprocess.run(
            [sys.executable, "-m", "genesis_core", *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd,
            timeout=timeout,
            input=input,
        )
        return CLIResult(proc)

    return run
