"""The README's main command, offline: `genesis run examples/circle_packing` improves the packing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from genesis_core.database import Database

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def genesis(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESIS_") and k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    return subprocess.run([sys.executable, "-m", "genesis_core", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_circle_packing_improves_offline(tmp_path):
    shutil.copytree(REPO / "examples" / "circle_packing", tmp_path / "examples" / "circle_packing")
    run = genesis(["run", "examples/circle_packing"], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "using the offline provider" in run.stderr
    assert "Run 'circle_packing' stopped (max_evaluations)" in run.stdout

    results = tmp_path / "results" / "circle_packing"
    with Database(f"sqlite:///{results / 'genesis.db'}", create=False) as db:
        first = next(db.iter_programs("circle_packing"))
        best = db.best_program("circle_packing")
        evaluations = db.totals("circle_packing").evaluations
    assert first.patch_kind == "initial" and first.correct and first.score > 0
    assert best.score > first.score, f"no improvement over the initial packing ({first.score})"
    assert evaluations == 40
    assert (results / "best.py").read_text() == best.code

    shown = genesis(["show", str(results), "--best"], cwd=tmp_path)
    assert shown.returncode == 0 and f"score {best.score:.6g}" in shown.stdout
    status = genesis(["status", str(results)], cwd=tmp_path)
    assert "finished (max_evaluations)" in status.stdout and "evaluations: 40 of 40" in status.stdout
