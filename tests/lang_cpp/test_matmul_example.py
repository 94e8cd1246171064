"""examples/matmul_cpp: the baseline through the worker, a wrong kernel, and `genesis run` on it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from genesis_core.config import load_config
from genesis_core.job import FailureReason, Job
from genesis_core.worker import run_job

TASK = Path(__file__).resolve().parents[2] / "examples" / "matmul_cpp"


def example_job(program: str | None = None) -> Job:
    config = load_config(TASK)
    main = config.task.initial_program
    return Job(
        id="matmul", language="cpp", language_settings=(config.language.model_extra or {}).get("cpp", {}),
        files={main: program or (TASK / main).read_text()}, main_file=main, task_dir=str(TASK), limits=config.limits,
    )


@pytest.mark.slow
def test_the_baseline_is_correct_and_scored_in_gflops():
    result = run_job(example_job())
    assert result.ok, f"{result.failure}: {result.error}"
    assert result.score == pytest.approx(2 * 768**3 / result.metrics["best_s"] / 1e9)
    assert "vectorized_loops" in result.metrics and "simd_instructions.matmul" in result.metrics
    assert "Vectorisation report:" in result.feedback  # the evaluator passes the build's report on to the next prompt


def test_a_wrong_kernel_is_incorrect():
    program = (TASK / "main.cpp").read_text().replace("for (int k = 0; k < n; ++k)", "for (int k = 1; k < n; ++k)")
    result = run_job(example_job(program))
    assert result.failure == FailureReason.INCORRECT
    assert "Wrong result: for n=1, C[0][0]" in result.error


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_genesis_run_records_real_scores(genesis_cli, tmp_path):
    results = tmp_path / "results"
    run = genesis_cli(["run", str(TASK), "--results", str(results), "-s", "run.max_evaluations=3", "--quiet"], timeout=550)
    assert run.returncode == 0, run
    with sqlite3.connect(results / "genesis.db") as db:
        rows = db.execute("SELECT score, metrics FROM programs WHERE status = 'done' AND failure IS NULL").fetchall()
    assert rows
    for score, metrics in rows:
        assert score == pytest.approx(json.loads(metrics)["gflops"]) and score > 0
