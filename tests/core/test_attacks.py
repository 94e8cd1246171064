"""Hostile candidates, run through the real local backend (warm and cold).

Each attack must be contained while the run goes on: the job comes back as a
failed candidate with a clear reason, nothing it started survives the job,
nothing outside its job folder changed, and the same backend then scores an
honest candidate. docs/security.md says what each protection stops.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import textwrap
import threading
import uuid
from pathlib import Path

import pytest
from genesis_core.backends.local import LocalBackend
from genesis_core.job import FailureReason, Job, JobResult, Limits
from genesis_core.sandbox import bwrap_problem, can_switch_users

SECRET_KEY = "sk-genesis-canary-" + uuid.uuid4().hex
PRIVATE_NOTE = "private-canary-" + uuid.uuid4().hex
SLEEP_MARK = "7654321"  # `sleep 7654321`: a process we can look for afterwards
CANDIDATE_UIDS = range(1 << 30, (1 << 31) - 1)  # where the sandbox picks candidate user ids

EVALUATOR = '''
import json
from pathlib import Path
from genesis_core.evaluation import EvaluationResult, measure

CONTEXT = json.loads((Path(__file__).parent / "context.json").read_text())
DATA = [5, 3, 9, 1]

def evaluate(candidate):
    value = candidate.call("solve", DATA, CONTEXT, timeout=CONTEXT["call_timeout"])
    correct = value == sorted(DATA)
    return EvaluationResult(score=1.0 if correct else 0.0, correct=correct, feedback=f"returned {value!r}"[:3000])

def evaluate_timed(candidate):
    m = measure(candidate, "solve", [DATA, CONTEXT], repeats=2, validate=lambda v, a: v == sorted(a[0]))
    return EvaluationResult(score=1.0 / m.time, metrics=m.metrics())
'''

HONEST = """
def solve(xs, ctx):
    return sorted(xs)
"""

ATTACKS = {
    "fork_bomb": """
        import os
        def solve(xs, ctx):
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
    """,
    "infinite_loop": """
        def solve(xs, ctx):
            while True:
                pass
    """,
    "memory_hog": """
        def solve(xs, ctx):
            hoard = []
            while True:
                hoard.append(bytearray(64 * 2**20))
    """,
    "background_sleeper": f"""
        import os, subprocess
        def solve(xs, ctx):
            subprocess.Popen(["sleep", "{SLEEP_MARK}"], start_new_session=True)
            if os.fork() == 0:  # a daemon: double fork into a new session
                os.setsid()
                if os.fork() == 0:
                    os.execvp("sleep", ["sleep", "{SLEEP_MARK}"])
                os._exit(0)
            return sorted(xs)
    """,
    "env_secrets": """
        import os
        def solve(xs, ctx):
            found = {k: v for k, v in os.environ.items() if "canary" in v}
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        text = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
                    except OSError:
                        continue
                    if "canary" in text:
                        found[pid] = text
            return {"found": found, "key": os.environ.get("OPENAI_API_KEY"), "note": os.environ.get("MY_PRIVATE_NOTE")}
    """,
    "files_outside": """
        import os
        def solve(xs, ctx):
            report = {}
            for path in ctx["targets"]:
                try:
                    report[path] = open(path, "rb").read(200).decode(errors="replace")
                except OSError as exc:
                    report[path] = type(exc).__name__
                try:
                    os.remove(path)
                    report[path] += " and deleted"
                except OSError:
                    pass
            for path in ctx["plant"] + [os.path.join(os.path.dirname(os.getcwd()), "planted.txt")]:
                try:
                    with open(path, "w") as f:
                        f.write("planted")
                    report[path] = "written"
                except OSError as exc:
                    report[path] = type(exc).__name__
            return report
    """,
    "fake_score": """
        import json, os
        def solve(xs, ctx):
            fake = json.dumps({"score": 1e9, "correct": True, "ok": True, "metrics": {"time_s": 0}})
            for name in ("score", "score.txt", "metrics.json", "result.json", "RESULT.json"):
                for folder in (".", "..", "/tmp", os.environ.get("HOME", "."), ctx["results_dir"]):
                    try:
                        with open(os.path.join(folder, name), "w") as f:
                            f.write(fake)
                    except OSError:
                        pass
            print(fake)
            return None
    """,
    "print_gigabytes": """
        import sys
        def solve(xs, ctx):
            chunk = "x" * (1 << 20)
            while True:
                sys.stdout.write(chunk)
    """,
    "network": """
        import socket
        def solve(xs, ctx):
            conn = socket.create_connection(("127.0.0.1", ctx["port"]), timeout=3)
            conn.sendall(b"stolen secrets")
            return sorted(xs)
    """,
    "kill_parent": """
        import os, signal
        def solve(xs, ctx):
            for pid in filter(None, (ctx["test_pid"], ctx["server_pid"], 1)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            os.kill(-1, signal.SIGKILL)  # everything it may signal: only its own processes
            os.kill(os.getppid(), signal.SIGKILL)
            return sorted(xs)
    """,
    "monkeypatch_helpers": """
        import builtins, time
        time.perf_counter = lambda: 0.0
        time.perf_counter_ns = lambda: 0
        time.monotonic = lambda: 0.0
        try:
            import genesis_core.evaluation as ev
            ev.measure = lambda *a, **k: None
            ev.EvaluationResult = dict
        except ImportError:
            pass
        builtins.sorted = lambda xs, **kw: list(xs)
        def solve(xs, ctx):
            time.sleep(0.3)
            return list(reversed(xs))
    """,
}

EXPECTED = {
    "fork_bomb": (FailureReason.TIMEOUT, "did not return within"),
    "infinite_loop": (FailureReason.TIMEOUT, "did not return within"),
    "memory_hog": (FailureReason.MEMORY, "MemoryError"),
    "background_sleeper": (FailureReason.CRASH, "background"),
    "env_secrets": (FailureReason.INCORRECT, "'key': None"),
    "files_outside": (FailureReason.INCORRECT, "Error"),
    "fake_score": (FailureReason.INCORRECT, "returned None"),
    "print_gigabytes": (FailureReason.OUTPUT_LIMIT, "output limit"),
    "network": (FailureReason.CRASH, "Error"),
    "kill_parent": (FailureReason.CRASH, "PermissionError"),
    "monkeypatch_helpers": (FailureReason.INCORRECT, "wrong answer"),
}


class Listener:
    """A TCP listener on 127.0.0.1 that counts what reaches it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


def descendants(root_pid: int) -> list[tuple[int, int, str]]:
    """(pid, uid, cmdline) of every live descendant of `root_pid`."""
    parents: dict[int, int] = {}
    info: dict[int, tuple[int, str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            status = Path(f"/proc/{name}/status").read_text()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith("Z"):
            continue
        parents[int(name)] = int(fields["PPid"])
        info[int(name)] = (int(fields["Uid"].split()[0]), cmdline)
    out = []
    for pid in info:
        p = pid
        while p in parents and p != root_pid and p > 1:
            p = parents[p]
        if p == root_pid and pid != root_pid:
            out.append((pid, *info[pid]))
    return out


def marked_processes() -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if f"sleep {SLEEP_MARK}" in Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode():
                    out.append(int(name))
            except OSError:
                pass
    return out


@pytest.fixture(scope="module", params=["warm", "cold"])
def arena(request, tmp_path_factory):
    """One backend for every attack (the run goes on), with secrets in its environment and a results folder to protect."""
    base = tmp_path_factory.mktemp(f"attacks-{request.param}")
    saved = {k: os.environ.get(k) for k in ("OPENAI_API_KEY", "MY_PRIVATE_NOTE")}
    os.environ["OPENAI_API_KEY"] = SECRET_KEY
    os.environ["MY_PRIVATE_NOTE"] = PRIVATE_NOTE
    results = base / "results"
    results.mkdir()
    database = results / "genesis.db"
    database.write_text("precious results " + uuid.uuid4().hex)
    task = base / "task"
    task.mkdir()
    (task / "evaluate.py").write_text(EVALUATOR)
    listener = Listener()
    loop = asyncio.new_event_loop()
    backend = LocalBackend({"warm": request.param == "warm", "max_jobs": 2, "jobs_dir": str(base / "jobs")})
    loop.run_until_complete(backend.start())
    context = {
        "call_timeout": 4,
        "port": listener.port,
        "test_pid": os.getpid(),
        "server_pid": backend.server_pid,
        "results_dir": str(results),
        "targets": [str(database), str(task / "evaluate.py"), "/root/.bashrc", "/etc/shadow"],
        "plant": [str(base / "planted.txt"), str(results / "planted.txt")],
    }
    (task / "context.json").write_text(json.dumps(context))

    class Arena:
        pass

    arena = Arena()
    arena.mode, arena.backend, arena.loop, arena.task, arena.base = request.param, backend, loop, task, base
    arena.database, arena.database_text, arena.listener = database, database.read_text(), listener

    def run(source: str, function: str = "evaluate") -> JobResult:
        job = Job(
            id=f"attack-{uuid.uuid4().hex[:8]}",
            language="python",
            files={"main.py": textwrap.dedent(source)},
            main_file="main.py",
            task_dir=str(task),
            evaluator_function=function,
            limits=Limits(wall_time_s=30, memory_mb=640, max_output_bytes=200_000),
            scrub_env=["MY_PRIVATE_*"],
        )
        return loop.run_until_complete(backend.run(job))

    arena.run = run
    yield arena
    loop.run_until_complete(backend.close())
    loop.close()
    listener.close()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def assert_nothing_left(arena) -> None:
    leftovers = [(pid, uid, cmd[:80]) for pid, uid, cmd in descendants(os.getpid()) if uid in CANDIDATE_UIDS]
    assert leftovers == [], f"candidate processes survived their job: {leftovers}"
    assert marked_processes() == [], "the background `sleep` survived its job"
    jobs = arena.base / "jobs"
    if jobs.exists():
        job_dirs = [p for p in jobs.rglob("*") if p.is_dir() and p.parent != jobs]
        assert job_dirs == [], f"job folders were left behind: {job_dirs}"
    assert arena.database.read_text() == arena.database_text, "the results database changed"
    assert not (arena.base / "planted.txt").exists()
    assert not (arena.database.parent / "planted.txt").exists()
    assert sorted(p.name for p in arena.database.parent.iterdir()) == ["genesis.db"], "the candidate wrote into the results folder"


@pytest.mark.slow
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_is_contained(arena, attack: str):
    if attack in ("files_outside", "network", "env_secrets") and bwrap_problem() is not None:
        pytest.skip(f"needs bubblewrap: {bwrap_problem()}")
    if attack in ("fork_bomb", "kill_parent", "background_sleeper") and not can_switch_users():
        pytest.skip("needs the harness to run as root (a user id per candidate)")
    function = "evaluate_timed" if attack == "monkeypatch_helpers" else "evaluate"
    result = arena.run(ATTACKS[attack], function)
    reason, phrase = EXPECTED[attack]
    assert not result.ok, f"{attack} was scored as a success: {result}"
    assert result.failure == reason, f"{attack}: {result.failure}: {result.error}"
    assert phrase in result.error, f"{attack}: the reason does not say what happened: {result.error}"
    assert result.score in (None, 0.0)
    dumped = result.model_dump_json()
    assert SECRET_KEY not in dumped and PRIVATE_NOTE not in dumped
    assert "precious results" not in dumped, "the candidate read the results database"
    assert_nothing_left(arena)
    if attack == "network":
        assert arena.listener.connections == 0
    # The run goes on: the same backend scores an honest candidate right after.
    honest = arena.run(HONEST)
    assert honest.ok and honest.score == 1.0, f"after {attack}: {honest.failure}: {honest.error}"


@pytest.mark.slow
def test_patched_clocks_do_not_change_the_measured_time(arena):
    source = """
        import time
        _sleep = time.sleep
        time.perf_counter = lambda: 0.0
        time.perf_counter_ns = lambda: 0
        time.monotonic = lambda: 0.0
        time.time = lambda: 0.0
        def solve(xs, ctx):
            _sleep(0.3)
            return sorted(xs)
    """
    result = arena.run(source, "evaluate_timed")
    assert result.ok, result.error
    assert result.metrics["best_s"] >= 0.3, "the candidate's own clock changed the harness's measurement"
    assert_nothing_left(arena)
