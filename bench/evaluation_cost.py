"""What one trivial sandboxed Python evaluation costs through the local backend.

The evaluator (bench/task.py: `EVALUATOR`) calls the candidate's `solve`
once inside the sandbox and returns its value, so nearly all the time is
Genesis: the job's trip to the worker, the build (a compile), the candidate
process forked from the sandbox's fork server, the call, the result's trip
back. Jobs run one at a time, timed around `backend.run(job)` as the engine
calls it.

- cold: the first job of a freshly started backend, the start included (job
  server, evaluator import, sandbox and its fork server);
- warm: the median of the jobs after it (the steady state of a run);
- fresh interpreter: `[backend.local] warm = false`, a new worker process
  per job, as remote backends run it (for comparison; no target).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from genesis_core.backends.local import LocalBackend
from genesis_core.errors import GenesisError
from genesis_core.job import Job, JobResult
from genesis_core.sandbox import protections

from bench.report import Row, Target
from bench.stats import median, percentile
from bench.task import EVALUATOR, initial_program

WARM_TARGET_MS = 15.0


def _job(task_dir: Path, n: int) -> Job:
    return Job(id=f"bench-eval-{n}", run_id="bench", language="python", files={"initial.py": initial_program()},
               main_file="initial.py", task_dir=str(task_dir), evaluator="evaluate.py", sandbox=True)


async def _timed_jobs(backend: LocalBackend, task_dir: Path, count: int, *, include_start: bool) -> list[tuple[float, JobResult]]:
    """(seconds around the backend's run, the result) of `count` jobs one after the other."""
    out = []
    for n in range(count):
        began = time.perf_counter()
        if n == 0 and include_start:
            await backend.start()
        result = await backend.run(_job(task_dir, n))
        out.append((time.perf_counter() - began, result))
        if not result.ok:
            raise GenesisError(f"The benchmark's trivial evaluation failed ({result.failure}): {result.error}")
    return out


async def _measure(task_dir: Path, work: Path, count: int) -> tuple[list[tuple[float, JobResult]], list[tuple[float, JobResult]]]:
    warm = LocalBackend({"max_jobs": 1}, run_dir=work)
    try:
        warm_jobs = await _timed_jobs(warm, task_dir, count + 1, include_start=True)
    finally:
        await warm.close()
    cold = LocalBackend({"max_jobs": 1, "warm": False}, run_dir=work)
    try:
        await cold.start()
        fresh_jobs = await _timed_jobs(cold, task_dir, max(3, count // 4), include_start=False)
    finally:
        await cold.close()
    return warm_jobs, fresh_jobs


def run(workdir: Path, count: int) -> list[Row]:
    task_dir = workdir / "task"
    task_dir.mkdir(parents=True)
    (task_dir / "evaluate.py").write_text(EVALUATOR)
    warm_jobs, fresh_jobs = asyncio.run(_measure(task_dir, workdir, count))
    cold_ms = warm_jobs[0][0] * 1000
    steady = [seconds * 1000 for seconds, _ in warm_jobs[1:]]
    inside = [result for _, result in warm_jobs[1:]]
    active = sorted(p.name for p in protections() if p.active)
    inactive = sorted(p.name for p in protections() if not p.active)
    details = {"evaluations": len(steady), "warm_p99_ms": round(percentile(steady, 99), 3),
               # what the worker reports of each warm job: its build (a compile), the evaluator, the whole job
               "worker_build_median_ms": round(median([r.build_seconds * 1000 for r in inside]), 3),
               "worker_evaluator_median_ms": round(median([r.eval_seconds * 1000 for r in inside]), 3),
               "worker_total_median_ms": round(median([r.total_seconds * 1000 for r in inside]), 3),
               "protections_active": active, "protections_missing": inactive}
    return [
        Row("evaluation.warm_ms", "trivial sandboxed Python evaluation, warm (median)", median(steady), "ms",
            Target("<=", WARM_TARGET_MS), details=details),
        Row("evaluation.cold_ms", "trivial sandboxed Python evaluation, cold (first job, backend start included)", cold_ms, "ms"),
        Row("evaluation.fresh_ms", "  fresh interpreter per job ([backend.local] warm = false), median",
            median([seconds * 1000 for seconds, _ in fresh_jobs]), "ms"),
    ]
