"""In-process evaluation backends that isolate the engine's own cost.

`InstantBackend` answers every job at once with a score derived from the
code, so a candidate's time is all engine (plus the LLM round trip to the
instant mock). `DelayBackend` takes a fixed time per job without using the
CPU, like a remote evaluation, to measure how well the engine keeps its
pipeline full. Both run the Backend contract (`submit`, `wait`, `cancel`,
`capacity`) like any plugin; the sandboxed evaluation cost is measured on
its own, through the real local backend (bench/evaluation_cost.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools

from genesis_core.backend import Backend
from genesis_core.job import FailureReason, Job, JobResult


def instant_score(job: Job) -> float:
    """A deterministic score in [0, 10) from the candidate's code."""
    digest = hashlib.blake2b(job.files[job.main_file].encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * 10.0


class _InProcessBackend(Backend):
    name = "bench-in-process"

    def __init__(self, *, capacity: int = 1, delay_s: float = 0.0) -> None:
        super().__init__()
        self._capacity = capacity
        self._delay_s = delay_s
        self._jobs: dict[str, Job] = {}
        self._counter = itertools.count()

    async def submit(self, job: Job) -> str:
        handle = f"{job.id}#{next(self._counter)}"
        self._jobs[handle] = job
        return handle

    async def wait(self, handle: str) -> JobResult:
        job = self._jobs.pop(handle, None)
        if job is None:
            return JobResult.failed(handle, FailureReason.CANCELLED, "the job was cancelled")
        if self._delay_s > 0:
            await asyncio.sleep(self._delay_s)
        seconds = self._delay_s
        return JobResult(job_id=job.id, ok=True, score=instant_score(job), correct=True, metrics={"value": 1.0},
                         eval_seconds=seconds, total_seconds=seconds)

    async def cancel(self, handle: str) -> None:
        self._jobs.pop(handle, None)

    def capacity(self) -> int:
        return self._capacity


class InstantBackend(_InProcessBackend):
    """Every evaluation returns at once."""

    name = "bench-instant"

    def __init__(self) -> None:
        super().__init__(capacity=1)


class DelayBackend(_InProcessBackend):
    """Every evaluation takes `delay_s` of wall time and no CPU; `capacity` at once."""

    name = "bench-delay"

    def __init__(self, delay_s: float, capacity: int) -> None:
        super().__init__(capacity=capacity, delay_s=delay_s)
