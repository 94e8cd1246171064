"""Fixtures of the Slurm backend tests: a real single-node Slurm cluster.

`scripts/services/slurm.sh start` brings up munge, MariaDB, slurmdbd,
slurmctld and slurmd on this machine (a few seconds), once per test session;
the cluster is stopped at the end if this session started it. When the
Slurm packages are missing they are installed with apt-get (as root, under
/tmp/apt.lock); the tests that need the cluster are skipped, with the
reason, only where that is impossible.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "services" / "slurm.sh"
PACKAGES = ["slurm-wlm", "slurmctld", "slurmd", "slurm-client", "munge", "slurmdbd", "mariadb-server"]
MISSING_PACKAGES = 3  # slurm.sh's exit code when programs are missing


@dataclass
class SlurmCluster:
    conf: str
    script: Path

    def run(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=timeout)

    def sacct_state(self, job_id: str) -> str:
        out = self.run("sacct", "-n", "-X", "-P", "-o", "State", "-j", job_id).stdout.strip().splitlines()
        return out[0] if out else ""

    def final_state(self, job_id: str, timeout: float = 60) -> str:
        """The state of a job once Slurm has finished with it (a result can arrive before its job ends)."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.run("sacct", "-n", "-X", "-P", "-o", "State", "-j", job_id).stdout.split("\n")
            states = [s for s in states if s.strip()]
            if (states and not any(s in {"PENDING", "RUNNING", "COMPLETING", "REQUEUED"} for s in states)) or time.monotonic() > deadline:
                return ",".join(sorted(set(states)))
            time.sleep(0.3)

    def cpus(self) -> int:
        return int(self.run("sinfo", "-h", "-n", "localhost", "-o", "%c").stdout.split()[0])


def _script(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), command], capture_output=True, text=True, timeout=300)


def _install_packages() -> str | None:
    """Install the Slurm packages; None when done, else why not."""
    if os.geteuid() != 0:
        return "not running as root"
    if shutil.which("apt-get") is None:
        return "apt-get is not available (not a Debian-based machine)"
    flock = ["flock", "/tmp/apt.lock"] if shutil.which("flock") else []
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*flock, "apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=1200)
    if done.returncode != 0:
        subprocess.run([*flock, "apt-get", "update", "-q"], capture_output=True, env=env, timeout=600)
        done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=1200)
    if done.returncode != 0:
        return f"apt-get install failed: {done.stderr.strip()[-500:]}"
    return None


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCluster:
    already_running = _script("status").returncode == 0
    if not already_running:
        started = _script("start")
        if started.returncode == MISSING_PACKAGES:
            why = _install_packages()
            if why is not None:
                pytest.skip(f"Slurm is not installed and cannot be installed here ({why}); needs: apt-get install {' '.join(PACKAGES)}")
            started = _script("start")
        if started.returncode != 0:
            pytest.fail(f"scripts/services/slurm.sh start failed:\n{started.stdout}\n{started.stderr}")
    status = _script("status")
    conf = next(line.split("=", 1)[1] for line in status.stdout.splitlines() if line.startswith("SLURM_CONF="))
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf  # sbatch, sacct and submitit's calls find this cluster
    yield SlurmCluster(conf, SCRIPT)
    if previous is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = previous
    if not already_running:
        _script("stop")
