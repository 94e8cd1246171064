"""The command lines that run the worker in each environment of a Slurm job.

Docker and Apptainer cannot run on this machine (no engine); these tests
check the exact command lines the launcher runs on a node, and the host and
Conda activate-script lines are also executed for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from genesis_backend_slurm.environments import (
    ApptainerEnvironment,
    CondaEnvironment,
    DockerEnvironment,
    HostEnvironment,
    Mount,
    Resources,
    worker_command,
)
from genesis_backend_slurm.settings import SlurmSettings
from genesis_core.config import load_config, plugin_settings
from genesis_core.errors import ConfigError
from pydantic import ValidationError

JOB = "/shared/run/slurm/jobs/abc/attempt-1/job.json"
RESULT = "/shared/run/slurm/jobs/abc/attempt-1/result.json"
MOUNTS = (Mount("/shared/run/slurm/jobs/abc/attempt-1"), Mount("/shared/tasks/circle", read_only=True))


def test_host_runs_the_worker_module_with_the_submitting_python():
    argv = worker_command(HostEnvironment(), JOB, RESULT, default_python="/opt/venv/bin/python")
    assert argv == ["/opt/venv/bin/python", "-m", "genesis_core.worker", JOB, RESULT]
    assert worker_command(HostEnvironment(python="python3.12"), JOB, RESULT)[0] == "python3.12"


def test_conda_named_environment_goes_through_conda_run():
    argv = worker_command(CondaEnvironment(name="genesis"), JOB, RESULT)
    assert argv == ["conda", "run", "--no-capture-output", "-n", "genesis", "python", "-m", "genesis_core.worker", JOB, RESULT]
    argv = worker_command(CondaEnvironment(prefix="/opt/envs/g", conda="micromamba"), JOB, RESULT)
    assert argv[:5] == ["micromamba", "run", "--no-capture-output", "-p", "/opt/envs/g"]


def test_conda_activate_script_is_sourced_before_the_worker(tmp_path: Path):
    """Run the generated line for real: the script's environment reaches the worker's Python."""
    script = tmp_path / "activate"
    script.write_text(f'export GENESIS_TEST_ACTIVATED=yes\nexport PATH="{Path(sys.executable).parent}:$PATH"\n')
    env = CondaEnvironment(activate_script=str(script), python="python")
    argv = worker_command(env, "job.json", "result.json")
    assert argv[:2] == ["bash", "-c"] and argv[-3:] == [str(script), "job.json", "result.json"]
    # The same line, with a probe module in place of the worker that reports what it sees.
    probe = argv[2].replace("genesis_core.worker", "genesis_probe")
    (tmp_path / "genesis_probe.py").write_text(
        "import json, os, sys\n"
        "print(json.dumps({'activated': os.environ.get('GENESIS_TEST_ACTIVATED'), 'args': sys.argv[1:], 'python': sys.executable}))\n"
    )
    out = subprocess.run([argv[0], argv[1], probe, *argv[3:]], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["activated"] == "yes"
    assert seen["args"] == ["job.json", "result.json"]
    assert Path(seen["python"]).parent == Path(sys.executable).parent


def test_conda_needs_exactly_one_way_in():
    with pytest.raises(ValidationError, match="exactly one of"):
        CondaEnvironment()
    with pytest.raises(ValidationError, match="exactly one of"):
        CondaEnvironment(name="a", activate_script="/x/activate")


def test_docker_mounts_the_job_and_task_at_their_own_paths_and_repeats_the_allocation():
    env = DockerEnvironment(image="ghcr.io/me/genesis-rust:0.1", args=["--gpus", "all"], mounts=["/data:/data:ro"])
    argv = worker_command(env, JOB, RESULT, mounts=MOUNTS, uid=1000, gid=100,
                          resources=Resources(cpus=4, mem_mb=8192), container_name="genesis-77-attempt-1")
    assert argv == [
        "docker", "run", "--rm", "--init", "--pull=missing",
        "--name", "genesis-77-attempt-1",
        "--user", "1000:100",
        "--cpus", "4", "--memory", "8192m",
        "-v", "/shared/run/slurm/jobs/abc/attempt-1:/shared/run/slurm/jobs/abc/attempt-1",
        "-v", "/shared/tasks/circle:/shared/tasks/circle:ro",
        "-v", "/data:/data:ro",
        "-w", "/shared/run/slurm/jobs/abc/attempt-1",
        "--gpus", "all",
        "ghcr.io/me/genesis-rust:0.1", "python3", "-m", "genesis_core.worker", JOB, RESULT,
    ]


def test_apptainer_binds_the_same_paths_inside_the_image():
    env = ApptainerEnvironment(image="/shared/images/genesis.sif", apptainer="singularity", args=["--nv"])
    argv = worker_command(env, JOB, RESULT, mounts=MOUNTS)
    assert argv == [
        "singularity", "exec", "--containall",
        "--bind", "/shared/run/slurm/jobs/abc/attempt-1:/shared/run/slurm/jobs/abc/attempt-1",
        "--bind", "/shared/tasks/circle:/shared/tasks/circle:ro",
        "--pwd", "/shared/run/slurm/jobs/abc/attempt-1",
        "--nv", "/shared/images/genesis.sif", "python3", "-m", "genesis_core.worker", JOB, RESULT,
    ]


def test_environment_is_chosen_in_genesis_toml(tmp_path: Path):
    (tmp_path / "genesis.toml").write_text(
        '[backend]\nname = "slurm"\n'
        '[backend.slurm]\npartition = "gpu"\narray = true\n'
        '[backend.slurm.environment]\nkind = "apptainer"\nimage = "/shared/genesis.sif"\nargs = ["--nv"]\n'
    )
    config = load_config(tmp_path, environ={})
    settings = plugin_settings(config, "backend", "slurm", SlurmSettings)
    assert settings.partition == "gpu" and settings.array
    assert isinstance(settings.environment, ApptainerEnvironment)
    assert settings.environment.args == ["--nv"]


def test_unknown_settings_and_environments_are_config_errors(tmp_path: Path):
    (tmp_path / "genesis.toml").write_text('[backend.slurm]\npartiton = "gpu"\n')
    with pytest.raises(ConfigError, match="partiton"):
        plugin_settings(load_config(tmp_path, environ={}), "backend", "slurm", SlurmSettings)
    (tmp_path / "genesis.toml").write_text('[backend.slurm.environment]\nkind = "podman"\n')
    with pytest.raises(ConfigError, match="kind"):
        plugin_settings(load_config(tmp_path, environ={}), "backend", "slurm", SlurmSettings)
    with pytest.raises(ValidationError, match="set by the backend"):
        SlurmSettings(sbatch_options={"array": "0-3"})


def test_launcher_runs_on_the_node_with_its_own_uid(tmp_path: Path):
    """The launcher builds the command on the node (uid, Slurm job id) from what was pickled."""
    from genesis_backend_slurm.launcher import Launch

    launch = Launch(DockerEnvironment(image="img"), JOB, RESULT, MOUNTS)
    argv = launch.argv()
    assert argv[argv.index("--user") + 1] == f"{os.getuid()}:{os.getgid()}"
    assert argv[argv.index("--name") + 1].startswith("genesis-")


def test_sbatch_options_come_from_the_settings(tmp_path: Path):
    """The batch script submitit writes for a job, from [backend.slurm]."""
    from genesis_backend_slurm.backend import SlurmBackend
    from submitit.slurm.slurm import _make_sbatch_string

    backend = SlurmBackend({
        "partition": "gpu", "mem_mb": 4096, "cpus_per_task": 4, "gpus_per_node": 1, "account": "proj42",
        "qos": "high", "sbatch_options": {"constraint": "avx2", "exclusive": True}, "setup": ["module load gcc/13"],
    })
    script = _make_sbatch_string(command="python -m submitit.core._submit x", folder=tmp_path, **backend._sbatch_parameters(time_min=7))
    for line in ("#SBATCH --partition=gpu", "#SBATCH --mem=4096M", "#SBATCH --cpus-per-task=4", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --account=proj42", "#SBATCH --qos=high", "#SBATCH --constraint=avx2", "#SBATCH --exclusive",
                 "#SBATCH --time=7", "#SBATCH --no-requeue", "#SBATCH --job-name=genesis", "#SBATCH --signal=USR2@30"):
        assert line in script.splitlines(), line
    assert "module load gcc/13" in script
