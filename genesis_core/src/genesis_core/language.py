"""The language plugin interface.

A language knows its comment syntax (so EVOLVE-BLOCK markers can be found),
how to check a candidate quickly on the host, how to build it inside the
sandbox and how to run what it built. Plugins subclass `Language` and
register the class through the `register_languages` hook.
"""

from __future__ import annotations

import shutil
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


class LanguageSettings(BaseModel):
    """Settings every language accepts; a language extends it with its own."""

    model_config = ConfigDict(extra="forbid")


class ProcessResult(BaseModel):
    """One process run by the sandbox, as measured by the harness (not the candidate)."""

    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    timed_out: bool = False
    killed_reason: str | None = Field(None, description="'timeout', 'memory', 'output_limit' or a signal name when the harness killed it.")


# Runs argv inside the job's sandbox:
# run(argv, input=None, timeout_s=None, cwd=None, env=None) -> ProcessResult.
SandboxRunner = Callable[..., ProcessResult]


class BuildContext(BaseModel):
    """What a language's `build` gets from the worker."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    workdir: Path = Field(description="The job's own folder, holding the candidate's files.")
    main_file: str
    shared_build_dir: Path | None = Field(None, description="A cache shared by the candidates of one run, when the backend offers one.")
    run: SandboxRunner = Field(description="Runs a command (the compiler) inside the sandbox with the job's limits.")
    timeout_s: float = 60.0


class BuildResult(BaseModel):
    """The outcome of a build. `log` is what the next prompt sees on failure, already trimmed."""

    ok: bool
    artifact: str | None = Field(None, description="What to run, relative to the job folder.")
    log: str = ""
    seconds: float = 0.0
    metrics: dict[str, float] = Field(default_factory=dict)


class Language(ABC):
    """Base class of language plugins."""

    name: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]
    comment: ClassVar[str]
    description: ClassVar[str] = ""
    toolchain: ClassVar[tuple[str, ...]] = ()
    needs_gpu: ClassVar[bool] = False
    Settings: ClassVar[type[LanguageSettings]] = LanguageSettings

    def __init__(self, settings: LanguageSettings | dict | None = None) -> None:
        if isinstance(settings, LanguageSettings):
            self.settings = settings
        else:
            self.settings = self.Settings.model_validate(settings or {})

    def check_syntax(self, files: dict[str, str], main_file: str) -> str | None:
        """Fast check on the host before a job is sent; the error text, or None when fine."""
        return None

    @abstractmethod
    def build(self, ctx: BuildContext) -> BuildResult:
        """Build the candidate in `ctx.workdir`; interpreted languages just check it."""

    @abstractmethod
    def run_command(self, artifact: str, args: Sequence[str] = ()) -> list[str]:
        """The argv that runs a built artifact (relative to the job folder) with `args`."""

    def hints(self) -> str:
        """Optimisation hints for prompts, in the language's own idiom."""
        return ""

    def sandbox_paths(self) -> list[str]:
        """Folders outside the system ones (/usr, /etc...) the toolchain needs, shown read-only in the sandbox.

        For example `~/.rustup` and `~/.cargo` for rustup's compilers, or
        `/dev/nvidia0` (device paths are bound as devices). The Python
        installation running Genesis is always shown.
        """
        return []

    def runtime_problem(self) -> str | None:
        """Why a built candidate cannot run on this machine, or None when it can.

        For a language with `needs_gpu`, the worker turns the answer into a
        failed job with `FailureReason.NEEDS_GPU` after the build (so the
        build log still reaches the next prompt), instead of running it.
        """
        return None

    def task_template(self) -> dict[str, str] | None:
        """A small working task for `genesis init --language NAME`: relative path -> text, or None.

        It holds an initial program with EVOLVE-BLOCK regions and a Python
        evaluator `evaluate.py`; it may hold its own `genesis.toml` (otherwise
        `genesis init` writes one naming the first file with this language's
        extension as the initial program).
        """
        return None

    def toolchain_versions(self) -> dict[str, str | None]:
        """Each toolchain executable and its version line, or None when it is not on PATH."""
        return {exe: tool_version(exe) for exe in self.toolchain}


def tool_version(exe: str, flag: str = "--version") -> str | None:
    """First line of `exe --version`, or None when `exe` is not on PATH."""
    path = shutil.which(exe)
    if path is None:
        return None
    try:
        out = subprocess.run([path, flag], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"found at {path}, but `{exe} {flag}` failed: {exc}"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else f"found at {path}"
