"""The built-in local backend: evaluation jobs on this machine, sandboxed, with warm workers.

Warm (the default): one job server process (`local_server.py`) with
genesis-core, the plugins and each task's evaluator already imported forks
once per job, and candidate processes come from a warm fork server inside
bubblewrap. A trivial Python evaluation then costs a few milliseconds of
overhead instead of two interpreter starts.

Cold (`warm = false`): each job is a fresh `python -m genesis_core.worker
JOB.json RESULT.json` process, exactly what remote backends run.

Either way each job has its own folder, its wall time kills the whole
process tree, and its result is a `JobResult` (a fault of the backend
becomes a failed result, never an exception out of `wait`).

Jobs of a language that needs a GPU (CUDA) also take one of `gpu_jobs`
slots, one per GPU by default: a kernel's timing is its score, and two
candidates sharing one GPU would skew each other's.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import itertools
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from pydantic import Field

from genesis_core.backend import Backend, BackendSettings
from genesis_core.hookspecs import hookimpl
from genesis_core.job import FailureReason, Job, JobResult

LINE_LIMIT = 256 * 1024 * 1024


class LocalSettings(BackendSettings):
    """[backend.local] in genesis.toml."""

    max_jobs: int | None = Field(None, ge=1, description="Evaluations at once; default: the number of CPU cores.")
    warm: bool = Field(True, description="Keep warm workers (a fork server) instead of starting a fresh interpreter per job.")
    preload: list[str] = Field(default_factory=lambda: ["numpy"], description="Modules imported once by the warm workers and the sandbox's fork server.")
    jobs_dir: str | None = Field(
        None,
        description="Where job folders go; default: a fresh folder in /dev/shm (memory: creating and removing folders there is "
        "~100x faster than on most disks) when it has room, else in the temporary folder; removed at the end.",
    )
    keep_job_dirs: bool = Field(False, description="Keep each job's folder after it finishes (for debugging; warm workers only).")
    kill_grace_s: float = Field(5.0, ge=0, description="Seconds past a job's wall time before the backend kills it from outside.")
    gpu_jobs: int | None = Field(
        None,
        ge=1,
        description="Jobs of languages that need a GPU (CUDA) at once, build included; default: the number of GPUs of this "
        "machine (CUDA_VISIBLE_DEVICES, else /dev/nvidia0, /dev/nvidia1...), at least 1, so candidates never share a GPU.",
    )


class LocalBackend(Backend):
    """Runs jobs on this machine through the worker of genesis-core."""

    name = "local"
    description = "This machine: sandboxed (bubblewrap where available), warm fork-server workers."
    Settings = LocalSettings

    def __init__(self, settings: LocalSettings | dict | None = None, *, run_dir: Path | None = None) -> None:
        super().__init__(settings, run_dir=run_dir)
        self.settings: LocalSettings
        self._root: Path | None = None
        self._own_root = False
        self._semaphore: asyncio.Semaphore | None = None
        self._gpu_semaphore: asyncio.Semaphore | None = None
        self._needs_gpu: dict[str, bool] = {}
        self._server: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None
        self._server_lock: asyncio.Lock | None = None
        self._waiters: dict[str, asyncio.Future] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._cancelled: set[str] = set()
        self._cold: dict[str, asyncio.subprocess.Process] = {}
        self._counter = itertools.count(1)

    @property
    def server_pid(self) -> int | None:
        """The warm job server's process id (None when cold or not started); its descendants are the jobs."""
        return self._server.pid if self._server is not None and self._server.returncode is None else None

    # -- Backend interface ----------------------------------------------------------------

    def capacity(self) -> int:
        return self.settings.max_jobs or os.cpu_count() or 1

    def gpu_capacity(self) -> int:
        """How many jobs of a GPU language run at once."""
        return self.settings.gpu_jobs or max(1, gpu_count())

    def check(self) -> str | None:
        if not hasattr(os, "fork"):
            return "the local backend needs a POSIX system (fork, setrlimit); use another backend on this platform"
        return None

    async def start(self) -> None:
        from genesis_core.sandbox import warn_missing_protections

        if self._semaphore is not None:
            return
        warn_missing_protections()
        if self.settings.jobs_dir:
            self._root = Path(self.settings.jobs_dir).resolve()
            self._root.mkdir(parents=True, exist_ok=True)
        else:
            self._root = Path(tempfile.mkdtemp(prefix="genesis-local-", dir=memory_folder()))
            self._own_root = True
        self._semaphore = asyncio.Semaphore(self.capacity())
        self._gpu_semaphore = asyncio.Semaphore(self.gpu_capacity())
        self._server_lock = asyncio.Lock()
        if self.settings.warm:
            await self._ensure_server()

    async def close(self) -> None:
        for handle in list(self._tasks):
            await self.cancel(handle)
        for task in list(self._tasks.values()):
            with contextlib.suppress(BaseException):
                await task
        if self._server is not None:
            if self._server.stdin is not None:
                self._server.stdin.close()
            try:
                await asyncio.wait_for(self._server.wait(), 10)
            except TimeoutError:
                self._server.kill()
                await self._server.wait()
            self._server = None
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
            self._reader = None
        if self._root is not None and self._own_root and not self.settings.keep_job_dirs:
            shutil.rmtree(self._root, ignore_errors=True)
        self._semaphore = None
        self._gpu_semaphore = None

    async def submit(self, job: Job) -> str:
        if self._semaphore is None:
            await self.start()
        handle = f"{job.id}#{next(self._counter)}"
        self._tasks[handle] = asyncio.get_running_loop().create_task(self._execute(handle, job))
        return handle

    async def wait(self, handle: str) -> JobResult:
        task = self._tasks.get(handle)
        if task is None:
            raise KeyError(f"unknown job handle {handle!r}")
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._tasks.pop(handle, None)

    async def cancel(self, handle: str) -> None:
        if handle not in self._tasks or self._tasks[handle].done():
            return
        self._cancelled.add(handle)
        await self._kill(handle, "cancelled")

    # -- running jobs -------------------------------------------------------------------------

    async def _execute(self, handle: str, job: Job) -> JobResult:
        assert self._semaphore is not None and self._gpu_semaphore is not None
        gpu_slot = self._gpu_semaphore if self._language_needs_gpu(job.language) else contextlib.nullcontext()
        try:
            async with gpu_slot, self._semaphore:
                if handle in self._cancelled:
                    return JobResult.failed(job.id, FailureReason.CANCELLED, "The evaluation was cancelled before it started.")
                if self.settings.warm:
                    result = await self._run_warm(handle, job)
                else:
                    result = await self._run_cold(handle, job)
        except Exception as exc:  # a fault of the backend is a failed result, not an exception
            result = JobResult.failed(job.id, FailureReason.BACKEND_ERROR, f"The local backend failed: {type(exc).__name__}: {exc}")
        finally:
            self._cancelled.discard(handle)
        return result

    def _language_needs_gpu(self, name: str) -> bool:
        if name not in self._needs_gpu:
            from genesis_core.plugins import get_host

            try:
                self._needs_gpu[name] = bool(get_host().get("languages", name).needs_gpu)
            except Exception:  # an unknown language fails in the worker, with its own message
                self._needs_gpu[name] = False
        return self._needs_gpu[name]

    async def _kill(self, handle: str, reason: str) -> None:
        if handle in self._waiters and self._server is not None and self._server.stdin is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                self._server.stdin.write((json.dumps({"op": "kill", "handle": handle, "reason": reason}) + "\n").encode())
                await self._server.stdin.drain()
        process = self._cold.get(handle)
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    async def _ensure_server(self) -> asyncio.subprocess.Process:
        assert self._server_lock is not None and self._root is not None
        async with self._server_lock:
            if self._server is not None and self._server.returncode is None:
                return self._server
            config = {"root": str(self._root), "preload": self.settings.preload, "keep_job_dirs": self.settings.keep_job_dirs}
            self._server = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "genesis_core.backends.local_server", json.dumps(config),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT,
            )
            assert self._server.stdout is not None
            line = await asyncio.wait_for(self._server.stdout.readline(), 120)
            if not line.startswith(b'{"ready"'):
                self._server.kill()
                raise RuntimeError(f"the local job server did not start (it said {line[:300]!r})")
            self._reader = asyncio.get_running_loop().create_task(self._read_results(self._server))
            return self._server

    async def _read_results(self, server: asyncio.subprocess.Process) -> None:
        assert server.stdout is not None
        while True:
            line = await server.stdout.readline()
            if not line:
                break
            message = json.loads(line)
            future = self._waiters.pop(message.get("handle"), None)
            if future is not None and not future.done():
                future.set_result(JobResult.model_validate(message["result"]))
        code = await server.wait()
        for handle, future in list(self._waiters.items()):
            if not future.done():
                future.set_result(JobResult.failed(handle.split("#")[0], FailureReason.BACKEND_ERROR, f"The local job server exited (code {code}) while the job ran."))
        self._waiters.clear()

    async def _run_warm(self, handle: str, job: Job) -> JobResult:
        server = await self._ensure_server()
        assert server.stdin is not None
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiters[handle] = future
        server.stdin.write((json.dumps({"op": "job", "handle": handle, "job": job.model_dump(mode="json")}) + "\n").encode())
        await server.stdin.drain()
        try:
            return await asyncio.wait_for(asyncio.shield(future), job.limits.wall_time_s + self.settings.kill_grace_s)
        except TimeoutError:
            await self._kill(handle, "timeout")
            return await future

    async def _run_cold(self, handle: str, job: Job) -> JobResult:
        assert self._root is not None
        folder = Path(tempfile.mkdtemp(prefix="job-", dir=self._root))
        job_file, result_file = folder / "job.json", folder / "result.json"
        job_file.write_text(job.model_dump_json())
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "genesis_core.worker", str(job_file), str(result_file),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, start_new_session=True,
                cwd=str(folder), env={**os.environ, "TMPDIR": str(folder)},  # the worker's job folder goes here too
            )
            self._cold[handle] = process
            try:
                await asyncio.wait_for(process.wait(), job.limits.wall_time_s + self.settings.kill_grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
                return JobResult.failed(job.id, FailureReason.TIMEOUT, f"The evaluation ran past its wall time of {job.limits.wall_time_s:.0f} s and was killed with all its processes.")
            finally:
                self._cold.pop(handle, None)
            if handle in self._cancelled:
                return JobResult.failed(job.id, FailureReason.CANCELLED, "The evaluation was cancelled and its processes were killed.")
            if not result_file.is_file():
                return JobResult.failed(job.id, FailureReason.BACKEND_ERROR, f"The worker process exited with code {process.returncode} without writing a result.")
            return JobResult.model_validate_json(result_file.read_text())
        finally:
            if not self.settings.keep_job_dirs:
                shutil.rmtree(folder, ignore_errors=True)


def memory_folder(min_free_bytes: int = 2 << 30) -> str | None:
    """/dev/shm when it is a writable, executable tmpfs with room; None (the temporary folder) otherwise."""
    try:
        info = os.statvfs("/dev/shm")
    except OSError:
        return None
    if info.f_flag & os.ST_NOEXEC or info.f_flag & os.ST_RDONLY or info.f_bavail * info.f_frsize < min_free_bytes:
        return None
    return "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None


def gpu_count() -> int:
    """The NVIDIA GPUs jobs here can use: those CUDA_VISIBLE_DEVICES names, else the device files /dev/nvidiaN."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip():
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    return len([d for d in glob.glob("/dev/nvidia[0-9]*") if d[len("/dev/nvidia"):].isdigit()])


@hookimpl
def register_backends(register):
    register(LocalBackend)
