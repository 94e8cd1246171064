"""The slurm backend against a real single-node Slurm cluster (see conftest.py).

Each test submits real sbatch jobs that run the worker of genesis-core on a
small Python task, and provokes the faults the backend must turn into
failed candidates: scancel, preemption, the memory limit, the time limit, a
node failure, a restart of slurmctld.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from genesis_backend_slurm.backend import SlurmBackend
from genesis_core.errors import GenesisError
from genesis_core.job import FailureReason, Job, Limits

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(240)]

EVALUATOR = '''\
def evaluate(candidate):
    value = candidate.call("solve", 21)
    return {"score": float(value), "correct": True}
'''


@pytest.fixture
def task(tmp_path: Path) -> Path:
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "evaluate.py").write_text(EVALUATOR)
    return folder


def make_job(task: Path, name: str, body: str, **limits) -> Job:
    return Job(
        id=name, language="python", files={"main.py": f"import time\n\ndef solve(n):\n    {body}\n"},
        main_file="main.py", task_dir=str(task), limits=Limits(**limits),
    )


def with_backend(tmp_path: Path, settings: dict, body: Callable[[SlurmBackend], Awaitable]) -> object:
    async def main():
        backend = SlurmBackend({"folder": str(tmp_path / "slurm"), **settings})
        await backend.start()
        try:
            return await body(backend)
        finally:
            await backend.close()

    return asyncio.run(main())


async def slurm_id_when_running(backend: SlurmBackend, handle: str, cluster) -> str:
    """The Slurm job id of `handle`, once Slurm runs it."""
    while True:
        tracked = backend._jobs[handle]
        if tracked.slurm_id and cluster.run("squeue", "-h", "-t", "R", "-j", tracked.slurm_id, "-o", "%i", check=False).stdout.strip():
            return tracked.slurm_id
        await asyncio.sleep(0.3)


def job_id_of(result) -> str:
    """The Slurm job id the result's `slurm` artifact names."""
    return result.artifacts["slurm"].split()[2]


def test_candidates_are_evaluated_by_sbatch_jobs(slurm_cluster, tmp_path, task):
    async def body(backend):
        handles = [await backend.submit(make_job(task, f"c{k}", f"return n * {k}")) for k in (1, 2)]
        return [await backend.wait(h) for h in handles]

    results = with_backend(tmp_path, {}, body)
    assert [r.ok for r in results] == [True, True], [r.error for r in results]
    assert [r.score for r in results] == [21.0, 42.0]
    for result in results:
        job_id = job_id_of(result)
        assert slurm_cluster.final_state(job_id) == "COMPLETED"


def test_array_mode_sends_candidates_together_as_one_job_array(slurm_cluster, tmp_path, task):
    async def body(backend):
        handles = [await backend.submit(make_job(task, f"a{k}", f"return n + {k}")) for k in range(3)]
        return [await backend.wait(h) for h in handles]

    results = with_backend(tmp_path, {"array": True, "array_window_s": 1.0}, body)
    assert [r.score for r in results] == [21.0, 22.0, 23.0], [r.error for r in results]
    ids = [job_id_of(r) for r in results]
    array_ids = {i.split("_")[0] for i in ids}
    assert len(array_ids) == 1, ids
    assert sorted(i.split("_")[1] for i in ids) == ["0", "1", "2"]
    array_id = array_ids.pop()
    assert slurm_cluster.final_state(array_id) == "COMPLETED"
    tasks = slurm_cluster.run("sacct", "-n", "-X", "-P", "-o", "JobID", "-j", array_id).stdout.split()
    assert sorted(tasks) == sorted(ids)


def test_cancelling_one_task_of_an_array_leaves_the_others(slurm_cluster, tmp_path, task):
    async def body(backend):
        handles = [await backend.submit(make_job(task, f"t{k}", f"time.sleep(3); return n + {k}")) for k in range(3)]
        job_id = await slurm_id_when_running(backend, handles[1], slurm_cluster)
        await backend.cancel(handles[1])
        return job_id, [await backend.wait(h) for h in handles]

    job_id, (first, cancelled, third) = with_backend(tmp_path, {"array": True, "array_window_s": 1.0}, body)
    assert "_" in job_id
    assert cancelled.failure is FailureReason.CANCELLED
    assert (first.score, third.score) == (21.0, 23.0), (first.error, third.error)
    assert slurm_cluster.final_state(job_id).startswith("CANCELLED")
    assert slurm_cluster.final_state(job_id_of(first)) == "COMPLETED"


def test_scancel_of_a_running_job_is_a_cancelled_candidate(slurm_cluster, tmp_path, task):
    async def body(backend):
        handle = await backend.submit(make_job(task, "sleepy", "time.sleep(100); return n", wall_time_s=150))
        job_id = await slurm_id_when_running(backend, handle, slurm_cluster)
        slurm_cluster.run("scancel", job_id)
        return job_id, await backend.wait(handle)

    job_id, result = with_backend(tmp_path, {}, body)
    assert not result.ok
    assert result.failure is FailureReason.CANCELLED
    assert "cancelled" in result.error.lower() and job_id in result.error
    assert slurm_cluster.final_state(job_id).startswith("CANCELLED")


def test_cancel_from_genesis_cancels_the_slurm_job(slurm_cluster, tmp_path, task):
    async def body(backend):
        handle = await backend.submit(make_job(task, "unwanted", "time.sleep(100); return n", wall_time_s=150))
        job_id = await slurm_id_when_running(backend, handle, slurm_cluster)
        await backend.cancel(handle)
        return job_id, await backend.wait(handle)

    job_id, result = with_backend(tmp_path, {}, body)
    assert result.failure is FailureReason.CANCELLED
    assert slurm_cluster.final_state(job_id).startswith("CANCELLED")


def test_a_preempted_job_is_a_preempted_candidate(slurm_cluster, tmp_path, task):
    cpus = slurm_cluster.cpus()

    async def body(backend):
        handle = await backend.submit(make_job(task, "low-priority", "time.sleep(100); return n", wall_time_s=150))
        job_id = await slurm_id_when_running(backend, handle, slurm_cluster)
        # A job of the higher-priority partition that needs the whole node preempts it.
        urgent = slurm_cluster.run("sbatch", "--parsable", "-p", "urgent", "-c", str(cpus), "-o", "/dev/null", "--wrap", "sleep 1")
        return job_id, urgent.stdout.strip(), await backend.wait(handle)

    job_id, urgent_id, result = with_backend(tmp_path, {"partition": "debug", "cpus_per_task": cpus}, body)
    assert result.failure is FailureReason.PREEMPTED, result.error
    assert "preempted" in result.error
    assert slurm_cluster.final_state(job_id) == "PREEMPTED"
    slurm_cluster.run("scancel", urgent_id, check=False)


def test_a_job_killed_for_memory_is_a_memory_failure(slurm_cluster, tmp_path, task):
    async def body(backend):
        # The candidate stays inside its own address-space limit (4 GiB) but
        # not inside the job's 200 MiB: Slurm kills the job.
        job = make_job(task, "hungry", "x = b'x' * (600 * 1024 * 1024); time.sleep(60); return n", memory_mb=4096, wall_time_s=150)
        return await backend.wait(await backend.submit(job))

    result = with_backend(tmp_path, {"mem_mb": 200}, body)
    assert result.failure is FailureReason.MEMORY, (result.failure, result.error)
    assert "memory" in result.error
    assert "exceeded memory limit" in result.artifacts["slurm"]


@pytest.mark.slow
def test_a_job_at_its_slurm_time_limit_is_a_timeout(slurm_cluster, tmp_path, task):
    """Slurm's smallest time limit is a minute; submitit is warned 30 s before it."""

    async def body(backend):
        job = make_job(task, "slow", "time.sleep(400); return n", wall_time_s=500)
        return await backend.wait(await backend.submit(job))

    result = with_backend(tmp_path, {"time_min": 1}, body)
    assert result.failure is FailureReason.TIMEOUT, (result.failure, result.error)
    assert "time limit (1 min" in result.error


def test_a_job_lost_to_a_node_failure_is_submitted_again(slurm_cluster, tmp_path, task):
    async def body(backend):
        handle = await backend.submit(make_job(task, "unlucky", "time.sleep(4); return n", wall_time_s=120))
        first = await slurm_id_when_running(backend, handle, slurm_cluster)
        slurm_cluster.run("scontrol", "update", "NodeName=localhost", "State=DOWN", "Reason=genesis-test")
        # The node comes back (ReturnToService=2 brings it back by itself as soon as slurmd answers).
        slurm_cluster.run("scontrol", "update", "NodeName=localhost", "State=RESUME", check=False)
        return first, await backend.wait(handle)

    first, result = with_backend(tmp_path, {"max_resubmits": 2}, body)
    assert result.ok, result.error
    assert result.score == 21.0
    assert slurm_cluster.final_state(first) == "NODE_FAIL"
    history = result.artifacts["slurm"]
    assert "attempt 2" in history and "lost" in history
    assert job_id_of(result) != first


def test_a_run_survives_a_restart_of_slurmctld(slurm_cluster, tmp_path, task):
    pid_file = Path(slurm_cluster.run("scontrol", "show", "config").stdout.split("SlurmctldPidFile", 1)[1].split("=", 1)[1].split()[0])

    async def body(backend):
        running = await backend.submit(make_job(task, "before", "time.sleep(6); return n", wall_time_s=120))
        await slurm_id_when_running(backend, running, slurm_cluster)
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
        while Path(f"/proc/{pid}").exists():
            await asyncio.sleep(0.1)
        # Submitted while the controller is away: sbatch fails and is retried.
        during = asyncio.create_task(backend.submit(make_job(task, "during", "return n + 1")))
        await asyncio.sleep(3)
        restarted = await asyncio.to_thread(subprocess.run, ["bash", str(slurm_cluster.script), "start"], capture_output=True, text=True, timeout=120)
        assert restarted.returncode == 0, restarted.stderr
        return await backend.wait(running), await backend.wait(await during)

    before, during = with_backend(tmp_path, {"submit_timeout_s": 120}, body)
    assert before.ok and before.score == 21.0, before.error
    assert during.ok and during.score == 22.0, during.error


def test_a_partition_that_does_not_exist_is_refused_at_start(slurm_cluster, tmp_path):
    backend = SlurmBackend({"partition": "no-such-partition", "folder": str(tmp_path)})
    assert "no-such-partition" in backend.check()
    with pytest.raises(GenesisError, match="no-such-partition"):
        asyncio.run(backend.start())
    assert SlurmBackend().check() is None


def test_capacity_comes_from_the_partition(slurm_cluster, tmp_path):
    async def body(backend):
        return backend.capacity()

    assert with_backend(tmp_path, {}, body) == slurm_cluster.cpus()
    assert with_backend(tmp_path, {"max_jobs": 7}, body) == 7
