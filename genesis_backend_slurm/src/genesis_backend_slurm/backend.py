"""The `slurm` backend: each candidate is a Slurm job (or a task of a job array).

Jobs go to Slurm through submitit. The job runs the worker entry point of
genesis-core on a JSON job file in a folder the nodes share, so `task_dir`
is valid as it is. One poller follows every job in flight with one `sacct`
call per interval (Slurm offers nothing to wait on) and turns what it sees
into results: the worker's result when there is one, else the reason Slurm
gives (cancelled, preempted, killed for memory, timed out). A job whose node
failed is submitted again, a bounded number of times. Submissions retry
while the controller is unreachable (a restart of slurmctld), and polling
reads the accounting database, which stays up meanwhile.
"""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genesis_core.backend import Backend
from genesis_core.errors import GenesisError
from genesis_core.job import FailureReason, Job, JobResult

from genesis_backend_slurm.environments import Mount, Resources
from genesis_backend_slurm.launcher import Launch
from genesis_backend_slurm.settings import SlurmSettings
from genesis_backend_slurm.states import Phase, judge

SIGNAL_DELAY_S = 30
# submitit's launcher, warned of the time limit (SIGUSR2), ends the job with this.
SUBMITIT_TIMED_OUT = "timed-out"

# sbatch errors that mean "the controller is not there right now": worth retrying.
TRANSIENT_SBATCH = re.compile(
    r"unable to contact slurm controller|socket timed out|temporarily unable|connection refused|"
    r"zero bytes were transmitted|communication connection failure|transport endpoint",
    re.IGNORECASE,
)


@dataclass
class _Tracked:
    """One candidate and its current Slurm job."""

    handle: str
    job: Job
    future: asyncio.Future
    attempt: int = 0
    job_dir: Path | None = None
    slurm_job: Any = None  # submitit's SlurmJob
    submitted_at: float = 0.0
    ended_at: float | None = None  # when Slurm first reported it ended without a result
    history: list[str] = field(default_factory=list)

    @property
    def slurm_id(self) -> str | None:
        return None if self.slurm_job is None else str(self.slurm_job.job_id)


@dataclass
class _Observation:
    state: str
    outcome: tuple[str, Any] | None  # ("success", result dict) or ("error", traceback)
    stderr_tail: str


class SlurmBackend(Backend):
    """Evaluations as Slurm jobs, through submitit."""

    name = "slurm"
    description = "Slurm cluster through submitit: one job or job-array task per candidate; host, Conda, Docker or Apptainer environments"
    Settings = SlurmSettings
    settings: SlurmSettings

    def __init__(self, settings: SlurmSettings | dict | None = None, *, run_dir: Path | None = None) -> None:
        super().__init__(settings, run_dir=run_dir)
        self._jobs: dict[str, _Tracked] = {}
        self._queued: dict[int, list[_Tracked]] = {}  # time limit -> jobs waiting to form an array
        self._flushers: dict[int, asyncio.TimerHandle] = {}
        self._thread: ThreadPoolExecutor | None = None
        self._executor: Any = None
        self._poller: asyncio.Task | None = None
        self._capacity: int | None = self.settings.max_jobs
        self.folder: Path | None = None

    # -- set-up ------------------------------------------------------------------

    def check(self) -> str | None:
        for exe in ("sbatch", "sacct", "scancel", "sinfo", "srun"):
            if shutil.which(exe) is None:
                return (
                    f"`{exe}` is not on PATH: this machine is not a Slurm submit host. Install the Slurm client "
                    f"(Debian: slurm-client) configured for your cluster, or run Genesis on a login node."
                )
        try:
            partitions = self._partitions()
        except GenesisError as exc:
            return str(exc)
        if self.settings.partition and self.settings.partition not in partitions:
            names = ", ".join(name for name in partitions if name) or "none"
            return f"The partition '{self.settings.partition}' does not exist (partitions: {names}); fix [backend.slurm] partition."
        try:
            accounting = _run(["sacct", "-n", "-X", "-S", "now", "-o", "JobID"], timeout=30)
        except subprocess.TimeoutExpired:
            return "`sacct` did not answer within 30 s: Slurm's accounting daemon (slurmdbd) is unreachable."
        if accounting.returncode != 0:
            return (
                f"`sacct` failed ({_first_line(accounting.stderr)}): Genesis follows jobs through Slurm's accounting, "
                f"so the cluster needs slurmdbd (AccountingStorageType=accounting_storage/slurmdbd)."
            )
        return None

    def _partitions(self) -> dict[str, int]:
        """Partition name -> CPUs; the default partition also under ''."""
        try:
            out = _run(["sinfo", "-h", "-o", "%P|%C"], timeout=30)
        except subprocess.TimeoutExpired:
            raise GenesisError("`sinfo` did not answer within 30 s: the Slurm controller is unreachable. Check `scontrol ping`.") from None
        if out.returncode != 0:
            raise GenesisError(f"`sinfo` failed: {_first_line(out.stderr)}. Check that the Slurm controller is up (`scontrol ping`).")
        partitions: dict[str, int] = {}
        for line in out.stdout.splitlines():
            name, _, cpus = line.partition("|")
            total = int(cpus.rsplit("/", 1)[-1]) if cpus.strip() else 0
            if name.endswith("*"):
                name = name[:-1]
                partitions[""] = total
            partitions[name] = total
        return partitions

    async def start(self) -> None:
        if self._executor is not None:
            return
        try:
            import submitit
        except ImportError:
            raise GenesisError("The slurm backend needs submitit: `pip install submitit` (it is a dependency of genesis-backend-slurm).") from None
        loop = asyncio.get_running_loop()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="genesis-slurm")
        problem = await loop.run_in_executor(self._thread, self.check)
        if problem:
            raise GenesisError(f"The slurm backend cannot run here: {problem}")
        if self._capacity is None:
            await loop.run_in_executor(self._thread, self.capacity)
        self.folder = self._folder()
        self.folder.mkdir(parents=True, exist_ok=True)
        executor = submitit.SlurmExecutor(folder=self.folder / "logs" / "%j")
        executor.update_parameters(**self._sbatch_parameters(time_min=self.settings.time_min or 5))
        self._executor = executor
        self._poller = asyncio.create_task(self._poll_forever(), name="genesis-slurm-poller")

    def _folder(self) -> Path:
        if self.settings.folder:
            return Path(self.settings.folder).expanduser().resolve()
        if self.run_dir is not None:
            return Path(self.run_dir).resolve() / "slurm"
        return Path.home() / ".cache" / "genesis" / "slurm" / uuid.uuid4().hex[:12]

    def _sbatch_parameters(self, *, time_min: int) -> dict[str, Any]:
        s = self.settings
        params: dict[str, Any] = {
            "job_name": "genesis",
            "time": time_min,
            "cpus_per_task": s.cpus_per_task,
            # submitit's launcher gets SIGUSR2 this long before the time limit and ends
            # the job with "timed-out" (read as a timeout below).
            "signal_delay_s": SIGNAL_DELAY_S,
            # Genesis resubmits lost jobs itself, a bounded number of times.
            "additional_parameters": {"no-requeue": True, **s.sbatch_options},
        }
        optional = {
            "partition": s.partition,
            "mem": f"{s.mem_mb}M" if s.mem_mb else None,
            "gpus_per_node": s.gpus_per_node,
            "account": s.account,
            "qos": s.qos,
            "setup": s.setup or None,
            "array_parallelism": s.array_parallelism,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        return params

    def capacity(self) -> int:
        """`max_jobs`, else the jobs of `cpus_per_task` CPUs the partition holds at once (asked once)."""
        if self._capacity is None:
            try:
                cpus = self._partitions().get(self.settings.partition or "", 0)
            except GenesisError:
                return 1  # the controller is away; start() will say so
            self._capacity = max(1, cpus // self.settings.cpus_per_task)
        return self._capacity

    # -- submitting ----------------------------------------------------------------

    async def submit(self, job: Job) -> str:
        if self._executor is None:
            await self.start()
        handle = uuid.uuid4().hex[:12]
        tracked = _Tracked(handle=handle, job=job, future=asyncio.get_running_loop().create_future())
        self._jobs[handle] = tracked
        if self.settings.array:
            self._enqueue(tracked)
        else:
            await self._send([tracked])
        return handle

    def _time_min(self, job: Job) -> int:
        if self.settings.time_min:
            return self.settings.time_min
        return max(1, math.ceil(job.limits.wall_time_s / 60)) + self.settings.time_margin_min

    def _enqueue(self, tracked: _Tracked) -> None:
        key = self._time_min(tracked.job)
        group = self._queued.setdefault(key, [])
        group.append(tracked)
        if len(group) >= self.settings.array_max_size:
            self._flush(key)
        elif key not in self._flushers:
            loop = asyncio.get_running_loop()
            self._flushers[key] = loop.call_later(self.settings.array_window_s, self._flush, key)

    def _flush(self, key: int) -> None:
        timer = self._flushers.pop(key, None)
        if timer is not None:
            timer.cancel()
        group = [t for t in self._queued.pop(key, []) if not t.future.done()]
        if group:
            asyncio.get_running_loop().create_task(self._send_or_fail(group), name="genesis-slurm-array")

    async def _send_or_fail(self, group: list[_Tracked]) -> None:
        """`_send` for a background task: whatever goes wrong fails the jobs instead of leaving them waiting."""
        try:
            await self._send(group)
        except Exception as exc:
            for t in group:
                self._resolve(t, JobResult.failed(t.job.id, FailureReason.BACKEND_ERROR, f"Submitting the job failed: {type(exc).__name__}: {exc}"))

    def _launch(self, tracked: _Tracked) -> Launch:
        tracked.attempt += 1
        job_dir = self.folder / "jobs" / tracked.handle / f"attempt-{tracked.attempt}"
        job_dir.mkdir(parents=True, exist_ok=True)
        job_file = job_dir / "job.json"
        job_file.write_text(tracked.job.model_dump_json())
        tracked.job_dir = job_dir
        mounts = [Mount(str(job_dir)), Mount(str(Path(tracked.job.task_dir).resolve()), read_only=True)]
        if tracked.job.shared_build_dir:
            mounts.append(Mount(str(Path(tracked.job.shared_build_dir).resolve())))
        return Launch(
            environment=self.settings.environment,
            job_file=str(job_file),
            result_file=str(job_dir / "result.json"),
            mounts=tuple(mounts),
            resources=Resources(cpus=self.settings.cpus_per_task, mem_mb=self.settings.mem_mb),
        )

    async def _send(self, group: list[_Tracked]) -> None:
        """Submit jobs (several: one array), retrying while the controller is unreachable."""
        group = [t for t in group if not t.future.done()]
        if not group:
            return
        launches = [self._launch(t) for t in group]
        time_min = max(self._time_min(t.job) for t in group)
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.settings.submit_timeout_s
        delay = 0.5
        while True:
            try:
                jobs = await loop.run_in_executor(self._thread, self._sbatch, launches, time_min)
                break
            except Exception as exc:
                message = str(exc).strip()
                if TRANSIENT_SBATCH.search(message) and time.monotonic() < deadline:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
                    continue
                for t in group:
                    self._resolve(t, JobResult.failed(
                        t.job.id, FailureReason.BACKEND_ERROR,
                        f"sbatch refused the job: {_last_lines(message, 5)}. Check the [backend.slurm] settings "
                        f"(partition, account, qos, sbatch_options) against `sinfo` and `sacctmgr show assoc`.",
                    ))
                return
        now = time.monotonic()
        for t, slurm_job in zip(group, jobs, strict=True):
            t.slurm_job, t.submitted_at, t.ended_at = slurm_job, now, None
            t.history.append(f"attempt {t.attempt}: Slurm job {slurm_job.job_id}")
            if t.future.done():  # cancelled while sbatch ran
                await loop.run_in_executor(self._thread, _scancel, [str(slurm_job.job_id)])

    def _sbatch(self, launches: list[Launch], time_min: int) -> list[Any]:
        """In the backend's thread: one sbatch call (submitit's executor is not thread-safe)."""
        executor = self._executor
        executor.update_parameters(time=time_min)
        if len(launches) == 1:
            return [executor.submit(launches[0])]
        with executor.batch():
            delayed = [executor.submit(launch) for launch in launches]
        return delayed

    # -- following -----------------------------------------------------------------

    async def _poll_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.poll_interval_s)
            active = [t for t in self._jobs.values() if t.slurm_job is not None and not t.future.done()]
            if not active:
                continue
            try:
                observations = await loop.run_in_executor(self._thread, self._observe, active)
            except Exception as exc:  # a poll that fails is retried at the next interval
                print(f"genesis-backend-slurm: polling Slurm failed: {type(exc).__name__}: {exc}", flush=True)
                continue
            for tracked, seen in zip(active, observations, strict=True):
                if tracked.future.done():
                    continue
                try:
                    await self._advance(tracked, seen)
                except Exception as exc:  # one job's trouble must not stop the poller for the others
                    self._resolve(tracked, self._failed(tracked, FailureReason.BACKEND_ERROR, f"Following the job failed: {type(exc).__name__}: {exc}", seen))

    def _observe(self, active: list[_Tracked]) -> list[_Observation]:
        """In the backend's thread: one sacct call for all jobs, then their result files."""
        from submitit.core import utils as submitit_utils
        from submitit.slurm.slurm import SlurmJob

        SlurmJob.watcher.update()
        seen = []
        for t in active:
            job = t.slurm_job
            state = SlurmJob.watcher.get_state(job.job_id, mode="cache")
            outcome = None
            if job.paths.result_pickle.exists():
                try:
                    outcome = submitit_utils.pickle_load(job.paths.result_pickle)
                except (EOFError, OSError):  # still being written
                    outcome = None
            tail = "" if outcome and outcome[0] == "success" else _tail(job.paths.stderr)
            seen.append(_Observation(state, outcome, tail))
        return seen

    async def _advance(self, t: _Tracked, seen: _Observation) -> None:
        verdict = judge(seen.state, seen.stderr_tail)
        if seen.outcome and seen.outcome[0] == "success":
            state = "finished" if verdict.phase is Phase.WAITING else seen.state  # sacct may lag behind the result
            self._resolve(t, self._worker_result(t, seen.outcome[1], state))
            self._tidy(t)
            return
        if seen.outcome and SUBMITIT_TIMED_OUT in str(seen.outcome[1]).splitlines()[-1]:
            explanation = f"The job reached its Slurm time limit ({self._time_min(t.job)} min, [backend.slurm] time_min or the job's wall time + time_margin_min)."
            self._resolve(t, self._failed(t, FailureReason.TIMEOUT, explanation, seen))
            return
        if verdict.phase is Phase.FAILED:
            if verdict.failure is FailureReason.PREEMPTED:  # never let a requeue run it behind our back
                await asyncio.get_running_loop().run_in_executor(self._thread, _scancel, [t.slurm_id])
            self._resolve(t, self._failed(t, verdict.failure, verdict.explanation, seen))
            return
        if verdict.phase is Phase.LOST:
            await self._resubmit_or_fail(t, verdict.explanation, seen)
            return
        if verdict.phase is Phase.WAITING:
            unknown_for = time.monotonic() - t.submitted_at
            if seen.state.upper() in {"", "UNKNOWN"} and unknown_for > self.settings.lost_after_s and seen.outcome is None:
                await asyncio.get_running_loop().run_in_executor(self._thread, _scancel, [t.slurm_id])
                await self._resubmit_or_fail(t, f"Slurm has not known the job for {unknown_for:.0f} s.", seen)
            return
        # Ended (COMPLETED or FAILED) without a success: give the result file time to appear.
        now = time.monotonic()
        if t.ended_at is None:
            t.ended_at = now
        if seen.outcome is None and now - t.ended_at < self.settings.result_grace_s:
            return
        if seen.outcome is not None:
            explanation = f"The job's launcher failed: {_last_lines(str(seen.outcome[1]), 12)}"
        else:
            explanation = f"The job ended ({seen.state}) without a result."
        self._resolve(t, self._failed(t, FailureReason.BACKEND_ERROR, explanation, seen))

    async def _resubmit_or_fail(self, t: _Tracked, why: str, seen: _Observation) -> None:
        t.history.append(f"attempt {t.attempt}: lost ({why})")
        if t.attempt > self.settings.max_resubmits:
            self._resolve(t, self._failed(t, FailureReason.LOST, f"{why} It was submitted {t.attempt} times; giving up.", seen))
            return
        t.slurm_job = None
        await self._send_or_fail([t])

    def _worker_result(self, t: _Tracked, data: dict, state: str) -> JobResult:
        try:
            result = JobResult.model_validate(data)
        except Exception as exc:
            return self._failed(t, FailureReason.BACKEND_ERROR, f"The worker's result is not a JobResult: {exc}", None)
        result.artifacts = {**result.artifacts, "slurm": self._summary(t, state)}
        return result

    def _failed(self, t: _Tracked, failure: FailureReason, explanation: str, seen: _Observation | None) -> JobResult:
        log = f" Its error log ends with:\n{seen.stderr_tail.strip()}" if seen and seen.stderr_tail.strip() else ""
        state = seen.state if seen else "?"
        return JobResult.failed(
            t.job.id, failure, f"Slurm job {t.slurm_id}: {explanation}",
            artifacts={"slurm": self._summary(t, state) + log},
        )

    def _summary(self, t: _Tracked, state: str) -> str:
        logs = f"; logs: {t.slurm_job.paths.stdout.parent}" if t.slurm_job is not None else ""
        return f"Slurm job {t.slurm_id} ({state}), attempt {t.attempt}{logs}; " + "; ".join(t.history)

    @staticmethod
    def _tidy(t: _Tracked) -> None:
        """After a success: drop the job files and submitit's pickles; Slurm's logs stay."""
        if t.job_dir is not None:
            shutil.rmtree(t.job_dir.parent, ignore_errors=True)
        for pickle in (t.slurm_job.paths.submitted_pickle, t.slurm_job.paths.result_pickle):
            pickle.unlink(missing_ok=True)

    def _resolve(self, t: _Tracked, result: JobResult) -> None:
        if not t.future.done():
            t.future.set_result(result)

    # -- waiting and cancelling -------------------------------------------------------

    async def wait(self, handle: str) -> JobResult:
        tracked = self._jobs.get(handle)
        if tracked is None:
            raise GenesisError(f"The slurm backend has no job with handle '{handle}' (already waited for, or never submitted).")
        result = await asyncio.shield(tracked.future)
        self._jobs.pop(handle, None)
        return result

    async def cancel(self, handle: str) -> None:
        tracked = self._jobs.get(handle)
        if tracked is None or tracked.future.done():
            return
        self._resolve(tracked, JobResult.failed(tracked.job.id, FailureReason.CANCELLED, "Cancelled by Genesis before it finished."))
        if tracked.slurm_id is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, _scancel, [tracked.slurm_id])

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        for timer in self._flushers.values():
            timer.cancel()
        self._flushers.clear()
        self._queued.clear()
        running = [t.slurm_id for t in self._jobs.values() if not t.future.done() and t.slurm_id is not None]
        for t in self._jobs.values():
            self._resolve(t, JobResult.failed(t.job.id, FailureReason.CANCELLED, "The slurm backend was closed before the job finished."))
        if self._thread is not None:
            if running:
                await asyncio.get_running_loop().run_in_executor(self._thread, _scancel, running)
            self._thread.shutdown(wait=False)
            self._thread = None
        self._executor = None


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def _scancel(ids: list[str | None]) -> None:
    ids = [i for i in ids if i]
    if ids:
        try:
            _run(["scancel", *ids], timeout=60)
        except subprocess.TimeoutExpired:
            pass  # the controller is away; a lost job is found by the poller later


def _tail(path: Path, size: int = 4000) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - size))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else "no output"


def _last_lines(text: str, n: int) -> str:
    return "\n".join(text.strip().splitlines()[-n:])
