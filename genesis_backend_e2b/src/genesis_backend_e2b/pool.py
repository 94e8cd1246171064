"""A pool of E2B sandboxes reused across jobs.

Starting a sandbox costs far more than a job's upload, so a sandbox serves
one job after another until it is too old for the next one (its lifetime is
E2B's sandbox timeout), has served `jobs_per_sandbox` jobs, or misbehaved;
then it is killed and a new one takes its place. The number of sandboxes
in use at once is the backend's capacity.
"""

from __future__ import annotations

import asyncio
import shlex
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from genesis_backend_e2b.settings import E2BSettings


class SandboxCreationError(Exception):
    """E2B could not give a sandbox (quota, unknown template, API down)."""


@dataclass(eq=False)
class PooledSandbox:
    """A live sandbox, its own work folder, and what was uploaded into it."""

    sandbox: Any  # e2b.AsyncSandbox
    home: str  # absolute work folder inside the sandbox
    created: float = field(default_factory=time.monotonic)
    jobs: int = 0
    tasks: set[str] = field(default_factory=set)  # digests of task archives unpacked here

    @property
    def id(self) -> str:
        return self.sandbox.sandbox_id

    def age(self) -> float:
        return time.monotonic() - self.created


class SandboxPool:
    def __init__(self, settings: E2BSettings) -> None:
        self.settings = settings
        self._idle: list[PooledSandbox] = []
        self._busy: set[PooledSandbox] = set()
        self._slots = asyncio.Semaphore(settings.concurrency)
        self.created = 0
        self.killed = 0

    def connection_options(self) -> dict[str, Any]:
        """SDK options shared by every call (the API key stays in E2B_API_KEY)."""
        s = self.settings
        options: dict[str, Any] = {"request_timeout": s.request_timeout_s}
        if s.debug:
            options["debug"] = True
        for name in ("domain", "api_url", "sandbox_url"):
            if getattr(s, name):
                options[name] = getattr(s, name)
        return options

    def _fits(self, pooled: PooledSandbox, needed_s: float) -> bool:
        s = self.settings
        if s.jobs_per_sandbox is not None and pooled.jobs >= s.jobs_per_sandbox:
            return False
        return pooled.age() + needed_s < s.sandbox_lifetime_s

    async def acquire(self, needed_s: float) -> PooledSandbox:
        """A sandbox with at least `needed_s` seconds of life left, reused or new."""
        await self._slots.acquire()
        try:
            while self._idle:
                pooled = self._idle.pop()
                if self._fits(pooled, needed_s):
                    self._busy.add(pooled)
                    return pooled
                await self._kill(pooled)
            if needed_s >= self.settings.sandbox_lifetime_s:
                raise SandboxCreationError(
                    f"a job may run {needed_s:.0f} s, longer than a sandbox lives ([backend.e2b] sandbox_lifetime_s = "
                    f"{self.settings.sandbox_lifetime_s}); raise sandbox_lifetime_s or lower the job's wall time"
                )
            pooled = await self._create()
            self._busy.add(pooled)
            return pooled
        except BaseException:
            self._slots.release()
            raise

    async def release(self, pooled: PooledSandbox, healthy: bool) -> None:
        """Return a sandbox after a job; one that misbehaved is killed and replaced on demand."""
        self._busy.discard(pooled)
        try:
            if healthy and self._fits(pooled, 0):
                self._idle.append(pooled)
            else:
                await self._kill(pooled)
        finally:
            self._slots.release()

    async def _create(self) -> PooledSandbox:
        from e2b import AsyncSandbox

        s = self.settings
        try:
            sandbox = await AsyncSandbox.create(
                s.template,
                timeout=s.sandbox_lifetime_s,
                metadata={"genesis": "evaluation", **s.metadata},
                **self.connection_options(),
            )
        except Exception as exc:
            raise SandboxCreationError(
                f"E2B could not create a sandbox from the template '{s.template}' ({type(exc).__name__}: {exc}); "
                f"the next job asks for a new one"
            ) from exc
        self.created += 1
        folder = f"{s.workdir.rstrip('/')}/{uuid.uuid4().hex[:8]}"
        try:
            where = await sandbox.commands.run(f"mkdir -p {shlex.quote(folder)} && cd {shlex.quote(folder)} && pwd", timeout=60)
        except Exception as exc:
            await self._kill(PooledSandbox(sandbox, ""))
            raise SandboxCreationError(f"The new sandbox {sandbox.sandbox_id} did not answer its first command: {type(exc).__name__}: {exc}") from exc
        return PooledSandbox(sandbox, where.stdout.strip())

    async def _kill(self, pooled: PooledSandbox) -> None:
        self.killed += 1
        try:
            if self.settings.debug and pooled.home:
                # Debug mode's "sandboxes" share one agent, and kill() is a no-op there: tidy up.
                await pooled.sandbox.commands.run(f"rm -rf {shlex.quote(pooled.home)}", timeout=30)
            await pooled.sandbox.kill()
        except Exception:  # already gone: nothing left to free
            pass

    async def close(self) -> None:
        """Kill every sandbox, idle or busy."""
        pooled = self._idle + list(self._busy)
        self._idle.clear()
        self._busy.clear()
        await asyncio.gather(*(self._kill(p) for p in pooled))
