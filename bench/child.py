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


def run_engine_child(spec: dict[str, Any], workdir: Path, *, timeout: float = 1800) -> dict[str, Any]:
    """Run one engine in its own process (see bench/engine_child.py); its measurements."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / "spec.json"
    out_path = workdir / "measured.json"
    spec_path.write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESIS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.engine_child", str(spec_path), str(out_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )
    if proc.returncode != 0 or not out_path.is_file():
        raise GenesisError(f"The engine run of the benchmark failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(out_path.read_text())
