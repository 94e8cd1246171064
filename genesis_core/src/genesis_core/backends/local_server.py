"""The warm job server of the local backend: one fork per evaluation job.

`LocalBackend` starts this module once (`python -m
genesis_core.backends.local_server CONFIG`) and talks to it in JSON lines:

    -> {"op": "job", "handle": "...", "job": {...Job...}}
    -> {"op": "kill", "handle": "...", "reason": "timeout" | "cancelled"}
    <- {"handle": "...", "result": {...JobResult...}}

The server has genesis-core, the plugins and each task's evaluator module
already imported, and keeps one started `Sandbox` (with its own warm fork
server inside bubblewrap) per kind of job. It forks worker processes (up to
one per job in flight) that stay: each runs jobs one after the other with
`genesis_core.worker.run_job`, the same function `python -m
genesis_core.worker` runs, so a job costs neither an interpreter start nor a
fork. A job that runs past its time, or is cancelled, is stopped by killing
its worker's whole process group (a fresh worker replaces it); its candidate
processes die with it because the sandbox kills every process tree whose
client has gone. A worker's evaluator modules stay imported between jobs.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import shutil
import signal
import sys
import traceback
from pathlib import Path

from genesis_core.job import FailureReason, Job, JobResult
from genesis_core.language import Language
from genesis_core.sandbox import Sandbox, SandboxError, SandboxSpec
from genesis_core.worker import load_evaluator, load_language, run_job, sandbox_spec


class Running:
    """A job a worker is running."""

    def __init__(self, handle: str, job: Job, workdir: Path) -> None:
        self.handle = handle
        self.job = job
        self.workdir = workdir
        self.killed: str | None = None


class Worker:
    """A forked process that runs jobs one at a time, fed through a pipe."""

    def __init__(self, pid: int, to_fd: int, from_fd: int) -> None:
        self.pid = pid
        self.to_fd = to_fd
        self.from_fd = from_fd
        self.buffer = bytearray()
        self.running: Running | None = None


class JobServer:
    def __init__(self, root: Path, preload: list[str], keep_job_dirs: bool) -> None:
        self.root = root
        self.preload = preload
        self.keep = keep_job_dirs
        self.sandboxes: dict[SandboxSpec, Sandbox] = {}
        self.languages: dict[tuple[str, str], Language] = {}
        self.workers: dict[int, Worker] = {}
        self.by_handle: dict[str, Worker] = {}
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.wake_r, selectors.EVENT_READ, "child")
        self.selector.register(0, selectors.EVENT_READ, "stdin")
        self.stdin_buffer = bytearray()
        self.out = sys.stdout.buffer
        self.stdin_open = True

    # -- protocol ---------------------------------------------------------------------

    def send(self, message: dict) -> None:
        self.out.write((json.dumps(message) + "\n").encode())
        self.out.flush()

    def serve(self) -> None:
        self.send({"ready": True, "pid": os.getpid()})
        while self.stdin_open or self.by_handle:
            for key, _ in self.selector.select():
                if key.data == "stdin":
                    self.read_stdin()
                elif key.data == "child":
                    try:
                        while os.read(self.wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                    self.reap()
                else:
                    self.read_worker(key.data)

    def read_stdin(self) -> None:
        data = os.read(0, 1 << 20)
        if not data:
            self.selector.unregister(0)
            self.stdin_open = False
            for worker in list(self.by_handle.values()):
                self.kill(worker, "cancelled")
            return
        self.stdin_buffer += data
        while b"\n" in self.stdin_buffer:
            line, _, rest = bytes(self.stdin_buffer).partition(b"\n")
            self.stdin_buffer = bytearray(rest)
            if line.strip():
                self.handle(json.loads(line))

    def handle(self, message: dict) -> None:
        if message.get("op") == "job":
            self.start_job(message["handle"], Job.model_validate(message["job"]))
        elif message.get("op") == "kill":
            worker = self.by_handle.get(message["handle"])
            if worker is not None:
                self.kill(worker, message.get("reason", "cancelled"))

    def finish(self, running: Running, result: dict) -> None:
        self.send({"handle": running.handle, "result": result})
        if not self.keep:
            shutil.rmtree(running.workdir, ignore_errors=True)

    # -- jobs -------------------------------------------------------------------------

    def language_for(self, job: Job) -> Language:
        key = (job.language, json.dumps(job.language_settings, sort_keys=True))
        if key not in self.languages:
            self.languages[key] = load_language(job)
        return self.languages[key]

    def sandbox_for(self, spec: SandboxSpec) -> Sandbox:
        sandbox = self.sandboxes.get(spec)
        if sandbox is None or not sandbox.running:
            if sandbox is not None:
                sandbox.close()
            sandbox = Sandbox(self.root / f"sandbox-{len(self.sandboxes)}-{os.getpid()}", spec).start()
            self.sandboxes[spec] = sandbox
        return sandbox

    def start_job(self, handle: str, job: Job) -> None:
        try:
            language = self.language_for(job)
            sandbox = self.sandbox_for(sandbox_spec(job, language, self.preload))
            workdir = sandbox.root / f"{_safe(job.id)}-{handle.rsplit('#', 1)[-1]}-{os.urandom(4).hex()}"
            workdir.mkdir()
        except SandboxError as exc:
            self.send({"handle": handle, "result": JobResult.failed(job.id, FailureReason.SANDBOX_ERROR, str(exc)).model_dump(mode="json")})
            return
        except Exception as exc:
            result = JobResult.failed(job.id, FailureReason.BACKEND_ERROR, f"The local backend could not start the job: {type(exc).__name__}: {exc}")
            self.send({"handle": handle, "result": result.model_dump(mode="json")})
            return
        worker = next((w for w in self.workers.values() if w.running is None), None) or self.new_worker(job)
        worker.running = Running(handle, job, workdir)
        self.by_handle[handle] = worker
        message = {"job": job.model_dump(mode="json"), "workdir": str(workdir), "sandbox": [str(sandbox.root), str(sandbox.control)]}
        message = (json.dumps(message) + "\n").encode()
        view = memoryview(message)
        while view:
            view = view[os.write(worker.to_fd, view):]

    def new_worker(self, job: Job) -> Worker:
        try:  # the evaluator's module, imported here once, is inherited by the worker
            load_evaluator(Path(job.task_dir), job.evaluator)
        except BaseException:  # noqa: BLE001 - the worker reports it properly when it runs the job
            pass
        jobs_r, jobs_w = os.pipe()
        results_r, results_w = os.pipe()
        gc.freeze()  # the worker neither scans nor copies what the server has loaded
        pid = os.fork()
        if pid == 0:
            os.close(jobs_w)
            os.close(results_r)
            self.work(jobs_r, results_w)
        os.close(jobs_r)
        os.close(results_w)
        os.set_blocking(results_r, False)
        worker = Worker(pid, jobs_w, results_r)
        self.workers[pid] = worker
        self.selector.register(results_r, selectors.EVENT_READ, worker)
        return worker

    def work(self, jobs_fd: int, results_fd: int) -> None:
        """A worker's life: read a job, run it, write its result; never returns."""
        try:
            os.setsid()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            self.selector.close()
            for worker in self.workers.values():  # the other workers' pipes are not ours
                os.close(worker.to_fd)
                os.close(worker.from_fd)
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(2, 1)  # an evaluator writing to fd 1 from C must not corrupt the protocol
            jobs = os.fdopen(jobs_fd, "rb")
            attached: dict[tuple[str, str], Sandbox] = {}
            for line in jobs:
                message = json.loads(line)
                job = Job.model_validate(message["job"])
                try:
                    language = self.language_for(job)
                    root, control = message["sandbox"]  # the server's current sandbox (restarted ones move)
                    if (root, control) not in attached:
                        attached[(root, control)] = Sandbox.attach(Path(root), sandbox_spec(job, language, self.preload), Path(control))
                    result = run_job(job, Path(message["workdir"]), sandbox=attached[(root, control)], language=language)
                except BaseException as exc:  # noqa: BLE001
                    result = JobResult.failed(job.id, FailureReason.BACKEND_ERROR, f"The worker failed: {type(exc).__name__}: {exc}", artifacts={"worker_traceback": traceback.format_exc()})
                view = memoryview(result.model_dump_json().encode() + b"\n")
                while view:
                    view = view[os.write(results_fd, view):]
        finally:
            os._exit(0)

    def read_worker(self, worker: Worker) -> None:
        if worker.from_fd < 0:  # closed by reap() earlier in the same batch of events
            return
        try:
            chunk = os.read(worker.from_fd, 1 << 20)
        except BlockingIOError:
            return
        if not chunk:
            self.selector.unregister(worker.from_fd)
            os.close(worker.from_fd)
            worker.from_fd = -1
            return
        worker.buffer += chunk
        while b"\n" in worker.buffer:
            line, _, rest = bytes(worker.buffer).partition(b"\n")
            worker.buffer = bytearray(rest)
            running, worker.running = worker.running, None
            if running is None:
                continue
            self.by_handle.pop(running.handle, None)
            try:
                result = JobResult.model_validate_json(line).model_dump(mode="json")
            except ValueError as exc:
                result = JobResult.failed(running.job.id, FailureReason.BACKEND_ERROR, f"The worker sent an unreadable result: {exc}").model_dump(mode="json")
            self.finish(running, result)

    def kill(self, worker: Worker, reason: str) -> None:
        if worker.running is not None and worker.running.killed is None:
            worker.running.killed = reason
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except OSError:
            pass

    def reap(self) -> None:
        for pid, worker in list(self.workers.items()):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done == 0:
                continue
            try:
                os.killpg(pid, signal.SIGKILL)  # anything the evaluator left in its group
            except OSError:
                pass
            if worker.from_fd >= 0:  # a result written just before it died still counts
                os.set_blocking(worker.from_fd, True)
                while worker.from_fd >= 0:
                    self.read_worker(worker)
            os.close(worker.to_fd)
            del self.workers[pid]
            running = worker.running
            if running is not None:
                self.by_handle.pop(running.handle, None)
                self.finish(running, self.result_of(running, status))

    def result_of(self, running: Running, status: int) -> dict:
        job = running.job
        if running.killed == "timeout":
            return JobResult.failed(job.id, FailureReason.TIMEOUT, f"The evaluation ran past its wall time of {job.limits.wall_time_s:.0f} s and was killed with all its processes.").model_dump(mode="json")
        if running.killed is not None:
            return JobResult.failed(job.id, FailureReason.CANCELLED, "The evaluation was cancelled and its processes were killed.").model_dump(mode="json")
        how = f"signal {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status) else f"exit code {os.WEXITSTATUS(status)}"
        return JobResult.failed(job.id, FailureReason.EVALUATOR_ERROR, f"The evaluation process died ({how}) before reporting a result; the evaluator may have crashed the interpreter.").model_dump(mode="json")

    def shutdown(self) -> None:
        for worker in self.workers.values():
            try:
                os.killpg(worker.pid, signal.SIGKILL)
            except OSError:
                pass
        for sandbox in self.sandboxes.values():
            sandbox.close()


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:60] or "job"


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    for name in config.get("preload", []):
        try:
            __import__(name)
        except ImportError:
            pass
    from genesis_core.plugins import get_host

    get_host().registry  # noqa: B018 - load the plugins once, before forking
    root = Path(config["root"])
    root.mkdir(parents=True, exist_ok=True)
    server = JobServer(root, list(config.get("preload", [])), bool(config.get("keep_job_dirs")))
    try:
        server.serve()
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
