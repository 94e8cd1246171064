"""Where the worker runs inside a Slurm job: the host's Python, a Conda
environment, a Docker image or an Apptainer/Singularity image.

Every environment runs the same command, `python -m genesis_core.worker
JOB.json RESULT.json`, the worker entry point every Genesis backend uses; an
environment only decides what wraps it. The files a job needs (its own
folder, the task folder, the shared build cache) keep their paths inside a
container: they are bind-mounted at the same place, so `Job.task_dir` is
valid unchanged.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

WORKER_MODULE = "genesis_core.worker"


class _Environment(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HostEnvironment(_Environment):
    """The node's own Python: the interpreter that submitted the job, unless `python` is set."""

    kind: Literal["host"] = "host"
    python: str | None = Field(None, description="Python with genesis-core installed, as seen on the nodes; default: the submitting interpreter (shared filesystem).")


class CondaEnvironment(_Environment):
    """A Conda environment (by name or prefix, through `conda run`), or any environment an activate script sets up."""

    kind: Literal["conda"] = "conda"
    name: str | None = Field(None, description="Environment name (`conda run -n NAME`).")
    prefix: str | None = Field(None, description="Environment folder (`conda run -p PREFIX`).")
    activate_script: str | None = Field(None, description="A script to source before the worker starts (a venv's bin/activate, a site's module setup).")
    conda: str = Field("conda", description="The conda (or mamba/micromamba) executable on the nodes.")
    python: str = Field("python", description="The Python of the environment, once active.")

    @model_validator(mode="after")
    def _one_way_in(self) -> CondaEnvironment:
        given = [k for k in ("name", "prefix", "activate_script") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "a conda environment needs exactly one of `name`, `prefix` or `activate_script` "
                f"(found: {', '.join(given) or 'none'})"
            )
        return self


class DockerEnvironment(_Environment):
    """A Docker image with genesis-core (and the task's language plugin) installed."""

    kind: Literal["docker"] = "docker"
    image: str = Field(description="Image to run, e.g. `ghcr.io/me/genesis-rust:0.1`.")
    docker: str = Field("docker", description="The docker (or podman) executable on the nodes.")
    python: str = Field("python3", description="Python inside the image.")
    mounts: list[str] = Field(default_factory=list, description="Extra bind mounts, `SRC:DST[:ro]`.")
    args: list[str] = Field(default_factory=list, description="Extra `docker run` options, e.g. ['--gpus', 'all'].")
    pull: Literal["missing", "always", "never"] = Field("missing", description="`docker run --pull` policy.")


class ApptainerEnvironment(_Environment):
    """An Apptainer/Singularity image (a .sif file or a docker:// reference): the common container runtime on clusters."""

    kind: Literal["apptainer"] = "apptainer"
    image: str = Field(description="A .sif file on the shared filesystem, or `docker://...`.")
    apptainer: str = Field("apptainer", description="The apptainer (or singularity) executable on the nodes.")
    python: str = Field("python3", description="Python inside the image.")
    mounts: list[str] = Field(default_factory=list, description="Extra bind mounts, `SRC[:DST[:ro]]`.")
    args: list[str] = Field(default_factory=list, description="Extra `apptainer exec` options, e.g. ['--nv'] for GPUs.")
    containall: bool = Field(True, description="`--containall`: no home folder, environment or /tmp from the host.")


Environment = Annotated[
    HostEnvironment | CondaEnvironment | DockerEnvironment | ApptainerEnvironment,
    Field(discriminator="kind"),
]


@dataclass(frozen=True)
class Mount:
    """A host path the worker needs inside a container, at the same path."""

    path: str
    read_only: bool = False


@dataclass(frozen=True)
class Resources:
    """What Slurm gave the job, for runtimes that run outside its accounting (Docker)."""

    cpus: int | None = None
    mem_mb: int | None = None


def worker_command(
    environment: HostEnvironment | CondaEnvironment | DockerEnvironment | ApptainerEnvironment,
    job_file: str,
    result_file: str,
    *,
    mounts: tuple[Mount, ...] = (),
    default_python: str = "python3",
    uid: int | None = None,
    gid: int | None = None,
    resources: Resources = Resources(),
    container_name: str | None = None,
) -> list[str]:
    """The argv that runs the worker on `job_file` inside `environment`."""
    worker = ["-m", WORKER_MODULE, job_file, result_file]
    match environment:
        case HostEnvironment():
            return [environment.python or default_python, *worker]
        case CondaEnvironment(activate_script=str() as script):
            body = f'source "$1" && exec {shlex.quote(environment.python)} -m {WORKER_MODULE} "$2" "$3"'
            return ["bash", "-c", body, "genesis-worker", script, job_file, result_file]
        case CondaEnvironment():
            where = ["-n", environment.name] if environment.name else ["-p", str(environment.prefix)]
            return [environment.conda, "run", "--no-capture-output", *where, environment.python, *worker]
        case DockerEnvironment():
            argv = [environment.docker, "run", "--rm", "--init", f"--pull={environment.pull}"]
            if container_name:
                argv += ["--name", container_name]
            if uid is not None:
                argv += ["--user", f"{uid}:{gid if gid is not None else uid}"]
            # Docker's daemon starts the container outside the job's own
            # process tree, so Slurm cannot hold it to the allocation: repeat it.
            if resources.cpus:
                argv += ["--cpus", str(resources.cpus)]
            if resources.mem_mb:
                argv += ["--memory", f"{resources.mem_mb}m"]
            for mount in mounts:
                argv += ["-v", f"{mount.path}:{mount.path}{':ro' if mount.read_only else ''}"]
            for extra in environment.mounts:
                argv += ["-v", extra]
            argv += ["-w", _parent(job_file), *environment.args, environment.image, environment.python, *worker]
            return argv
        case ApptainerEnvironment():
            argv = [environment.apptainer, "exec"]
            if environment.containall:
                argv.append("--containall")
            for mount in mounts:
                argv += ["--bind", f"{mount.path}:{mount.path}{':ro' if mount.read_only else ''}"]
            for extra in environment.mounts:
                argv += ["--bind", extra]
            argv += ["--pwd", _parent(job_file), *environment.args, environment.image, environment.python, *worker]
            return argv
    raise TypeError(f"unknown environment {environment!r}")


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"
