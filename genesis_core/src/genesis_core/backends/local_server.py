"""The warm job server of the local backend: one fork per evaluation job.

`LocalBackend` starts this module once (`python -m
genesis_core.backends.local_server CONFIG`) and talks to it in JSON lines:

    -> {"op": "job", "handle": "...", "job": {...Job...}}
    -> {"op": "kill", "handle": "...", "reason": "timeout" | "cancelled"}
    <- {"handle": "...", "result": {...JobResult...}}

The server has genesis-core, the plugins and each task's evaluator module
already imported, and keeps one started `Sandbox` (with its own warm fork
server inside bubblewrap) per kind of job. For each job it forks: the child
runs `genesis_core.worker.run_job`, the same function `python -m
genesis_core.worker` runs, and sends its result back through a pipe. A job
that runs past its time, or is cancelled, is killed as a whole process
group; its candidate processes die with it because the sandbox kills every
process tree whose client has gone.
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
    def __init__(self, handle: str, job: Job, pid: int, result_fd: int, workdir: Path) -> None:
        self.handle = handle
        self.job = job
        self.pid = pid
        self.result_fd = result_fd
        self.workdir = workdir
        self.buffer = bytearray()
        self.killed: str | None = None


class JobServer:
    def __init__(self, root: Path, preload: list[str], keep_job_dirs: bool) -> None:
        self.root = root
        self.preload = preload
        self.keep = keep_job_dirs
        self.sandboxes: dict[SandboxSpec, Sandbox] = {}
        self.languages: dict[tuple[str, str], Language] = {}
        self.running: dict[int, Running] = {}
        self.by_handle: dict[str, Running] = {}
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.wake_r, selectors.EVENT_READ, "child")
        self.selector.register(sys.stdin.buffer.raw.fileno(), selectors.EVENT_READ, "stdin")
        self.stdin_buffer = bytearray()
        self.out = sys.stdout.buffer
        self.stdin_open = True

    # -- protocol ---------------------------------------------------------------------

    def send(self, message: dict) -> None:
        self.out.write((json.dumps(message) + "\n").encode())
        self.out.flush()

    def serve(self) -> None:
        self.send({"ready": True, "pid": os.getpid()})
        while self.stdin_open or self.running:
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
                    self.read_result(key.data)
        self.shutdown()

    def read_stdin(self) -> None:
        data = os.read(sys.stdin.fileno(), 1 << 20)
        if not data:
            self.selector.unregister(sys.stdin.fileno())
            self.stdin_open = False
            for running in list(self.running.values()):
                self.kill(running, "cancelled")
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
            running = self.by_handle.get(message["handle"])
            if running is not None:
                self.kill(running, message.get("reason", "cancelled"))

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
            workdir = sandbox.new_workdir(f"{_safe(job.id)}-{handle[-8:]}")
        except SandboxError as exc:
            self.send({"handle": handle, "result": JobResult.failed(job.id, FailureReason.SANDBOX_ERROR, str(exc)).model_dump(mode="json")})
            return
        except Exception as exc:
            result = JobResult.failed(job.id, FailureReason.BACKEND_ERROR, f"The local backend could not start the job: {type(exc).__name__}: {exc}")
            self.send({"handle": handle, "result": result.model_dump(mode="json")})
            return
        try:  # the evaluator's module, imported once here, is inherited by every job's fork
            load_evaluator(Path(job.task_dir), job.evaluator)
        except BaseException:  # noqa: BLE001 - the job's own process reports it properly
            pass
        read_fd, write_fd = os.pipe()
        gc.freeze()  # the child neither scans nor copies what the server has loaded
        pid = os.fork()
        if pid == 0:
            self.child(job, sandbox, language, workdir, read_fd, write_fd)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        running = Running(handle, job, pid, read_fd, workdir)
        self.running[pid] = running
        self.by_handle[handle] = running
        self.selector.register(read_fd, selectors.EVENT_READ, running)

    def child(self, job: Job, sandbox: Sandbox, language: Language, workdir: Path, read_fd: int, write_fd: int) -> None:
        """The job's own process: never returns."""
        try:
            os.setsid()
            os.close(read_fd)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(2, 1)  # an evaluator writing to fd 1 from C must not corrupt the protocol
            try:
                result = run_job(job, workdir, sandbox=sandbox, language=language)
            except BaseException as exc:  # noqa: BLE001
                result = JobResult.failed(job.id, FailureReason.BACKEND_ERROR, f"The worker failed: {type(exc).__name__}: {exc}", artifacts={"worker_traceback": traceback.format_exc()})
            data = result.model_dump_json().encode()
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view):]
        finally:
            os._exit(0)

    def read_result(self, running: Running) -> None:
        if running.result_fd < 0:  # closed by reap() earlier in the same batch of events
            return
        try:
            chunk = os.read(running.result_fd, 1 << 20)
        except BlockingIOError:
            return
        if chunk:
            running.buffer += chunk
        else:
            self.selector.unregister(running.result_fd)
            os.close(running.result_fd)
            running.result_fd = -1

    def kill(self, running: Running, reason: str) -> None:
        if running.killed is None:
            running.killed = reason
        try:
            os.killpg(running.pid, signal.SIGKILL)
        except OSError:
            pass

    def reap(self) -> None:
        for pid, running in list(self.running.items()):
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
            if running.result_fd >= 0:
                os.set_blocking(running.result_fd, True)
                while chunk := os.read(running.result_fd, 1 << 20):
                    running.buffer += chunk
                self.selector.unregister(running.result_fd)
                os.close(running.result_fd)
                running.result_fd = -1
            del self.running[pid]
            self.by_handle.pop(running.handle, None)
            self.send({"handle": running.handle, "result": self.result_of(running, status)})
            if not self.keep:
                shutil.rmtree(running.workdir, ignore_errors=True)

    def result_of(self, running: Running, status: int) -> dict:
        job = running.job
        if running.killed == "timeout":
            return JobResult.failed(job.id, FailureReason.TIMEOUT, f"The evaluation ran past its wall time of {job.limits.wall_time_s:.0f} s and was killed with all its processes.").model_dump(mode="json")
        if running.killed is not None:
            return JobResult.failed(job.id, FailureReason.CANCELLED, "The evaluation was cancelled and its processes were killed.").model_dump(mode="json")
        if running.buffer:
            try:
                return JobResult.model_validate_json(bytes(running.buffer)).model_dump(mode="json")
            except ValueError as exc:
                return JobResult.failed(job.id, FailureReason.BACKEND_ERROR, f"The job process sent an unreadable result: {exc}").model_dump(mode="json")
        how = f"signal {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status) else f"exit code {os.WEXITSTATUS(status)}"
        return JobResult.failed(job.id, FailureReason.EVALUATOR_ERROR, f"The evaluation process died ({how}) before reporting a result; the evaluator may have crashed the interpreter.").model_dump(mode="json")

    def shutdown(self) -> None:
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
