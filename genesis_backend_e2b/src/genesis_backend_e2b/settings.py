"""The `[backend.e2b]` table of genesis.toml.

The API key is not a setting: the E2B SDK reads it from E2B_API_KEY, and
Genesis never prints it.
"""

from __future__ import annotations

from genesis_core.backend import BackendSettings
from pydantic import Field


class E2BSettings(BackendSettings):
    """Which sandboxes evaluations run in, how many, and for how long."""

    template: str = Field("genesis-python", description="E2B template (name or id) the sandboxes start from; see `genesis e2b template list`.")
    concurrency: int = Field(4, ge=1, description="Sandboxes at once, each running one evaluation at a time.")
    sandbox_lifetime_s: int = Field(900, ge=30, description="Lifetime of a sandbox (E2B's sandbox timeout); the pool retires one before a job could outlive it.")
    jobs_per_sandbox: int | None = Field(None, ge=1, description="Retire a sandbox after this many jobs; default: reuse it for its whole lifetime.")
    python: str = Field("python3", description="Python with genesis-core inside the sandbox.")
    workdir: str = Field("genesis", description="Folder for task and job files, relative to the sandbox user's home.")
    envs: dict[str, str] = Field(default_factory=dict, description="Environment variables for the worker inside the sandbox.")
    metadata: dict[str, str] = Field(default_factory=dict, description="Metadata attached to each sandbox (shown in E2B's dashboard).")
    command_margin_s: float = Field(120.0, ge=0, description="Seconds a job's command may run past its own wall time (start-up, upload, build) before it counts as timed out.")
    request_timeout_s: float = Field(60.0, gt=0, description="Timeout of one API or file request.")
    task_exclude: list[str] = Field(
        default_factory=lambda: [".git", "__pycache__", ".venv", "node_modules", "target", "results", ".pytest_cache"],
        description="Names of files and folders of the task folder not uploaded to sandboxes.",
    )
    debug: bool = Field(False, description="E2B's debug mode: no cloud call; talk to an envd agent at localhost:49983 (or `sandbox_url`).")
    domain: str | None = Field(None, description="E2B domain for self-hosted deployments (default: E2B_DOMAIN or e2b.app).")
    api_url: str | None = Field(None, description="Control-plane URL, overriding the one derived from the domain.")
    sandbox_url: str | None = Field(None, description="envd URL, overriding the one derived from the sandbox id.")
