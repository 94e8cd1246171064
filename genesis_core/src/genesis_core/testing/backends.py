"""Conformance tests for backend plugins.

Subclass `BackendPluginTests` in your plugin's tests and say how to make
your backend::

    from genesis_core.testing import BackendPluginTests

    class TestMyBackend(BackendPluginTests):
        backend_class = MyBackend

        def make_backend(self, tmp_path):
            return MyBackend({"queue": "test"}, run_dir=tmp_path)

When the backend needs a service that a fixture starts, override the
`backend_factory` fixture instead and request that fixture::

        @pytest.fixture
        def backend_factory(self, tmp_path, slurm_cluster):
            return lambda: MyBackend({"partition": slurm_cluster.partition}, run_dir=tmp_path)

The jobs are Python candidates (the built-in language) with small
evaluators written to a task folder under `tmp_path`; a backend that runs
jobs elsewhere must make `job.task_dir` available there, as it must for
real tasks. The suite checks: a valid registration, `check()`, a trivial
job's score, a candidate that raises (a failed result, not an exception), an
evaluator that returns NaN, a job past its wall time (TIMEOUT, and the
backend goes on), cancelling a running job (CANCELLED), several jobs at once
each getting its own result, and `capacity()`.
"""

from __future__ import annotations

import asyncio
import textwrap
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from genesis_core.backend import Backend
from genesis_core.job import FailureReason, Job, JobResult, Limits
from genesis_core.registry import KINDS, Source, _validate

EVALUATOR = '''
from genesis_core.evaluation import EvaluationResult

def evaluate(candidate):
    value = candidate.call("answer")
    return EvaluationResult(score=float(value), feedback=f"answer {value}")

def evaluate_nan(candidate):
    return {"score": float("nan")}
'''


class BackendPluginTests:
    """Base class: set `backend_class`, and override `make_backend` or the `backend_factory` fixture."""

    backend_class: ClassVar[type[Backend]]
    settings: ClassVar[dict[str, Any]] = {}
    job_timeout_s: ClassVar[float] = 120.0
    """Wall time of the ordinary jobs; raise it for backends with slow start-up (queues, VMs)."""
    short_timeout_s: ClassVar[float] = 3.0
    """Wall time of the job that must time out."""

    # -- how the suite gets a backend ----------------------------------------------------

    def make_backend(self, tmp_path: Path) -> Backend:
        return self.backend_class(self.settings, run_dir=tmp_path)

    @pytest.fixture
    def backend_factory(self, tmp_path: Path) -> Callable[[], Backend]:
        return lambda: self.make_backend(tmp_path)

    @pytest.fixture
    def task_dir(self, tmp_path: Path) -> Path:
        task = tmp_path / "task"
        task.mkdir(exist_ok=True)
        (task / "evaluate.py").write_text(EVALUATOR)
        return task

    def with_backend(self, factory: Callable[[], Backend], scenario: Callable[[Backend], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            backend = factory()
            await backend.start()
            try:
                return await scenario(backend)
            finally:
                await backend.close()

        return asyncio.run(main())

    def job(self, task_dir: Path, body: str, *, wall_time_s: float | None = None, function: str = "evaluate") -> Job:
        return Job(
            id=f"conformance-{uuid.uuid4().hex[:8]}",
            language="python",
            files={"main.py": textwrap.dedent(body)},
            main_file="main.py",
            task_dir=str(task_dir),
            evaluator_function=function,
            limits=Limits(wall_time_s=wall_time_s or self.job_timeout_s),
        )

    # -- the suite -------------------------------------------------------------------------

    def test_registration_is_valid(self) -> None:
        _validate(KINDS["backends"], self.backend_class, Source("conformance-test", "test"))

    def test_check_says_usable_or_why_not(self, backend_factory) -> None:
        problem = backend_factory().check()
        assert problem is None or (isinstance(problem, str) and problem.strip())

    def test_capacity_is_positive(self, backend_factory) -> None:
        async def scenario(backend: Backend) -> int:
            return backend.capacity()

        capacity = self.with_backend(backend_factory, scenario)
        assert isinstance(capacity, int) and capacity >= 1

    def test_trivial_job_scores(self, backend_factory, task_dir: Path) -> None:
        job = self.job(task_dir, "def answer():\n    return 42\n")
        result: JobResult = self.with_backend(backend_factory, lambda b: b.run(job))
        assert result.ok, f"{result.failure}: {result.error}"
        assert result.job_id == job.id
        assert result.score == 42.0
        assert result.feedback == "answer 42"

    def test_failing_candidate_is_a_failed_result(self, backend_factory, task_dir: Path) -> None:
        job = self.job(task_dir, "def answer():\n    raise ValueError('no answer today')\n")
        result: JobResult = self.with_backend(backend_factory, lambda b: b.run(job))
        assert not result.ok
        assert result.failure == FailureReason.CRASH
        assert "no answer today" in result.error

    def test_nan_from_the_evaluator_is_an_invalid_result(self, backend_factory, task_dir: Path) -> None:
        job = self.job(task_dir, "def answer():\n    return 1\n", function="evaluate_nan")
        result: JobResult = self.with_backend(backend_factory, lambda b: b.run(job))
        assert not result.ok
        assert result.failure == FailureReason.INVALID_RESULT
        assert "finite" in result.error

    def test_job_past_its_wall_time_times_out_and_the_backend_goes_on(self, backend_factory, task_dir: Path) -> None:
        slow = self.job(task_dir, "import time\ndef answer():\n    time.sleep(600)\n", wall_time_s=self.short_timeout_s)
        quick = self.job(task_dir, "def answer():\n    return 7\n")

        async def scenario(backend: Backend) -> tuple[JobResult, JobResult]:
            first = await backend.run(slow)
            second = await backend.run(quick)
            return first, second

        timed_out, after = self.with_backend(backend_factory, scenario)
        assert not timed_out.ok
        assert timed_out.failure == FailureReason.TIMEOUT
        assert after.ok and after.score == 7.0

    def test_cancel_stops_a_running_job(self, backend_factory, task_dir: Path) -> None:
        slow = self.job(task_dir, "import time\ndef answer():\n    time.sleep(600)\n")

        async def scenario(backend: Backend) -> JobResult:
            handle = await backend.submit(slow)
            await asyncio.sleep(1.0)
            await backend.cancel(handle)
            await backend.cancel(handle)  # idempotent
            return await asyncio.wait_for(backend.wait(handle), 60)

        result = self.with_backend(backend_factory, scenario)
        assert not result.ok
        assert result.failure == FailureReason.CANCELLED

    def test_concurrent_jobs_each_get_their_result(self, backend_factory, task_dir: Path) -> None:
        jobs = [self.job(task_dir, f"def answer():\n    return {n}\n") for n in range(4)]

        async def scenario(backend: Backend) -> list[JobResult]:
            handles = [await backend.submit(job) for job in jobs]
            return [await backend.wait(h) for h in handles]

        results = self.with_backend(backend_factory, scenario)
        assert [r.job_id for r in results] == [j.id for j in jobs]
        assert [r.score for r in results] == [0.0, 1.0, 2.0, 3.0]
