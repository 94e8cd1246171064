"""The `e2b` backend: each evaluation runs in an E2B sandbox from a pool.

For a job the backend takes a sandbox from the pool, uploads the task folder
(once per sandbox) and the job file, runs the worker entry point of
genesis-core (`python -m genesis_core.worker job.json result.json`), reads
the result back and returns the sandbox to the pool. The job's `task_dir`
is rewritten to where the task was unpacked inside the sandbox.

Faults become failed results: a sandbox that cannot be created
(BACKEND_ERROR), one that dies mid-job (LOST), a job that outruns its time
or its sandbox's lifetime (TIMEOUT). A sandbox that misbehaved is killed and
the pool starts a new one for the next job.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import uuid
from dataclasses import dataclass
from pathlib import Path

from genesis_core.backend import Backend
from genesis_core.errors import GenesisError
from genesis_core.job import FailureReason, Job, JobResult

from genesis_backend_e2b.pool import PooledSandbox, SandboxCreationError, SandboxPool
from genesis_backend_e2b.settings import E2BSettings
from genesis_backend_e2b.task_archive import TaskArchive, build_archive

WORKER = "genesis_core.worker"


@dataclass
class _Outcome:
    result: JobResult
    healthy: bool  # whether the sandbox may serve another job


class E2BBackend(Backend):
    """Evaluations in E2B cloud sandboxes."""

    name = "e2b"
    description = "E2B cloud sandboxes: a reused pool, templates per toolchain (genesis e2b template list)"
    Settings = E2BSettings
    settings: E2BSettings

    def __init__(self, settings: E2BSettings | dict | None = None, *, run_dir: Path | None = None) -> None:
        super().__init__(settings, run_dir=run_dir)
        self.pool: SandboxPool | None = None
        self._tasks: dict[str, asyncio.Task] = {}
        self._jobs: dict[str, Job] = {}
        self._archives: dict[str, TaskArchive] = {}

    def check(self) -> str | None:
        try:
            import e2b  # noqa: F401
        except ImportError:
            return "the e2b package is not installed: `pip install e2b` (a dependency of genesis-backend-e2b)"
        if not self.settings.debug and not os.environ.get("E2B_API_KEY"):
            return "E2B_API_KEY is not set: create an API key in the E2B dashboard and export it as E2B_API_KEY"
        return None

    def capacity(self) -> int:
        return self.settings.concurrency

    async def start(self) -> None:
        if self.pool is not None:
            return
        problem = self.check()
        if problem:
            raise GenesisError(f"The e2b backend cannot run: {problem}.")
        self.pool = SandboxPool(self.settings)

    async def submit(self, job: Job) -> str:
        if self.pool is None:
            await self.start()
        handle = uuid.uuid4().hex[:12]
        self._jobs[handle] = job
        self._tasks[handle] = asyncio.create_task(self._run(handle, job), name=f"genesis-e2b-{handle}")
        return handle

    async def wait(self, handle: str) -> JobResult:
        task = self._tasks.get(handle)
        if task is None:
            raise GenesisError(f"The e2b backend has no job with handle '{handle}' (already waited for, or never submitted).")
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # the caller was cancelled, not the job
            return JobResult.failed(self._jobs[handle].id, FailureReason.CANCELLED, "Cancelled by Genesis before it finished.")
        finally:
            if task.done():
                self._tasks.pop(handle, None)
                self._jobs.pop(handle, None)

    async def cancel(self, handle: str) -> None:
        task = self._tasks.get(handle)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])

    async def close(self) -> None:
        running = [t for t in self._tasks.values() if not t.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    # -- one job ----------------------------------------------------------------

    async def _run(self, handle: str, job: Job) -> JobResult:
        needed_s = job.limits.wall_time_s + self.settings.command_margin_s
        try:
            pooled = await self.pool.acquire(needed_s)
        except SandboxCreationError as exc:
            return JobResult.failed(job.id, FailureReason.BACKEND_ERROR, f"{exc}.")
        # What the sandbox is worth after a cancellation: set by _evaluate as it stops.
        outcome = _Outcome(JobResult.failed(job.id, FailureReason.CANCELLED, "Cancelled by Genesis before it finished."), healthy=False)
        try:
            outcome = await self._evaluate(pooled, handle, job, needed_s, outcome)
            return outcome.result
        finally:
            pooled.jobs += 1
            await asyncio.shield(self.pool.release(pooled, outcome.healthy))

    async def _evaluate(self, pooled: PooledSandbox, handle: str, job: Job, needed_s: float, cancelled: _Outcome) -> _Outcome:
        from e2b.exceptions import (
            SandboxException,
            SandboxNotRunningException,
            SandboxUnreachableException,
            TimeoutException,
        )
        from e2b.sandbox.commands.command_handle import CommandExitException

        sandbox = pooled.sandbox
        job_dir = f"{pooled.home}/jobs/{handle}"
        process = None
        try:
            remote_task = await self._ensure_task(pooled, Path(job.task_dir))
            build_dir = f"{pooled.home}/build" if job.shared_build_dir else None
            remote_job = job.model_copy(update={"task_dir": remote_task, "shared_build_dir": build_dir})
            await sandbox.files.write(f"{job_dir}/job.json", remote_job.model_dump_json())
            command = f"{shlex.quote(self.settings.python)} -m {WORKER} job.json result.json"
            process = await sandbox.commands.run(
                command, background=True, cwd=job_dir, envs=self.settings.envs, timeout=needed_s,
            )
            try:
                finished = await process.wait()
            except CommandExitException as exc:  # the worker failed; its result, if any, says why
                finished = exc
            process = None
            return await self._read_result(pooled, job, job_dir, finished)
        except asyncio.CancelledError:
            # A sandbox whose worker was stopped (or never started) can serve the next job.
            cancelled.healthy = process is None or await asyncio.shield(self._stop(process))
            raise
        except GenesisError as exc:  # the task folder cannot be packed: the sandbox is fine
            return _Outcome(JobResult.failed(job.id, FailureReason.BACKEND_ERROR, str(exc)), healthy=True)
        except SandboxNotRunningException as exc:
            return _Outcome(self._sandbox_gone(pooled, job, exc), healthy=False)
        except TimeoutException as exc:
            if isinstance(exc, SandboxUnreachableException):  # not a time-out: the sandbox cannot be reached
                return await self._unreachable(pooled, job, exc)
            return _Outcome(JobResult.failed(
                job.id, FailureReason.TIMEOUT,
                f"The job ran past {needed_s:.0f} s in sandbox {pooled.id} (its wall time plus [backend.e2b] command_margin_s): {exc}",
                artifacts=self._artifacts(pooled),
            ), healthy=False)
        except (SandboxException, OSError) as exc:
            return await self._unreachable(pooled, job, exc)

    async def _unreachable(self, pooled: PooledSandbox, job: Job, exc: Exception) -> _Outcome:
        """A request failed: LOST when the sandbox is gone, else BACKEND_ERROR; either way it is replaced."""
        if not await self._alive(pooled):
            return _Outcome(self._sandbox_gone(pooled, job, exc), healthy=False)
        return _Outcome(JobResult.failed(
            job.id, FailureReason.BACKEND_ERROR, f"Talking to sandbox {pooled.id} failed: {type(exc).__name__}: {exc}",
            artifacts=self._artifacts(pooled),
        ), healthy=False)

    async def _read_result(self, pooled: PooledSandbox, job: Job, job_dir: str, finished) -> _Outcome:
        from e2b.exceptions import NotFoundException

        sandbox = pooled.sandbox
        try:
            text = await sandbox.files.read(f"{job_dir}/result.json")
        except NotFoundException:
            tail = "\n".join((finished.stderr or "").strip().splitlines()[-20:])
            return _Outcome(JobResult.failed(
                job.id, FailureReason.BACKEND_ERROR,
                f"The worker in sandbox {pooled.id} exited with code {finished.exit_code} without a result "
                f"(is genesis-core installed for `{self.settings.python}` in the template '{self.settings.template}'?). "
                f"Its last error output:\n{tail or '(none)'}",
                artifacts=self._artifacts(pooled),
            ), healthy=True)
        finally:
            await self._cleanup(sandbox, job_dir)
        try:
            result = JobResult.model_validate_json(text)
        except ValueError as exc:
            return _Outcome(JobResult.failed(job.id, FailureReason.BACKEND_ERROR, f"The worker's result is not a JobResult: {exc}"), healthy=True)
        result.artifacts = {**result.artifacts, **self._artifacts(pooled)}
        return _Outcome(result, healthy=True)

    async def _ensure_task(self, pooled: PooledSandbox, task_dir: Path) -> str:
        """Upload and unpack the task folder into this sandbox unless it holds it already."""
        key = str(task_dir.resolve())
        archive = self._archives.get(key)
        if archive is None:
            archive = await asyncio.to_thread(build_archive, task_dir, self.settings.task_exclude, self.run_dir)
            self._archives[key] = archive
        target = f"{pooled.home}/tasks/{archive.digest}"
        if archive.digest not in pooled.tasks:
            tarball = f"{target}.tar.gz"
            await pooled.sandbox.files.write(tarball, archive.data)
            q_target, q_tarball = shlex.quote(target), shlex.quote(tarball)
            await pooled.sandbox.commands.run(
                f"mkdir -p {q_target} && tar -xzf {q_tarball} -C {q_target} --strip-components=1 && rm -f {q_tarball}",
                timeout=300,
            )
            pooled.tasks.add(archive.digest)
        return target

    def _sandbox_gone(self, pooled: PooledSandbox, job: Job, exc: Exception) -> JobResult:
        lifetime = self.settings.sandbox_lifetime_s
        if pooled.age() >= lifetime - 1:
            return JobResult.failed(
                job.id, FailureReason.TIMEOUT,
                f"Sandbox {pooled.id} reached the end of its lifetime ({lifetime} s, [backend.e2b] sandbox_lifetime_s) during the job.",
                artifacts=self._artifacts(pooled),
            )
        return JobResult.failed(
            job.id, FailureReason.LOST, f"Sandbox {pooled.id} died during the job: {exc}", artifacts=self._artifacts(pooled)
        )

    def _artifacts(self, pooled: PooledSandbox) -> dict[str, str]:
        return {"e2b": f"sandbox {pooled.id} (template {self.settings.template}), job {pooled.jobs + 1} in it"}

    @staticmethod
    async def _alive(pooled: PooledSandbox) -> bool:
        try:
            return await pooled.sandbox.is_running(request_timeout=10)
        except Exception:
            return False

    @staticmethod
    async def _stop(process) -> bool:
        try:
            return bool(await process.kill())
        except Exception:  # the sandbox is replaced instead
            return False

    @staticmethod
    async def _cleanup(sandbox, job_dir: str) -> None:
        try:
            await sandbox.commands.run(f"rm -rf {shlex.quote(job_dir)}", timeout=60)
        except Exception:  # a leftover folder dies with the sandbox
            pass
