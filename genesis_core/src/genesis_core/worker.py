"""The one worker every backend runs: build a candidate, score it, return a `JobResult`.

    python -m genesis_core.worker JOB.json [RESULT.json]

reads a `Job` as JSON and writes its `JobResult` as JSON (to standard output
when no result path is given). In-process, `run_job(job)` does the same. The
language plugin builds the candidate inside the sandbox; the task's
evaluator (trusted code) is imported here and scores it through a
`Candidate` handle. Every failure, the candidate's or the evaluator's,
becomes a failed `JobResult` with a `FailureReason` and one clear paragraph:
the worker itself never raises for a bad candidate or a bad evaluator.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from genesis_core.errors import GenesisError
from genesis_core.evaluation import Candidate, CandidateError, EvaluationResult
from genesis_core.job import FailureReason, Job, JobResult
from genesis_core.language import BuildContext, Language, ProcessResult
from genesis_core.sandbox import Sandbox, SandboxError, SandboxSpec

MAX_ARTIFACT_CHARS = 20_000


class EvaluatorTimeout(BaseException):
    """Raised inside the evaluator when the job's wall time is over (a BaseException so `except Exception` cannot swallow it)."""


class WorkerTerminated(BaseException):
    """The backend asked the worker to stop (SIGTERM); it unwinds without writing a result."""


# -- loading the parts ----------------------------------------------------------------


def load_language(job: Job) -> Language:
    from genesis_core.plugins import get_host

    cls = get_host().get("languages", job.language)
    return cls(job.language_settings)


def sandbox_spec(job: Job, language: Language, preload: Sequence[str] = ()) -> SandboxSpec:
    """The sandbox a job needs; jobs with equal specs can share one warm sandbox."""
    if job.shared_build_dir:  # it must exist to be bound into the sandbox
        Path(job.shared_build_dir).mkdir(parents=True, exist_ok=True)
    return SandboxSpec(
        enabled=job.sandbox,
        network=job.limits.network,
        read_only=tuple(language.sandbox_paths()),
        writable=(job.shared_build_dir,) if job.shared_build_dir else (),
        preload=tuple(preload),
        scrub_env=tuple(job.scrub_env),
        tmp_size_mb=job.limits.max_file_size_mb or 256,
    )


_EVALUATORS: dict[tuple[str, float], ModuleType] = {}


def load_evaluator(task_dir: Path, evaluator: str) -> ModuleType:
    """Import the task's evaluator module (cached per file and modification time).

    The task folder goes on sys.path so the evaluator can import its own helpers.
    """
    path = (task_dir / evaluator).resolve()
    if not path.is_file():
        raise GenesisError(f"The evaluator {path} does not exist. Set task.evaluator in genesis.toml to the evaluator file, relative to the task folder.")
    key = (str(path), path.stat().st_mtime)
    module = _EVALUATORS.get(key)
    if module is not None:
        return module
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    name = f"genesis_evaluator_{abs(hash(key)):x}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    _EVALUATORS[key] = module
    return module


def coerce_result(value: Any, function: str) -> EvaluationResult:
    """The evaluator's return value as an `EvaluationResult`, or ValueError saying what is wrong with it."""
    if isinstance(value, EvaluationResult):
        return EvaluationResult.model_validate(value.model_dump())  # re-check fields assigned after construction
    if isinstance(value, dict):
        try:
            return EvaluationResult.model_validate(value)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'result'}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"{function} returned a dict that is not a valid result ({problems}).") from None
    raise ValueError(
        f"{function} returned {type(value).__name__} ({str(value)[:100]!r}); expected an EvaluationResult or a dict with a numeric 'score'."
    )


# -- running one job ------------------------------------------------------------------------


def run_job(
    job: Job,
    workdir: Path | None = None,
    *,
    sandbox: Sandbox | None = None,
    language: Language | None = None,
    keep_workdir: bool = False,
) -> JobResult:
    """Build and evaluate one candidate; every failure comes back as a failed `JobResult`.

    `workdir`: the job folder to use (kept afterwards); default: a fresh one,
    removed afterwards unless `keep_workdir`. `sandbox`: a started, warm
    sandbox to run candidate processes in (the local backend keeps one);
    default: one started for this job and stopped after it. `language`: an
    instance to use instead of looking `job.language` up among the plugins.
    """
    started = time.monotonic()
    deadline = started + job.limits.wall_time_s
    owned_sandbox: Sandbox | None = None
    created: Path | None = None
    try:
        try:
            language = language or load_language(job)
        except GenesisError as exc:
            return JobResult.failed(job.id, FailureReason.BACKEND_ERROR, f"The worker cannot load the language '{job.language}': {exc}")
        bad = _bad_paths(job)
        if bad:
            return JobResult.failed(job.id, FailureReason.PATCH_ERROR, bad)
        try:
            if sandbox is None:
                root = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="genesis-job-"))
                created = None if workdir is not None else root
                owned_sandbox = sandbox = Sandbox(root, sandbox_spec(job, language)).start()
                folder = sandbox.root
                folder.mkdir(parents=True, exist_ok=True)
            elif workdir is not None:
                folder = Path(workdir)
                folder.mkdir(parents=True, exist_ok=True)
            else:
                folder = created = sandbox.new_workdir(f"{_safe(job.id)}-{os.getpid()}-{time.monotonic_ns() % 10**9}")
            for rel, text in job.files.items():
                target = folder / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
            sandbox.adopt_workdir(folder)
        except (SandboxError, OSError) as exc:
            return JobResult.failed(job.id, FailureReason.SANDBOX_ERROR, f"The worker could not prepare the job's sandbox: {exc}")
        result = _build_and_evaluate(job, language, sandbox, folder, deadline)
    finally:
        if owned_sandbox is not None:
            owned_sandbox.close()
        if created is not None and not keep_workdir:
            shutil.rmtree(created, ignore_errors=True)
    result.total_seconds = time.monotonic() - started
    return result


def _build_and_evaluate(job: Job, language: Language, sandbox: Sandbox, folder: Path, deadline: float) -> JobResult:
    def run_in_sandbox(argv: Sequence[str], input: str | bytes | None = None, timeout_s: float | None = None, cwd: Path | None = None, env: dict[str, str] | None = None) -> ProcessResult:
        left = max(0.1, deadline - time.monotonic())
        limit = left if timeout_s is None else min(timeout_s, left)
        return sandbox.run(argv, cwd=Path(cwd) if cwd else folder, limits=job.limits, input=input, timeout=limit, env=env, scrub_env=job.scrub_env)

    build_started = time.monotonic()
    context = BuildContext(
        workdir=folder,
        main_file=job.main_file,
        shared_build_dir=Path(job.shared_build_dir) if job.shared_build_dir else None,
        run=run_in_sandbox,
        timeout_s=max(0.1, deadline - time.monotonic()),
    )
    try:
        build = language.build(context)
    except SandboxError as exc:
        return JobResult.failed(job.id, FailureReason.SANDBOX_ERROR, f"The sandbox failed during the build: {exc}")
    except Exception as exc:
        return JobResult.failed(job.id, FailureReason.BUILD_ERROR, f"The {language.name} language plugin failed to build the candidate: {type(exc).__name__}: {exc}")
    build_seconds = time.monotonic() - build_started
    artifacts = {"build_log": _trim(build.log)} if build.log else {}
    if not build.ok or not build.artifact:
        return JobResult.failed(
            job.id, FailureReason.BUILD_ERROR, f"The candidate does not build:\n{_trim(build.log, 4000) or '(no build log)'}",
            artifacts=artifacts, build_seconds=build_seconds, metrics=dict(build.metrics),
        )
    if language.needs_gpu and (problem := language.runtime_problem()):
        return JobResult.failed(
            job.id, FailureReason.NEEDS_GPU, problem, artifacts=artifacts, build_seconds=build_seconds, metrics=dict(build.metrics),
        )
    candidate = Candidate(
        workdir=folder, artifact=build.artifact, language=language, sandbox=sandbox, limits=job.limits,
        main_file=job.main_file, files=job.files, scrub_env=job.scrub_env, deadline=deadline,
    )
    eval_started = time.monotonic()
    outcome = _call_evaluator(job, candidate, deadline)
    eval_seconds = time.monotonic() - eval_started
    outcome.artifacts = {**artifacts, **outcome.artifacts}
    outcome.metrics = {**build.metrics, **outcome.metrics}
    outcome.build_seconds = build_seconds
    outcome.eval_seconds = eval_seconds
    return outcome


def _call_evaluator(job: Job, candidate: Candidate, deadline: float) -> JobResult:
    function_name = f"{job.evaluator}:{job.evaluator_function}"
    captured = io.StringIO()
    try:
        with _evaluator_deadline(deadline), contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            module = load_evaluator(Path(job.task_dir), job.evaluator)
            function = getattr(module, job.evaluator_function, None)
            if not callable(function):
                raise GenesisError(f"The evaluator {job.evaluator} defines no function {job.evaluator_function}(candidate). Define it, or set task.evaluator_function.")
            value = function(candidate)
    except EvaluatorTimeout:
        return JobResult.failed(
            job.id, FailureReason.TIMEOUT,
            f"The evaluation did not finish within its wall time of {job.limits.wall_time_s:.0f} s ({function_name} was still running).",
            artifacts=_output(captured),
        )
    except CandidateError as exc:
        artifacts = _output(captured)
        if exc.result is not None and exc.result.stderr:
            artifacts["candidate_stderr"] = _trim(exc.result.stderr)
        return JobResult.failed(job.id, exc.reason, exc.message, feedback=exc.message, artifacts=artifacts)
    except SandboxError as exc:
        return JobResult.failed(job.id, FailureReason.SANDBOX_ERROR, f"The sandbox failed while {function_name} ran: {exc}", artifacts=_output(captured))
    except GenesisError as exc:
        return JobResult.failed(job.id, FailureReason.EVALUATOR_ERROR, str(exc), artifacts=_output(captured))
    except BaseException as exc:  # the evaluator's own bug must not take the worker down
        if isinstance(exc, KeyboardInterrupt | WorkerTerminated):
            raise
        trace = traceback.format_exc(limit=-10)
        artifacts = {**_output(captured), "evaluator_traceback": _trim(trace)}
        return JobResult.failed(job.id, FailureReason.EVALUATOR_ERROR, f"The evaluator {function_name} raised {type(exc).__name__}: {exc}", artifacts=artifacts)
    try:
        result = coerce_result(value, function_name)
    except ValueError as exc:
        return JobResult.failed(job.id, FailureReason.INVALID_RESULT, str(exc), artifacts=_output(captured))
    artifacts = {**_output(captured), **{k: _trim(v) for k, v in result.artifacts.items()}}
    fields = {"score": result.score, "correct": result.correct, "metrics": result.metrics, "feedback": result.feedback, "artifacts": artifacts}
    if not result.correct:
        why = result.feedback.strip() or "the evaluator marked the candidate's output as incorrect"
        return JobResult.failed(job.id, FailureReason.INCORRECT, f"Incorrect: {_trim(why, 2000)}", **fields)
    return JobResult(job_id=job.id, ok=True, **fields)


@contextlib.contextmanager
def _evaluator_deadline(deadline: float):
    """Interrupt a Python-level evaluator at the deadline (main thread only; the backend kills the rest)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(*_: object) -> None:
        raise EvaluatorTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, max(0.01, deadline - time.monotonic()))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _bad_paths(job: Job) -> str | None:
    for rel in job.files:
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts or not p.parts or rel.startswith("~"):
            return f"The candidate file path {rel!r} is not a plain relative path inside the job folder; use names like 'main.py' or 'src/lib.rs'."
    if job.main_file not in job.files:
        return f"The job's main file {job.main_file!r} is not among its files ({', '.join(job.files) or 'none'})."
    return None


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:60] or "job"


def _trim(text: str, limit: int = MAX_ARTIFACT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit // 4] + "\n...[trimmed]...\n" + text[-(limit * 3) // 4 :]


def _output(captured: io.StringIO) -> dict[str, str]:
    text = captured.getvalue()
    return {"evaluator_output": _trim(text)} if text.strip() else {}


# -- command line -----------------------------------------------------------------------------


def _terminate(signum: int, frame: object) -> None:
    raise WorkerTerminated()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or len(args) > 2 or args[0] in ("-h", "--help"):
        print("usage: python -m genesis_core.worker JOB.json [RESULT.json]\n\nRuns one evaluation job and writes its JobResult as JSON (to standard output without RESULT.json).", file=sys.stderr)
        return 2
    try:
        job = Job.model_validate_json(Path(args[0]).read_text())
    except (OSError, ValidationError) as exc:
        print(f"genesis worker: cannot read the job {args[0]}: {exc}", file=sys.stderr)
        return 2
    # A backend stopping the job (Slurm's time limit, a cancel) sends SIGTERM first: unwind, so the
    # job folder and the sandbox are cleaned up on the way out.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        result = run_job(job)
    except WorkerTerminated:
        return 128 + signal.SIGTERM
    except Exception as exc:  # last resort: a result, not a traceback, is what backends parse
        result = JobResult.failed(job.id, FailureReason.BACKEND_ERROR, f"The worker failed: {type(exc).__name__}: {exc}", artifacts={"worker_traceback": traceback.format_exc()})
    text = result.model_dump_json()
    if len(args) == 2:
        tmp = Path(args[1] + ".tmp")
        tmp.write_text(text)
        tmp.replace(args[1])
    else:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
