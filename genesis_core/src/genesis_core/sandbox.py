"""Process isolation for candidate code.

Every candidate process (a compiler, a compiled binary, a Python function
call) starts from one fork server (`sandbox_server.py`) that runs inside the
strongest confinement the machine offers:

- bubblewrap (`bwrap`): its own mount namespace where the system folders and
  the Python installation are read-only, the job folders are the only
  writable place, everything else (home folders, results databases, the task's
  evaluator) is absent; a fresh /tmp; its own PID namespace (it sees no other
  process); its own empty network namespace; all capabilities dropped except
  the two the server needs to change user ids; no new privileges.
- without bubblewrap: `unshare -n` for the network when it works, nothing for
  the file system.
- always: per-process RLIMITs (address space, CPU time, processes, file size),
  an environment scrubbed of secrets, output caps, a wall-time kill of the
  whole process tree.
- as root (the usual case on CI machines and in containers): each candidate
  process tree runs under a fresh unprivileged user id, so it cannot signal
  or trace anything else, its process limit counts only its own processes,
  and killing "everything of that user id" kills the whole tree, daemons
  included. Job folders belong to a per-job group that only the job's
  processes join.

`Sandbox` owns one fork server. It is cheap to keep warm (the local backend
keeps one per set of mounts) and cheap to use from forked processes: a
request is one Unix-socket connection. `protections()` reports what is
active here, for `genesis doctor`; `warn_missing_protections()` says once per
process what is not.
"""

from __future__ import annotations

import ctypes
import fnmatch
import json
import os
import random
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from genesis_core.errors import GenesisError
from genesis_core.job import Limits
from genesis_core.language import ProcessResult

# Variables never passed to a candidate, besides those a job or the user lists.
SECRET_PATTERNS: tuple[str, ...] = (
    "*_API_KEY",
    "*_APIKEY",
    "*API_KEY*",
    "*_KEY",
    "*_TOKEN",
    "*TOKEN*",
    "*SECRET*",
    "*PASSWORD*",
    "*PASSWD*",
    "*CREDENTIAL*",
    "*_DSN",
    "DATABASE_URL",
    "AWS_*",
    "AZURE_*",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GCLOUD_*",
    "HF_*",
    "HUGGING_FACE_*",
    "GITHUB_*",
    "GH_*",
    "GITLAB_*",
    "SSH_AUTH_SOCK",
    "GPG_AGENT_INFO",
    "KUBECONFIG",
    "NETRC",
    "E2B_*",
    "GENESIS_*",
)
# Folders a program needs to start at all (read-only inside the sandbox).
SYSTEM_PATHS: tuple[str, ...] = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
# Threads of numeric libraries: one per process unless the user's environment says otherwise.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
MAX_RESULT_BYTES = 64 * 1024 * 1024
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; not exported by Python 3.11
START_TIMEOUT_S = 60.0
# Seconds the harness waits past a process's own time limit before calling the server lost.
SERVER_GRACE_S = 10.0


class SandboxError(GenesisError):
    """The sandbox itself failed (its server died or could not start), not the candidate."""


@dataclass(frozen=True)
class Protection:
    """One protection, whether it is active on this machine, and how (or why not)."""

    name: str
    active: bool
    detail: str


# -- what this machine offers ----------------------------------------------------


@cache
def bwrap_problem() -> str | None:
    """None when bubblewrap can make a sandbox here; otherwise why not."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    probe = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net", "--unshare-pid", "--die-with-parent", "true"]
    try:
        out = subprocess.run(probe, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed to start: {exc}"
    if out.returncode != 0:
        return f"bwrap cannot create namespaces here: {(out.stderr or out.stdout).strip()[:300]} (user namespaces may be disabled; run as root or enable kernel.unprivileged_userns_clone)"
    return None


@cache
def unshare_net_problem() -> str | None:
    """None when `unshare -n` gives a process an empty network namespace here."""
    exe = shutil.which("unshare")
    if exe is None:
        return "unshare (util-linux) is not installed"
    argv = [exe, "-n", "true"] if os.geteuid() == 0 else [exe, "-r", "-n", "true"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare failed: {exc}"
    if out.returncode != 0:
        return f"unshare -n is refused here: {(out.stderr or out.stdout).strip()[:300]}"
    return None


def can_switch_users() -> bool:
    """Candidates get their own user ids only when the harness runs as root."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def protections() -> list[Protection]:
    """Each protection and whether it is active here (for `genesis doctor` and the run's warning)."""
    bwrap = bwrap_problem()
    net = unshare_net_problem()
    root = can_switch_users()
    items = [
        Protection(
            "filesystem",
            bwrap is None,
            "bubblewrap: system folders read-only, only the job folder writable, home folders and results invisible"
            if bwrap is None
            else f"{bwrap}; candidates can read every file their user may read",
        ),
        Protection(
            "network",
            bwrap is None or net is None,
            "empty network namespace (bubblewrap)" if bwrap is None else ("empty network namespace (unshare -n)" if net is None else f"{net}; candidates can open connections"),
        ),
        Protection(
            "pid-namespace",
            bwrap is None,
            "candidates see only their own processes (bubblewrap)" if bwrap is None else "no PID namespace without bubblewrap; candidates can list other processes",
        ),
        Protection(
            "user-per-candidate",
            root,
            "each candidate process tree runs as its own unprivileged user: it cannot signal other processes, and the whole tree is killed by user id"
            if root
            else "the harness is not root, so candidates run as your user: a candidate that leaves its process group (setsid) can escape the kill, and RLIMIT_NPROC counts all your processes",
        ),
        Protection("rlimits", hasattr(os, "fork"), "address space, CPU time, process count and file size per process (setrlimit)"),
        Protection("environment", True, "API keys, tokens, passwords, cloud credentials, GENESIS_* and each job's scrub_env removed"),
        Protection("output-cap", True, "standard output and error capped at limits.max_output_bytes; the process is killed past it"),
        Protection("wall-time", True, "the whole process tree is killed past the time limit"),
    ]
    return items


_warned = False
_warn_lock = threading.Lock()


def missing_protections() -> list[Protection]:
    return [p for p in protections() if not p.active]


def warn_missing_protections(stream=None) -> list[Protection]:
    """Say once per process which protections are not active; returns them."""
    global _warned
    missing = missing_protections()
    with _warn_lock:
        if _warned or not missing:
            return missing
        _warned = True
    stream = stream or sys.stderr
    lines = "; ".join(f"{p.name}: {p.detail}" for p in missing)
    print(f"genesis: some sandbox protections are not active on this machine, the run goes on with the others ({lines}). `genesis doctor` shows them all.", file=stream)
    return missing


# -- the environment a candidate sees ---------------------------------------------


def is_secret(name: str, extra: Sequence[str] = ()) -> bool:
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, p.upper()) for p in (*SECRET_PATTERNS, *extra))


def scrub_environment(environ: Mapping[str, str] | None = None, extra: Sequence[str] = ()) -> dict[str, str]:
    """A copy of the environment without secrets (SECRET_PATTERNS and the `extra` globs)."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if not is_secret(k, extra)}


# -- the sandbox ---------------------------------------------------------------------


class SandboxSpec(BaseModel):
    """What a sandbox shows and allows; sandboxes with equal specs are interchangeable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    bubblewrap: bool = True  # use it where it works; False: the `unshare -n` fallback even where it does
    network: bool = False
    read_only: tuple[str, ...] = ()
    writable: tuple[str, ...] = ()
    preload: tuple[str, ...] = ()
    scrub_env: tuple[str, ...] = ()
    tmp_size_mb: int = 256


@dataclass
class Outcome:
    """What came back from one candidate process, before anyone interprets it."""

    returncode: int | None
    seconds: float
    killed: str | None
    stdout: bytes = b""
    stderr: bytes = b""
    truncated: bool = False
    # The result channel of a `call`: (arrival time, line) pairs.
    messages: list[tuple[float, bytes]] = field(default_factory=list)
    # The timing marks of a `call` (b"S" before, b"D" after the function), with the kernel's timestamps.
    marks: list[tuple[float, bytes]] = field(default_factory=list)

    def process_result(self) -> ProcessResult:
        killed = self.killed
        if killed is None and self.returncode is not None and self.returncode < 0:
            killed = _signal_name(-self.returncode)
        return ProcessResult(
            returncode=self.returncode,
            stdout=self.stdout.decode(errors="replace"),
            stderr=self.stderr.decode(errors="replace"),
            seconds=self.seconds,
            timed_out=self.killed in ("timeout", "cpu_time"),
            killed_reason=killed,
        )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


SERVER_PROGRAM = str(Path(__file__).with_name("sandbox_server.py"))


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Sandbox:
    """One fork server for candidate processes, and the client side of its socket.

    `root` is the writable folder that holds job folders (each job gets one
    from `new_workdir`). Start it once; `run` and `call` may then be used from
    any thread or from processes forked after `start`.
    """

    def __init__(self, root: Path, spec: SandboxSpec | None = None) -> None:
        self.root = Path(root).resolve()
        self.spec = spec or SandboxSpec()
        self.switch_users = self.spec.enabled and can_switch_users()
        self._process: subprocess.Popen | None = None
        self._control: Path | None = None
        self._owner = os.getpid()
        self._environments: dict[tuple[str, ...], dict[str, str]] = {}

    @classmethod
    def attach(cls, root: Path, spec: SandboxSpec, control: Path) -> Sandbox:
        """A handle to a server another process started (its `control` folder); closing it stops nothing."""
        sandbox = cls(root, spec)
        sandbox._control = Path(control)
        sandbox._owner = -1
        return sandbox

    # -- life cycle ----------------------------------------------------------

    @property
    def control(self) -> Path | None:
        """The folder of the server's socket (None before start)."""
        return self._control

    @property
    def socket_path(self) -> Path:
        if self._control is None:
            raise SandboxError("The sandbox is not started: call Sandbox.start() before running candidates.")
        return self._control / "server.sock"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Sandbox:
        if self.running:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        if self.switch_users:
            os.chmod(self.root, 0o711)  # candidates may reach their own folder, not list the others
        self._control = Path(tempfile.mkdtemp(prefix="genesis-sandbox-"))
        os.chmod(self._control, 0o700)
        config = {"socket": str(self.socket_path), "switch_user": self.switch_users, "preload": list(self.spec.preload)}
        argv = [*self._wrapper(), sys.executable, "-I", SERVER_PROGRAM, json.dumps(config)]
        env = self.base_environment()
        try:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=None,
                env=env,
                cwd="/",
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise SandboxError(f"Could not start the sandbox server ({argv[0]}): {exc}. Check `genesis doctor`.") from None
        line = self._read_ready()
        if line != b"ready\n":
            code = self._process.poll()
            self.close()
            raise SandboxError(
                f"The sandbox server did not start (exit code {code}, said {line!r}). "
                f"Run `genesis doctor` to see which protections work here, or set sandbox.enabled = false to run without them."
            )
        self._owner = os.getpid()
        return self

    def _read_ready(self) -> bytes:
        assert self._process is not None and self._process.stdout is not None
        box: list[bytes] = []
        reader = threading.Thread(target=lambda: box.append(self._process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_S)
        return box[0] if box else b""

    def close(self) -> None:
        """Stop the server (only in the process that started it) and everything it started."""
        if self._process is not None and os.getpid() == self._owner:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            if self._process.stdout:
                self._process.stdout.close()
        self._process = None
        if self._control is not None and os.getpid() == self._owner:
            shutil.rmtree(self._control, ignore_errors=True)
        self._control = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wrapper(self) -> list[str]:
        """The command that puts the server into its namespaces."""
        if not self.spec.enabled:
            return []
        if self.spec.bubblewrap and bwrap_problem() is None:
            return self._bwrap_argv()
        if not self.spec.network and unshare_net_problem() is None:
            return ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-r", "-n"]
        return []

    def _bwrap_argv(self) -> list[str]:
        argv = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if not self.spec.network:
            argv.append("--unshare-net")
        if os.geteuid() == 0:
            argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        for path in SYSTEM_PATHS:
            p = Path(path)
            if p.is_symlink():
                argv += ["--symlink", os.readlink(p), path]
            elif p.is_dir():
                argv += ["--ro-bind", path, path]
        # /tmp is empty and, for candidates with their own user ids, not writable: TMPDIR is the job folder,
        # so nothing one candidate writes outlives its job or reaches the next candidate. These mounts come
        # before the binds below, which may lie under /tmp or /dev (a virtualenv in /tmp, /dev/nvidia0).
        argv += ["--dev", "/dev", "--proc", "/proc", "--size", str(self.spec.tmp_size_mb * 1024 * 1024), "--tmpfs", "/tmp"]
        # The interpreter and every site-packages folder it reads (a .pth may add one outside its prefix).
        python = sorted(
            {sys.base_prefix, sys.prefix, sys.exec_prefix, str(Path(sys.executable).resolve().parent.parent)}
            | {p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)}
        )
        for path in python:
            argv += ["--ro-bind-try", path, path]
        for path in self.spec.read_only:
            flag = "--dev-bind-try" if path.startswith("/dev/") else "--ro-bind-try"
            argv += [flag, path, path]
        argv += ["--bind", str(self.root), str(self.root)]
        for path in self.spec.writable:
            argv += ["--bind-try", path, path]
        assert self._control is not None
        argv += ["--bind", str(self._control), str(self._control), "--ro-bind", SERVER_PROGRAM, SERVER_PROGRAM]
        # bubblewrap copies the modes of the hidden parents (/root is 0700): make the path traversable.
        bound = [Path(p) for p in (*SYSTEM_PATHS, *python, *self.spec.read_only, *self.spec.writable, str(self.root), str(self._control), SERVER_PROGRAM, "/proc")]
        parents = sorted({a for p in bound[len(SYSTEM_PATHS):] if p.exists() for a in p.parents if a != Path("/")}, key=lambda a: len(a.parts))
        for parent in parents:
            if not any(parent == b or b in parent.parents for b in bound):
                argv += ["--chmod", "0755", str(parent)]
        return [*argv, "--chdir", "/", "--"]

    def base_environment(self, extra_scrub: Sequence[str] = ()) -> dict[str, str]:
        """The scrubbed environment of candidate processes (computed once per sandbox and scrub list)."""
        key = tuple(extra_scrub)
        cached = self._environments.get(key)
        if cached is None:
            cached = scrub_environment(extra=(*self.spec.scrub_env, *extra_scrub))
            for name in THREAD_VARIABLES:
                cached.setdefault(name, "1")
            cached["PYTHONDONTWRITEBYTECODE"] = "1"
            cached.pop("PYTHONPATH", None)
            self._environments[key] = cached
        return dict(cached)

    # -- job folders -------------------------------------------------------------

    def new_workdir(self, name: str | None = None) -> Path:
        """A fresh folder under `root` that only one job's processes may write."""
        name = name or f"job-{os.getpid()}-{random.randrange(1 << 40):010x}"
        path = self.root / name
        path.mkdir(parents=True)
        self.adopt_workdir(path)
        return path

    def adopt_workdir(self, path: Path) -> None:
        """Give `path` (under `root`, or `root` itself) to a fresh job group, when users are switched."""
        if not self.switch_users:
            return
        gid = random.randrange(1 << 30, (1 << 31) - 2)
        os.chown(path, 0, gid)
        os.chmod(path, 0o2770)
        for dirpath, dirnames, filenames in os.walk(path):
            for name in dirnames + filenames:
                target = os.path.join(dirpath, name)
                os.chown(target, 0, gid, follow_symlinks=False)
                if not os.path.islink(target):
                    mode = os.stat(target).st_mode
                    os.chmod(target, (mode & 0o7700) | ((mode & 0o700) >> 3) | (0o2000 if os.path.isdir(target) else 0))

    def _gid_of(self, workdir: Path) -> int:
        return os.stat(workdir).st_gid

    # -- running candidate processes -------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        limits: Limits,
        input: bytes | str | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        scrub_env: Sequence[str] = (),
    ) -> ProcessResult:
        """Run `argv` in `cwd` (a job folder) under the sandbox; the harness measures and caps it."""
        data = input.encode() if isinstance(input, str) else (input or b"")
        request = {"op": "run", "argv": [str(a) for a in argv]}
        outcome = self.execute(request, cwd=cwd, limits=limits, payload=data, timeout=timeout, env=env, scrub_env=scrub_env)
        return outcome.process_result()

    def call(
        self,
        module_file: Path,
        function: str,
        payload: bytes,
        *,
        cwd: Path,
        limits: Limits,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        scrub_env: Sequence[str] = (),
    ) -> Outcome:
        """Call `function` of the Python file `module_file` with JSON `payload` ({"args", "kwargs"})."""
        request = {"op": "call", "module": str(module_file), "function": function}
        return self.execute(request, cwd=cwd, limits=limits, payload=payload, timeout=timeout, env=env, scrub_env=scrub_env)

    def execute(
        self,
        request: dict,
        *,
        cwd: Path,
        limits: Limits,
        payload: bytes,
        timeout: float | None,
        env: Mapping[str, str] | None,
        scrub_env: Sequence[str],
    ) -> Outcome:
        cwd = Path(os.path.abspath(cwd))
        if cwd != self.root and not str(cwd).startswith(f"{self.root}{os.sep}"):
            raise SandboxError(f"The folder {cwd} is not inside the sandbox's job root {self.root}; create job folders with Sandbox.new_workdir().")
        timeout = limits.wall_time_s if timeout is None else timeout
        full_env = self.base_environment(scrub_env)
        full_env.update({"HOME": str(cwd), "TMPDIR": str(cwd), "PWD": str(cwd)})
        if env:
            full_env.update({k: v for k, v in env.items() if not is_secret(k, (*self.spec.scrub_env, *scrub_env))})
        server_env = self.base_environment()  # what the server process itself has
        request = {
            **request,
            "cwd": str(cwd),
            "env": {
                "set": {k: v for k, v in full_env.items() if server_env.get(k) != v},
                "unset": [k for k in server_env if k not in full_env],
            },
            "timeout": timeout,
            "gid": self._gid_of(cwd),
            "limits": {
                "memory_mb": limits.memory_mb,
                "cpu_time_s": limits.cpu_time_s or timeout + 1,
                "max_processes": limits.max_processes,
                "max_file_size_mb": limits.max_file_size_mb,
            },
        }
        return _Exchange(self.socket_path, request, payload, limits.max_output_bytes, timeout).run()


def _read_marks(sock: socket.socket) -> list[tuple[float, bytes]]:
    """The timing marks queued on `sock`, each with the kernel's receive timestamp (CLOCK_REALTIME)."""
    sock.setblocking(False)
    marks = []
    while True:
        try:
            data, ancillary, _, _ = sock.recvmsg(16, 256)
        except (BlockingIOError, OSError):
            return marks
        if not data:
            return marks
        stamp = next((struct.unpack("qq", raw[:16]) for level, kind, raw in ancillary if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS), None)
        if stamp is not None:
            marks.append((stamp[0] + stamp[1] / 1e9, data))


class _Exchange:
    """One request to the server: send the pipes, feed input, collect output, wait for the answer."""

    def __init__(self, socket_path: Path, request: dict, payload: bytes, max_output: int, timeout: float) -> None:
        self.socket_path = socket_path
        self.request = request
        self.payload = payload
        self.max_output = max_output
        self.timeout = timeout
        self._open_stdin: set[int] = set()

    def run(self) -> Outcome:
        stdin_r, stdin_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        marks_r, marks_w = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        marks_r.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                conn.connect(str(self.socket_path))
                socket.send_fds(conn, [(json.dumps(self.request) + "\n").encode()], [stdin_r, out_w, err_w, res_w, marks_w.fileno()])
            except OSError as exc:
                raise SandboxError(f"The sandbox server is not reachable ({exc}); it may have been killed. Restart the run; `genesis doctor` checks the sandbox.") from None
            finally:
                for fd in (stdin_r, out_w, err_w, res_w):
                    os.close(fd)
                marks_w.close()
            outcome = self._collect(conn, stdin_w, out_r, err_r, res_r)
            outcome.marks = _read_marks(marks_r)
            return outcome
        finally:
            conn.close()  # a server still running the process reads this as 'kill'
            marks_r.close()
            for fd in (out_r, err_r, res_r):
                os.close(fd)

    def _collect(self, conn: socket.socket, stdin_w: int, out_r: int, err_r: int, res_r: int) -> Outcome:
        """Owns `stdin_w`: closes it in every case."""
        sel = selectors.DefaultSelector()
        try:
            return self._loop(sel, conn, stdin_w, out_r, err_r, res_r)
        finally:
            sel.close()
            if stdin_w in self._open_stdin:
                os.close(stdin_w)

    def _loop(self, sel: selectors.BaseSelector, conn: socket.socket, stdin_w: int, out_r: int, err_r: int, res_r: int) -> Outcome:
        for fd in (out_r, err_r, res_r):
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        sel.register(conn, selectors.EVENT_READ)
        pending = memoryview(self.payload)
        self._open_stdin = {stdin_w}
        if pending:
            os.set_blocking(stdin_w, False)
            sel.register(stdin_w, selectors.EVENT_WRITE)
        else:
            os.close(stdin_w)
            self._open_stdin.clear()
        out, err, answer_buf, result_buf = bytearray(), bytearray(), bytearray(), bytearray()
        messages: list[tuple[float, bytes]] = []
        answer: dict | None = None
        killed_here: str | None = None
        truncated = False
        open_fds = {out_r, err_r, res_r}
        deadline = time.monotonic() + self.timeout + SERVER_GRACE_S
        drain_deadline: float | None = None

        def kill(reason: str) -> None:
            nonlocal killed_here
            if killed_here is None:
                killed_here = reason
                try:
                    conn.sendall(f"kill {reason}\n".encode())
                except OSError:
                    pass

        while answer is None or (open_fds and time.monotonic() < (drain_deadline or 0)):
            now = time.monotonic()
            if answer is None and now > deadline:
                raise SandboxError(f"The sandbox server did not answer within {self.timeout + SERVER_GRACE_S:.0f} s for a process limited to {self.timeout:.0f} s; it is stuck or dead.")
            limit = (drain_deadline if answer is not None else deadline) - now
            for key, _ in sel.select(max(0.0, limit)):
                fd = key.fileobj
                if fd is conn:
                    data = conn.recv(65536)
                    if not data:
                        sel.unregister(conn)
                        if answer is None:
                            raise SandboxError("The sandbox server closed the connection without an answer; it was probably killed.")
                        continue
                    answer_buf += data
                    if answer_buf.endswith(b"\n"):
                        answer = json.loads(answer_buf)
                        drain_deadline = time.monotonic() + 2.0
                    continue
                if fd == stdin_w:
                    try:
                        written = os.write(stdin_w, pending[: 1 << 16])
                    except (BrokenPipeError, OSError):
                        written = len(pending)
                    pending = pending[written:]
                    if not pending:
                        sel.unregister(stdin_w)
                        os.close(stdin_w)
                        self._open_stdin.clear()
                    continue
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(fd)
                    open_fds.discard(fd)
                    continue
                if fd == res_r:
                    result_buf += chunk
                    while b"\n" in result_buf:
                        line, _, rest = bytes(result_buf).partition(b"\n")
                        messages.append((time.monotonic(), line))
                        result_buf = bytearray(rest)
                    if len(result_buf) > MAX_RESULT_BYTES:
                        kill("result_limit")
                        result_buf.clear()
                    continue
                target = out if fd == out_r else err
                room = self.max_output - len(out) - len(err)
                if room > 0:
                    target += chunk[:room]
                if len(chunk) > room:
                    truncated = True
                    kill("output_limit")
        if answer is None or "error" in answer:
            raise SandboxError(f"The sandbox server refused the request: {answer and answer.get('error')}")
        if result_buf:
            messages.append((time.monotonic(), bytes(result_buf)))
        killed = answer.get("killed")
        if killed == "client_gone":
            killed = killed_here
        killed = killed or killed_here
        code = answer.get("returncode")
        if killed is None and code == -signal.SIGXCPU:
            killed = "cpu_time"
        if killed is None and code == -signal.SIGXFSZ:
            killed = "file_size"
        if killed is None and answer.get("leftover"):
            killed = "background_processes"
        return Outcome(
            returncode=code,
            seconds=float(answer.get("seconds", 0.0)),
            killed=killed,
            stdout=bytes(out),
            stderr=bytes(err),
            truncated=truncated,
            messages=messages,
        )
