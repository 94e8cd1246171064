"""The evaluation job and its result: what every backend runs and returns.

A job is plain data (it crosses process, machine and container boundaries as
JSON), and every backend hands it to the same worker entry point of
genesis-core (`python -m genesis_core.worker`), so a result means the same on
every backend.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Limits(BaseModel):
    """Resource limits for one candidate process (its build and each run)."""

    model_config = ConfigDict(extra="forbid")

    wall_time_s: float = Field(60.0, gt=0, description="Wall time of one evaluation, build included; the whole process tree is killed past it.")
    cpu_time_s: float | None = Field(None, gt=0, description="CPU seconds per candidate process (RLIMIT_CPU); None: the wall time.")
    memory_mb: int | None = Field(2048, gt=0, description="Address space per candidate process, in MiB (RLIMIT_AS).")
    max_processes: int | None = Field(64, gt=0, description="Processes the candidate may have at once (its own PID namespace under bubblewrap, RLIMIT_NPROC otherwise).")
    max_file_size_mb: int | None = Field(256, gt=0, description="Largest file the candidate may write, in MiB (RLIMIT_FSIZE).")
    max_output_bytes: int = Field(1_000_000, gt=0, description="Standard output and error kept per run; the process is killed past it.")
    network: bool = Field(False, description="Allow the candidate network access (off: its own empty network namespace).")


class FailureReason(StrEnum):
    """Why a candidate has no valid score. Stable strings: they are stored and queried."""

    SYNTAX_ERROR = "syntax_error"
    PATCH_ERROR = "patch_error"
    BUILD_ERROR = "build_error"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASH = "crash"
    OUTPUT_LIMIT = "output_limit"
    EVALUATOR_ERROR = "evaluator_error"
    INVALID_RESULT = "invalid_result"
    INCORRECT = "incorrect"
    SANDBOX_ERROR = "sandbox_error"
    BACKEND_ERROR = "backend_error"
    CANCELLED = "cancelled"
    PREEMPTED = "preempted"
    LOST = "lost"
    NEEDS_GPU = "needs_gpu"
    LLM_ERROR = "llm_error"
    DUPLICATE = "duplicate"
    NOT_NOVEL = "not_novel"


class Job(BaseModel):
    """One candidate to build and evaluate."""

    model_config = ConfigDict(extra="forbid")

    id: str
    run_id: str = ""
    language: str = Field(description="Registered language name, e.g. 'python' or 'rust'.")
    language_settings: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, str] = Field(description="The candidate's source files: path relative to the job folder -> text.")
    main_file: str = Field(description="The file holding the EVOLVE-BLOCKs, a key of `files`.")
    task_dir: str = Field(description="Folder with the task's evaluator and data, as seen where the job runs.")
    evaluator: str = Field("evaluate.py", description="Evaluator file, relative to task_dir.")
    evaluator_function: str = "evaluate"
    limits: Limits = Field(default_factory=Limits)
    scrub_env: list[str] = Field(default_factory=list, description="Extra environment variable names (or globs) removed before the candidate runs.")
    sandbox: bool = Field(True, description="Run the candidate under every protection the machine offers.")
    shared_build_dir: str | None = Field(None, description="Build cache shared by the candidates of one run (for incremental compilers).")


class JobResult(BaseModel):
    """What the worker returns for a job. `ok` is False whenever `failure` is set."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    ok: bool
    score: float | None = None
    correct: bool = False
    metrics: dict[str, float] = Field(default_factory=dict)
    feedback: str = ""
    artifacts: dict[str, str] = Field(default_factory=dict, description="Text artifacts: build log, stderr excerpts, evaluator output.")
    failure: FailureReason | None = None
    error: str = Field("", description="One-paragraph human explanation of the failure.")
    build_seconds: float = 0.0
    eval_seconds: float = 0.0
    total_seconds: float = 0.0

    @classmethod
    def failed(cls, job_id: str, failure: FailureReason, error: str, **fields: Any) -> JobResult:
        return cls(job_id=job_id, ok=False, failure=failure, error=error, **fields)
