"""Fixtures for genesis-lang-cpp: jobs through the real worker and sandbox."""

from __future__ import annotations

import shutil
import textwrap
import uuid

import pytest
from genesis_core.job import Job, JobResult, Limits

# An evaluator that runs the program and passes its output on as feedback.
ECHO_EVALUATOR = '''
from genesis_core.evaluation import EvaluationResult, check_process

def evaluate(candidate):
    result = check_process(candidate.run([], timeout=60))
    return EvaluationResult(score=1.0, feedback=result.stdout)
'''


def require(exe: str) -> None:
    if shutil.which(exe) is None:
        hint = "apt-get install clang" if "clang" in exe else "apt-get install g++ binutils"
        pytest.skip(f"{exe} is not installed here ({hint})")


@pytest.fixture
def run_cpp(tmp_path):
    """Run one C++ job through the worker: run_cpp(files, main_file, settings=..., evaluator=...)."""

    def run(files: dict[str, str], main_file: str = "main.cpp", *, settings: dict | None = None, evaluator: str = ECHO_EVALUATOR) -> JobResult:
        from genesis_core.worker import run_job

        require((settings or {}).get("compiler", "g++"))
        task = tmp_path / f"task-{uuid.uuid4().hex[:6]}"
        task.mkdir()
        (task / "evaluate.py").write_text(evaluator)
        job = Job(
            id=f"cpp-{uuid.uuid4().hex[:8]}",
            language="cpp",
            language_settings=settings or {},
            files={name: textwrap.dedent(text).lstrip() for name, text in files.items()},
            main_file=main_file,
            task_dir=str(task),
            limits=Limits(wall_time_s=120),
        )
        return run_job(job)

    return run
