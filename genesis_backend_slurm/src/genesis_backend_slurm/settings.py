"""The `[backend.slurm]` table of genesis.toml."""

from __future__ import annotations

from genesis_core.backend import BackendSettings
from pydantic import Field, field_validator

from genesis_backend_slurm.environments import Environment, HostEnvironment


class SlurmSettings(BackendSettings):
    """What each evaluation job asks Slurm for, and how Genesis follows it."""

    partition: str | None = Field(None, description="Partition to submit to; default: the cluster's default partition.")
    time_min: int | None = Field(None, ge=1, description="Time limit of a job in minutes; default: the job's wall time plus `time_margin_min`.")
    time_margin_min: int = Field(2, ge=0, description="Minutes added to a job's own wall time for start-up and the build, when `time_min` is not set.")
    mem_mb: int | None = Field(None, ge=1, description="Memory per job (sbatch --mem), in MiB; default: the cluster's DefMemPerCPU.")
    cpus_per_task: int = Field(1, ge=1, description="CPUs per job.")
    gpus_per_node: int | None = Field(None, ge=0, description="GPUs per job (sbatch --gpus-per-node).")
    account: str | None = Field(None, description="Account to charge (sbatch --account).")
    qos: str | None = Field(None, description="Quality of service (sbatch --qos).")
    sbatch_options: dict[str, str | int | bool] = Field(
        default_factory=dict,
        description="Further sbatch options without the dashes, e.g. {constraint = 'avx2', exclusive = true}.",
    )
    setup: list[str] = Field(default_factory=list, description="Shell lines the job runs before the worker (e.g. `module load gcc`).")
    environment: Environment = Field(default_factory=HostEnvironment, description="Where the worker runs: host, conda, docker or apptainer.")
    folder: str | None = Field(
        None,
        description="Folder for job files and Slurm logs, on a filesystem the nodes share; default: `slurm/` in the run's results folder.",
    )
    array: bool = Field(False, description="Send candidates that arrive together as one job array.")
    array_window_s: float = Field(0.5, ge=0, description="How long a job waits for others to join its array.")
    array_max_size: int = Field(256, ge=1, description="Most candidates in one job array.")
    array_parallelism: int | None = Field(None, ge=1, description="Tasks of one array running at once (the %N of --array).")
    max_jobs: int | None = Field(None, ge=1, description="Jobs in flight at once; default: the partition's CPUs / cpus_per_task.")
    max_resubmits: int = Field(2, ge=0, description="Times a lost job (node failure, vanished from Slurm) is submitted again.")
    poll_interval_s: float = Field(1.0, gt=0, description="Seconds between two `sacct` polls of the jobs in flight.")
    submit_timeout_s: float = Field(180.0, gt=0, description="How long to retry sbatch while the controller is unreachable (e.g. restarting).")
    lost_after_s: float = Field(300.0, gt=0, description="A job unknown to `sacct` for this long counts as lost.")
    result_grace_s: float = Field(15.0, ge=0, description="How long a finished job's result file may lag behind its state (slow shared filesystems).")

    @field_validator("sbatch_options")
    @classmethod
    def _no_managed_options(cls, value: dict) -> dict:
        managed = {"array", "output", "error", "job-name", "job_name", "wrap"}
        clash = sorted(managed & set(value))
        if clash:
            raise ValueError(f"sbatch options {', '.join(clash)} are set by the backend itself; remove them")
        return value
