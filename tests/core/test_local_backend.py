"""The local backend: the conformance suite warm and cold, and what is particular to it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from genesis_core.backends.local import LocalBackend
from genesis_core.job import Job, Limits
from genesis_core.plugins import PluginHost
from genesis_core.testing import BackendPluginTests


class TestLocalBackendWarm(BackendPluginTests):
    backend_class = LocalBackend
    settings = {"warm": True, "max_jobs": 2}
    job_timeout_s = 60.0


class TestLocalBackendCold(BackendPluginTests):
    backend_class = LocalBackend
    settings = {"warm": False, "max_jobs": 2}
    job_timeout_s = 60.0


def test_registered_by_genesis_core():
    host = PluginHost(environ={"GENESIS_LOAD_PLUGINS": ""})
    host.load_entry_points()
    assert host.get("backends", "local") is LocalBackend


def test_capacity_defaults_to_the_cores():
    assert LocalBackend().capacity() == (os.cpu_count() or 1)
    assert LocalBackend({"max_jobs": 3}).capacity() == 3


def test_gpu_jobs_default_to_one_per_visible_gpu(monkeypatch):
    from genesis_core.backends.local import gpu_count

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,3")
    assert gpu_count() == 3 and LocalBackend().gpu_capacity() == 3
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")  # CUDA's way of hiding every GPU
    assert gpu_count() == 0 and LocalBackend().gpu_capacity() == 1
    assert LocalBackend({"gpu_jobs": 2}).gpu_capacity() == 2


def test_job_folders_are_removed_and_kept_on_request(tmp_path: Path):
    task = tmp_path / "task"
    task.mkdir()
    (task / "evaluate.py").write_text(
        "import os\n"
        "def evaluate(candidate):\n"
        "    return {'score': 1.0, 'feedback': str(candidate.workdir)}\n"
    )
    job = Job(id="keep", language="python", files={"main.py": "x = 1\n"}, main_file="main.py", task_dir=str(task), limits=Limits(wall_time_s=30))

    async def once(settings: dict) -> str:
        backend = LocalBackend(settings)
        await backend.start()
        try:
            result = await backend.run(job)
            assert result.ok, result.error
            return result.feedback
        finally:
            await backend.close()

    jobs_dir = tmp_path / "jobs"
    removed = asyncio.run(once({"jobs_dir": str(jobs_dir)}))
    assert removed.startswith(str(jobs_dir))
    assert not Path(removed).exists()
    kept = asyncio.run(once({"jobs_dir": str(jobs_dir), "keep_job_dirs": True}))
    assert (Path(kept) / "main.py").read_text() == "x = 1\n"


def test_the_backend_goes_on_when_the_sandbox_server_dies(tmp_path: Path):
    task = tmp_path / "task"
    task.mkdir()
    (task / "evaluate.py").write_text("def evaluate(candidate):\n    return {'score': float(candidate.call('answer'))}\n")
    job = Job(id="again", language="python", files={"main.py": "def answer():\n    return 5\n"}, main_file="main.py", task_dir=str(task), limits=Limits(wall_time_s=30))

    def sandbox_servers(server_pid: int) -> list[int]:
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    stat = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
                    cmd = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")[0]
                except OSError:
                    continue
                if int(stat[1]) == server_pid and not cmd.endswith(b"python"):
                    found.append(int(name))
        return found

    async def scenario() -> list:
        backend = LocalBackend({"max_jobs": 1})
        await backend.start()
        try:
            first = await backend.run(job)
            killed = sandbox_servers(backend.server_pid)
            for pid in killed:
                os.kill(pid, 9)
            await asyncio.sleep(0.2)
            second = await backend.run(job)
            return [first, killed, second]
        finally:
            await backend.close()

    first, killed, second = asyncio.run(scenario())
    assert first.ok and first.score == 5.0
    assert killed, "found no sandbox server to kill"
    assert second.ok and second.score == 5.0, second.error
