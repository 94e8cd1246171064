"""The sandbox: what candidate processes can and cannot do, measured from outside."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from genesis_core.job import Limits
from genesis_core.sandbox import (
    Sandbox,
    SandboxError,
    SandboxSpec,
    bwrap_problem,
    can_switch_users,
    protections,
    scrub_environment,
    warn_missing_protections,
)

needs_bwrap = pytest.mark.skipif(bwrap_problem() is not None, reason=f"needs bubblewrap: {bwrap_problem()}")
needs_root = pytest.mark.skipif(not can_switch_users(), reason="needs the harness to run as root")
LIMITS = Limits(wall_time_s=20, max_output_bytes=10_000)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with Sandbox(tmp_path_factory.mktemp("sandbox-root")) as box:
        yield box


@pytest.fixture
def workdir(sandbox):
    path = sandbox.new_workdir()
    yield path
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def sh(sandbox, workdir, script: str, **kwargs):
    return sandbox.run(["sh", "-c", script], cwd=workdir, limits=kwargs.pop("limits", LIMITS), **kwargs)


# -- what this machine offers ----------------------------------------------------------


def test_protections_name_each_protection_and_say_how():
    found = {p.name: p for p in protections()}
    assert {"filesystem", "network", "pid-namespace", "user-per-candidate", "rlimits", "environment", "output-cap", "wall-time"} <= set(found)
    assert all(p.detail for p in found.values())
    assert found["filesystem"].active == (bwrap_problem() is None)


def test_missing_protections_are_reported_once():
    first, second = io.StringIO(), io.StringIO()
    missing = warn_missing_protections(first)
    warn_missing_protections(second)
    if missing:
        assert all(p.name in first.getvalue() for p in missing) or first.getvalue() == ""  # said now, or earlier in this process
    else:
        assert first.getvalue() == ""
    assert second.getvalue() == ""


def test_secrets_are_scrubbed_and_the_rest_kept():
    env = {
        "PATH": "/usr/bin",
        "OPENAI_API_KEY": "sk-1",
        "ANTHROPIC_API_KEY": "sk-2",
        "GITHUB_TOKEN": "t",
        "AWS_SECRET_ACCESS_KEY": "a",
        "DB_PASSWORD": "p",
        "GENESIS_RUN__SEED": "1",
        "MY_THING": "x",
        "LANG": "C.UTF-8",
    }
    kept = scrub_environment(env, extra=["MY_*"])
    assert kept == {"PATH": "/usr/bin", "LANG": "C.UTF-8"}


# -- running programs ----------------------------------------------------------------------


def test_output_input_exit_code_and_harness_time(sandbox, workdir):
    result = sh(sandbox, workdir, "read line; echo got:$line; echo oops >&2; exit 3", input="hello\n")
    assert result.returncode == 3
    assert result.stdout == "got:hello\n"
    assert result.stderr == "oops\n"
    assert result.seconds > 0 and not result.timed_out


def test_wall_time_kills_the_whole_tree(sandbox, workdir):
    result = sh(sandbox, workdir, "sleep 300 & sleep 300; echo never", timeout=1.0)
    assert result.timed_out and result.killed_reason == "timeout"
    assert "never" not in result.stdout


def test_output_is_capped_and_the_process_killed(sandbox, workdir):
    result = sh(sandbox, workdir, "yes genesis")
    assert result.killed_reason == "output_limit"
    assert len(result.stdout) + len(result.stderr) <= LIMITS.max_output_bytes


def test_cpu_time_limit(sandbox, workdir):
    limits = Limits(wall_time_s=30, cpu_time_s=1)
    result = sandbox.run(["sh", "-c", "while :; do :; done"], cwd=workdir, limits=limits)
    assert result.killed_reason == "cpu_time" and result.timed_out


def test_file_size_limit(sandbox, workdir):
    limits = Limits(wall_time_s=30, max_file_size_mb=1)
    result = sandbox.run(["sh", "-c", "head -c 5000000 /dev/zero > big.bin"], cwd=workdir, limits=limits)
    assert result.returncode != 0
    assert (workdir / "big.bin").stat().st_size <= 1024 * 1024


def test_background_processes_are_killed_and_reported(sandbox, workdir):
    result = sh(sandbox, workdir, "setsid sleep 4242 >/dev/null 2>&1 & echo started")
    assert result.stdout == "started\n"
    assert result.killed_reason == "background_processes"


def test_environment_is_scrubbed_and_home_is_the_job_folder(sandbox, workdir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    monkeypatch.setenv("PROJECT_PRIVATE", "private")
    result = sh(sandbox, workdir, "env", scrub_env=["PROJECT_*"])
    env = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert "OPENAI_API_KEY" not in env and "PROJECT_PRIVATE" not in env
    assert env["HOME"] == str(workdir) and env["TMPDIR"] == str(workdir)


def test_the_job_folder_is_writable(sandbox, workdir):
    result = sh(sandbox, workdir, "echo data > out.txt && mkdir sub && echo x > sub/y && cat out.txt")
    assert result.returncode == 0, result.stderr
    assert (workdir / "out.txt").read_text() == "data\n"


def test_a_folder_outside_the_root_is_refused(sandbox, tmp_path):
    with pytest.raises(SandboxError, match="not inside the sandbox's job root"):
        sandbox.run(["true"], cwd=tmp_path, limits=LIMITS)


@needs_bwrap
def test_files_outside_the_job_folder_are_invisible_or_read_only(sandbox, workdir, tmp_path):
    secret = tmp_path / "results.db"
    secret.write_text("precious")
    result = sh(sandbox, workdir, f"cat {secret}; rm -f {secret}; touch /usr/planted; ls /root/.bashrc; echo done")
    assert "precious" not in result.stdout
    assert secret.read_text() == "precious"
    assert not Path("/usr/planted").exists()
    assert result.stdout.strip().endswith("done")


@needs_bwrap
def test_no_network(sandbox, workdir):
    result = sh(sandbox, workdir, "cat /proc/net/dev | tail -n +3 | cut -d: -f1")
    assert result.stdout.split() in ([], ["lo"])


@needs_bwrap
def test_only_its_own_processes_are_visible(sandbox, workdir):
    result = sh(sandbox, workdir, "ls /proc | grep -c '^[0-9]'")
    assert int(result.stdout) < 10  # bubblewrap's init, the fork server, this shell and ls


@needs_root
def test_each_process_tree_gets_its_own_user_and_jobs_cannot_read_each_other(sandbox):
    first, second = sandbox.new_workdir(), sandbox.new_workdir()
    (first / "mine.txt").write_text("first job's data")
    sandbox.adopt_workdir(first)
    a = sh(sandbox, first, "id -u; cat mine.txt")
    b = sh(sandbox, second, f"id -u; cat {first}/mine.txt; ls {first}")
    assert a.stdout.splitlines()[1] == "first job's data"
    assert a.stdout.split()[0] != b.stdout.split()[0]
    assert int(a.stdout.split()[0]) >= 1 << 30
    assert "first job's data" not in b.stdout
    assert "Permission denied" in b.stderr


def test_call_returns_json_values(sandbox, workdir):
    (workdir / "m.py").write_text("import numpy as np\ndef f(n, scale=1):\n    print('side output')\n    return {'a': np.arange(n) * scale, 't': (1, 2.5), 'n': np.float64(2)}\n")
    sandbox.adopt_workdir(workdir)
    outcome = sandbox.call(workdir / "m.py", "f", json.dumps({"args": [3], "kwargs": {"scale": 2}}).encode(), cwd=workdir, limits=LIMITS)
    line = [m for _, m in outcome.messages if m.startswith(b"R ")][-1]
    assert json.loads(line[2:]) == {"value": {"a": [0, 2, 4], "t": [1, 2.5], "n": 2.0}}
    assert outcome.stdout == b"side output\n"
    assert [m for _, m in outcome.marks] == [b"S", b"D"]


def test_without_protections_limits_and_timeouts_still_hold(tmp_path):
    with Sandbox(tmp_path / "root", SandboxSpec(enabled=False)) as box:
        folder = box.new_workdir()
        ok = box.run(["sh", "-c", "echo fine"], cwd=folder, limits=LIMITS)
        slow = box.run(["sleep", "60"], cwd=folder, limits=LIMITS, timeout=0.5)
    assert ok.stdout == "fine\n"
    assert slow.timed_out


def test_run_from_a_forked_process(sandbox, workdir):
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            result = sh(sandbox, workdir, "echo from-fork")
            os.write(write_fd, result.stdout.encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    assert os.read(read_fd, 100) == b"from-fork\n"
    os.close(read_fd)


@pytest.mark.skipif(not can_switch_users(), reason="needs the harness to run as root")
def test_the_fallback_without_bubblewrap_still_isolates_network_users_and_time(tmp_path):
    from genesis_core.sandbox import unshare_net_problem

    with Sandbox(tmp_path / "root", SandboxSpec(bubblewrap=False)) as box:
        mine, other = box.new_workdir(), box.new_workdir()
        (other / "private.txt").write_text("other job")
        box.adopt_workdir(other)
        net = box.run(["sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1"], cwd=mine, limits=LIMITS)
        peek = box.run(["sh", "-c", f"cat {other}/private.txt; id -u"], cwd=mine, limits=LIMITS)
        slow = box.run(["sh", "-c", "sleep 300 & sleep 300"], cwd=mine, limits=LIMITS, timeout=0.5)
        daemon = box.run(["sh", "-c", "setsid sleep 4343 >/dev/null 2>&1 &"], cwd=mine, limits=LIMITS)
    if unshare_net_problem() is None:
        assert net.stdout.split() in ([], ["lo"])
    assert "other job" not in peek.stdout and "Permission denied" in peek.stderr
    assert int(peek.stdout.split()[-1]) >= 1 << 30
    assert slow.timed_out
    assert daemon.killed_reason == "background_processes"
