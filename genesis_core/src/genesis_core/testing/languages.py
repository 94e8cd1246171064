"""Conformance tests for language plugins.

Subclass `LanguagePluginTests` in your plugin's tests and name your class
and two small programs::

    from genesis_core.testing import LanguagePluginTests

    class TestZig(LanguagePluginTests):
        language_class = ZigLanguage
        main_file = "main.zig"
        hello_files = {"main.zig": '''
    const std = @import("std");
    // EVOLVE-BLOCK-START
    pub fn main() !void { try std.io.getStdOut().writer().print("hello genesis\\n", .{}); }
    // EVOLVE-BLOCK-END
    '''}
        broken_files = {"main.zig": "pub fn main( {"}

The suite checks that the class registers, that its markers are found, that
`check_syntax` accepts the good program (and, unless
`syntax_check_finds_errors = False`, rejects the broken one), that the good
program builds and runs through the worker (`genesis_core.worker.run_job`,
in the real sandbox) and prints `hello_output`, and that the broken one
comes back as a failed candidate with a build or syntax error. Tests that
need the toolchain are skipped, with the reason, when an executable of
`language_class.toolchain` is not on PATH.
"""

from __future__ import annotations

import shutil
import textwrap
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from genesis_core.job import FailureReason, Job, Limits
from genesis_core.language import Language
from genesis_core.registry import KINDS, Source, _validate

# The evaluator the suite gives the worker: it runs the program and checks its output.
HELLO_EVALUATOR = '''
from genesis_core.evaluation import EvaluationResult

EXPECTED = {expected!r}
ARGS = {args!r}

def evaluate(candidate):
    result = candidate.run(ARGS, timeout={timeout!r})
    found = EXPECTED in result.stdout
    return EvaluationResult(
        score=1.0 if found else 0.0,
        correct=found and result.returncode == 0,
        feedback=f"exit code {{result.returncode}}; stdout {{result.stdout[:500]!r}}; stderr {{result.stderr[-1500:]!r}}",
        metrics={{"run_seconds": result.seconds}},
    )
'''


class LanguagePluginTests:
    """Base class: set the class attributes below in a subclass named Test*."""

    language_class: ClassVar[type[Language]]
    hello_files: ClassVar[dict[str, str]]
    """A small valid program, with EVOLVE-BLOCK markers, that prints `hello_output`."""
    main_file: ClassVar[str]
    broken_files: ClassVar[dict[str, str]]
    """A program that does not build (a syntax error)."""
    hello_output: ClassVar[str] = "hello genesis"
    run_args: ClassVar[Sequence[str]] = ()
    settings: ClassVar[dict[str, Any]] = {}
    syntax_check_finds_errors: ClassVar[bool] = True
    limits: ClassVar[Limits] = Limits(wall_time_s=120)

    # -- helpers -------------------------------------------------------------------

    def make_language(self) -> Language:
        return self.language_class(self.settings)

    def require_toolchain(self) -> None:
        missing = [exe for exe in self.language_class.toolchain if shutil.which(exe) is None]
        if missing:
            pytest.skip(f"the {self.language_class.name} toolchain is not installed here: {', '.join(missing)} not on PATH")

    def make_job(self, files: dict[str, str], task_dir: Path) -> Job:
        return Job(
            id=f"conformance-{uuid.uuid4().hex[:8]}",
            language=self.language_class.name,
            language_settings=dict(self.settings),
            files={name: textwrap.dedent(text) for name, text in files.items()},
            main_file=self.main_file,
            task_dir=str(task_dir),
            limits=self.limits,
        )

    def write_task(self, tmp_path: Path) -> Path:
        task = tmp_path / "task"
        task.mkdir(exist_ok=True)
        source = HELLO_EVALUATOR.format(expected=self.hello_output, args=list(self.run_args), timeout=self.limits.wall_time_s / 2)
        (task / "evaluate.py").write_text(source)
        return task

    def run_through_worker(self, files: dict[str, str], tmp_path: Path):
        from genesis_core import worker

        job = self.make_job(files, self.write_task(tmp_path))
        # The class itself, whether or not its distribution is installed.
        return worker.run_job(job, language=self.make_language())

    # -- the suite -----------------------------------------------------------------------

    def test_registration_is_valid(self) -> None:
        _validate(KINDS["languages"], self.language_class, Source("conformance-test", "test"))

    def test_settings_validate(self) -> None:
        language = self.make_language()
        assert isinstance(language.settings, self.language_class.Settings)

    def test_hello_program_has_markers(self) -> None:
        comment = self.language_class.comment
        text = textwrap.dedent(self.hello_files[self.main_file])
        assert f"{comment} EVOLVE-BLOCK-START" in text, f"the hello program must mark a region with '{comment} EVOLVE-BLOCK-START'"
        assert f"{comment} EVOLVE-BLOCK-END" in text
        assert any(self.main_file.endswith(ext) for ext in self.language_class.extensions)

    def test_check_syntax_accepts_valid_program(self) -> None:
        files = {k: textwrap.dedent(v) for k, v in self.hello_files.items()}
        assert self.make_language().check_syntax(files, self.main_file) is None

    def test_check_syntax_rejects_broken_program(self) -> None:
        if not self.syntax_check_finds_errors:
            pytest.skip("this language has no fast syntax check")
        files = {k: textwrap.dedent(v) for k, v in self.broken_files.items()}
        error = self.make_language().check_syntax(files, self.main_file)
        assert isinstance(error, str) and error.strip(), "check_syntax must return the error text for a broken program"

    def test_hints_and_toolchain_report(self) -> None:
        language = self.make_language()
        assert isinstance(language.hints(), str)
        versions = language.toolchain_versions()
        assert isinstance(versions, dict)
        assert all(isinstance(k, str) for k in versions)

    def test_run_command_is_an_argv(self) -> None:
        argv = self.make_language().run_command("artifact", ["a", "b"])
        assert isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)
        assert argv[-2:] == ["a", "b"]

    def test_hello_builds_and_runs_through_the_worker(self, tmp_path: Path) -> None:
        self.require_toolchain()
        result = self.run_through_worker(self.hello_files, tmp_path)
        assert result.ok, f"the hello program failed: {result.failure}: {result.error}\n{result.artifacts}"
        assert result.score == 1.0, result.feedback
        assert result.correct

    def test_broken_program_fails_as_build_error(self, tmp_path: Path) -> None:
        self.require_toolchain()
        result = self.run_through_worker(self.broken_files, tmp_path)
        assert not result.ok
        assert result.failure in (FailureReason.BUILD_ERROR, FailureReason.SYNTAX_ERROR), f"{result.failure}: {result.error}"
        assert result.error.strip(), "a build failure must say what is wrong"
