"""Starting `bench.engine_child` and reading what it measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from genesis_core.errors import GenesisError

REPO = Path(__file__).resolve().parent.parent


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESIS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env


def run_engine_child(spec: dict[str, Any], workdir: Path, *, timeout: float = 1800) -> dict[str, Any]:
    """Run one engine in its own process (see bench/engine_child.py); its measurements."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / "spec.json"
    out_path = workdir / "measured.json"
    spec_path.write_text(json.dumps(spec))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.engine_child", str(spec_path), str(out_path)],
        cwd=REPO, env=_environment(), capture_output=True, text=True, timeout=timeout,
    )
    if proc.returncode != 0 or not out_path.is_file():
        raise GenesisError(f"The engine run of the benchmark failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    measured = json.loads(out_path.read_text())
    if measured["stop_reason"] != "max_evaluations":  # anything else means the candidates did not all go through
        raise GenesisError(f"The engine run of the benchmark stopped early ({measured['stop_reason']}):\n{proc.stderr[-4000:]}")
    return measured


def run_llm_floor(base_url: str, calls: int, *, timeout: float = 600) -> dict[str, Any]:
    """The LLM client's cost per call against the floor (see bench/llm_floor.py), from a process of its own."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.llm_floor", base_url, str(calls)],
        cwd=REPO, env=_environment(), capture_output=True, text=True, timeout=timeout,
    )
    if proc.returncode != 0:
        raise GenesisError(f"The LLM client measurement failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
