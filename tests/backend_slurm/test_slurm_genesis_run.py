"""`genesis run examples/circle_packing --backend slurm`, end to end on the test cluster.

The run's evaluations go through real sbatch jobs (one job each, or job
arrays), and a job cancelled with scancel mid-run comes back as a failed
candidate while the run goes on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "circle_packing"


def events(results: Path) -> list[dict]:
    return [json.loads(line) for line in (results / "events.jsonl").read_text().splitlines() if line.strip()]


def slurm_job_ids(results: Path) -> list[str]:
    """The Slurm jobs of the run: submitit keeps one log folder per job under <results>/slurm/logs."""
    return sorted(p.name for p in (results / "slurm" / "logs").iterdir() if p.is_dir())


def run_env(cluster) -> dict[str, str]:
    # Only this plugin besides genesis-core's built-ins: the run needs nothing else.
    return {"SLURM_CONF": cluster.conf, "GENESIS_LOAD_PLUGINS": "genesis-backend-slurm"}


def test_genesis_run_evaluates_through_sbatch_jobs(slurm_cluster, tmp_path, genesis_cli):
    results = tmp_path / "results"
    out = genesis_cli(["run", str(EXAMPLE), "--backend", "slurm", "-s", "run.max_evaluations=4", "--results", str(results)],
                      env=run_env(slurm_cluster))
    assert out.returncode == 0, out
    story = events(results)
    assert story[0]["kind"] == "run_started" and story[0]["backend"] == "slurm"
    finished = [e for e in story if e["kind"] == "evaluation_finished"]
    assert len(finished) == 4
    assert all(e["failure"] is None or e["failure"] not in {"backend_error", "lost"} for e in finished), finished
    assert any(e["score"] and e["score"] > 0 for e in finished)
    job_ids = slurm_job_ids(results)
    assert len(job_ids) >= 4
    assert {slurm_cluster.final_state(j) for j in job_ids} == {"COMPLETED"}


def test_genesis_run_in_array_mode(slurm_cluster, tmp_path, genesis_cli):
    results = tmp_path / "results"
    out = genesis_cli(
        ["run", str(EXAMPLE), "--backend", "slurm", "--results", str(results),
         "-s", "run.max_evaluations=6", "-s", "run.max_evaluations_in_flight=4",
         "-s", "backend.slurm.array=true", "-s", "backend.slurm.array_window_s=2"],
        env=run_env(slurm_cluster),
    )
    assert out.returncode == 0, out
    finished = [e for e in events(results) if e["kind"] == "evaluation_finished"]
    assert len(finished) == 6
    assert all(e["failure"] not in {"backend_error", "lost"} for e in finished), finished
    tasks = [j for j in slurm_job_ids(results) if "_" in j]
    arrays = {j.split("_")[0] for j in tasks}
    assert any(sum(t.startswith(a + "_") for t in tasks) >= 2 for a in arrays), slurm_job_ids(results)
    for array in arrays:
        assert slurm_cluster.final_state(array) == "COMPLETED"


def test_scancel_during_a_run_is_a_cancelled_candidate(slurm_cluster, tmp_path):
    task = tmp_path / "circle_packing"
    shutil.copytree(EXAMPLE, task)
    # A slower evaluation, so that a job is surely running when scancel comes.
    with (task / "evaluate.py").open("a") as f:
        f.write("\n\ndef slow_evaluate(candidate):\n    import time\n    time.sleep(6)\n    return evaluate(candidate)\n")
    results = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESIS_")}
    env.update(run_env(slurm_cluster))
    run = subprocess.Popen(
        [sys.executable, "-m", "genesis_core", "run", str(task), "--backend", "slurm", "--results", str(results),
         "-s", "run.max_evaluations=4", "-s", "task.evaluator_function=slow_evaluate"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        cancelled = None
        while cancelled is None and run.poll() is None:
            # Not the initial program's job: a run whose initial program cannot be scored stops.
            scored = (results / "events.jsonl").is_file() and any(e["kind"] == "evaluation_finished" for e in events(results))
            if not scored:
                time.sleep(0.2)
                continue
            logs = results / "slurm" / "logs"
            ours = {p.name for p in logs.iterdir() if p.name.isdigit()} if logs.is_dir() else set()
            running = slurm_cluster.run("squeue", "-h", "-t", "R", "-o", "%i", check=False).stdout.split()
            mine = [j for j in running if j in ours and j != min(ours, key=int)]
            if mine:
                cancelled = mine[0]
                slurm_cluster.run("scancel", cancelled)
            time.sleep(0.2)
        stdout, stderr = run.communicate(timeout=240)
    finally:
        if run.poll() is None:
            run.kill()
    assert cancelled is not None, "no job of the run was seen running"
    assert run.returncode == 0, stderr
    finished = [e for e in events(results) if e["kind"] == "evaluation_finished"]
    failures = [e for e in finished if e["failure"] == "cancelled"]
    assert len(failures) == 1, finished
    assert f"Slurm job {cancelled}" in failures[0]["error"] and "CANCELLED" in failures[0]["error"]
    assert len(finished) == 4  # the run went on to its four evaluations
