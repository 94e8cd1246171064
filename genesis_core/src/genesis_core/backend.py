"""The backend plugin interface: executors of evaluation jobs.

A backend takes `Job`s and returns `JobResult`s, running each through the
worker entry point of genesis-core (`python -m genesis_core.worker`) so a
result means the same everywhere. The engine sizes its evaluation pipeline
from `capacity()`.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from genesis_core.job import Job, JobResult


class BackendSettings(BaseModel):
    """Settings every backend accepts; a backend extends it with its own."""

    model_config = ConfigDict(extra="forbid")


class Backend(ABC):
    """Base class of backend plugins."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Settings: ClassVar[type[BackendSettings]] = BackendSettings

    def __init__(self, settings: BackendSettings | dict | None = None, *, run_dir: Path | None = None) -> None:
        if isinstance(settings, BackendSettings):
            self.settings = settings
        else:
            self.settings = self.Settings.model_validate(settings or {})
        self.run_dir = run_dir

    async def start(self) -> None:
        """Acquire resources (pools, connections). Called once before the first submit."""
        return None

    async def close(self) -> None:
        """Release everything; cancel what is still running."""
        return None

    @abstractmethod
    async def submit(self, job: Job) -> str:
        """Start a job; return a handle for `wait` and `cancel`."""

    @abstractmethod
    async def wait(self, handle: str) -> JobResult:
        """The job's result. Infrastructure faults become a failed JobResult, not an exception."""

    @abstractmethod
    async def cancel(self, handle: str) -> None:
        """Stop a job; idempotent."""

    @abstractmethod
    def capacity(self) -> int:
        """How many jobs this backend can usefully run at once right now."""

    def check(self) -> str | None:
        """For `genesis doctor`: None when the backend is usable here, else why not."""
        return None

    async def run(self, job: Job) -> JobResult:
        """Submit and wait; cancelling the caller cancels the job."""
        handle = await self.submit(job)
        try:
            return await self.wait(handle)
        except asyncio.CancelledError:
            await asyncio.shield(self.cancel(handle))
            raise
