"""The evaluator API: what a task's `evaluate(candidate)` receives and returns.

The evaluator is the task author's trusted code. It runs in the worker's
process, never in the candidate's: the candidate runs only inside the
sandbox, through `Candidate.run` (a program with arguments and input) or,
for Python, `Candidate.call` (one function, arguments and return value sent
as JSON, never unpickled). Times come from the harness, outside the
candidate, so a candidate cannot report its own speed or its own score.

A minimal evaluator::

    from genesis_core.evaluation import Candidate, EvaluationResult

    def evaluate(candidate: Candidate) -> EvaluationResult:
        value = candidate.call("solve", [3, 1, 2], timeout=10)
        ok = value == [1, 2, 3]
        return EvaluationResult(score=1.0 if ok else 0.0, correct=ok,
                                feedback="" if ok else f"got {value!r}")

A candidate that crashes, times out, runs out of memory or prints too much
raises a `CandidateError`; left uncaught, the worker records the candidate
as failed with that reason and message.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from genesis_core.errors import TaskError
from genesis_core.job import FailureReason, Limits
from genesis_core.language import ProcessResult
from genesis_core.sandbox import Outcome, Sandbox

MEMORY_MARKERS = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "out of memory", "memory allocation of")


class EvaluationResult(BaseModel):
    """What an evaluator returns. `score`: higher is better unless the task minimises."""

    model_config = ConfigDict(extra="forbid")

    score: float = Field(description="A finite number.")
    correct: bool = Field(True, description="False when the candidate's output is wrong; it then counts as a failed candidate.")
    metrics: dict[str, float] = Field(default_factory=dict, description="Named finite numbers (timings, sizes...), stored and shown.")
    feedback: str = Field("", description="Text for the next prompt: what was wrong or slow.")
    artifacts: dict[str, str] = Field(default_factory=dict, description="Named texts kept with the result (logs, outputs).")

    @field_validator("score", mode="before")
    @classmethod
    def _score_is_a_number(cls, value: Any) -> Any:
        if isinstance(value, bool | str | bytes) or not hasattr(value, "__float__"):
            raise ValueError(f"score must be a number, not {type(value).__name__} ({str(value)[:80]!r})")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"score must be finite, not {number}")
        return number

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics_are_numbers(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out = {}
        for name, number in value.items():
            if isinstance(number, bool | str | bytes) or not hasattr(number, "__float__"):
                raise ValueError(f"metric {name!r} must be a number, not {type(number).__name__}")
            number = float(number)
            if not math.isfinite(number):
                raise ValueError(f"metric {name!r} must be finite, not {number}")
            out[str(name)] = number
        return out


# -- what goes wrong with a candidate --------------------------------------------------


class CandidateError(Exception):
    """The candidate failed while the evaluator ran it. Uncaught, it fails the candidate with `reason`."""

    reason: FailureReason = FailureReason.CRASH

    def __init__(self, message: str, *, result: ProcessResult | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.result = result


class CandidateTimeout(CandidateError):
    """The candidate ran past its wall-time or CPU-time limit and was killed."""

    reason = FailureReason.TIMEOUT


class CandidateMemoryError(CandidateError):
    """The candidate ran out of its memory limit."""

    reason = FailureReason.MEMORY


class CandidateCrash(CandidateError):
    """The candidate raised, exited, or died from a signal instead of answering."""

    reason = FailureReason.CRASH


class CandidateOutputLimit(CandidateError):
    """The candidate printed (or returned) more than the limit and was killed."""

    reason = FailureReason.OUTPUT_LIMIT


class CandidateBadOutput(CandidateError):
    """The candidate's answer cannot be used (not JSON, wrong shape)."""

    reason = FailureReason.INCORRECT


class IncorrectOutput(CandidateError):
    """The candidate answered, and the answer is wrong (raised by `measure`'s validation)."""

    reason = FailureReason.INCORRECT


def check_process(result: ProcessResult, what: str = "the candidate") -> ProcessResult:
    """Raise the matching `CandidateError` unless `result` is a clean exit with code 0."""
    tail = _tail(result.stderr or result.stdout)
    if result.killed_reason in ("timeout", "cpu_time"):
        kind = "wall-time" if result.killed_reason == "timeout" else "CPU-time"
        raise CandidateTimeout(f"{what} was killed at its {kind} limit after {result.seconds:.2f} s.{tail}", result=result)
    if result.killed_reason == "background_processes":
        raise CandidateCrash(f"{what} left processes running in the background after it exited; the harness killed them. A candidate must wait for everything it starts.{tail}", result=result)
    if result.killed_reason in ("output_limit", "result_limit", "file_size"):
        detail = {"output_limit": "printed more than the output limit", "result_limit": "returned more than the result limit", "file_size": "wrote a file larger than the file-size limit"}
        raise CandidateOutputLimit(f"{what} {detail[result.killed_reason]} and was killed.{tail}", result=result)
    if result.returncode != 0:
        if any(marker in (result.stderr or "") for marker in MEMORY_MARKERS):
            raise CandidateMemoryError(f"{what} ran out of memory (limit reached).{tail}", result=result)
        how = f"was killed by {result.killed_reason}" if result.killed_reason else f"exited with code {result.returncode}"
        raise CandidateCrash(f"{what} {how}.{tail}", result=result)
    return result


def _tail(text: str, limit: int = 1500) -> str:
    text = (text or "").strip()
    if not text:
        return ""
    return "\n" + (text if len(text) <= limit else "..." + text[-limit:])


# -- the candidate handle -----------------------------------------------------------------


@dataclass
class CallResult:
    """One function call in the sandbox: its value and the time measured by the harness."""

    value: Any
    seconds: float
    stdout: str
    stderr: str


def _json_default(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"an argument of type {type(value).__name__} cannot be sent to the candidate as JSON")


class Candidate:
    """The evaluator's handle to one built candidate.

    `workdir` is the candidate's folder (the evaluator may put input files
    there); `artifact` is what the language built, relative to it.
    """

    def __init__(
        self,
        *,
        workdir: Path,
        artifact: str,
        language: Any,
        sandbox: Sandbox,
        limits: Limits,
        main_file: str,
        files: dict[str, str],
        scrub_env: Sequence[str] = (),
        deadline: float | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.artifact = artifact
        self.language = language.name
        self._language = language
        self._sandbox = sandbox
        self.limits = limits
        self.main_file = main_file
        self.files = dict(files)
        self._scrub = tuple(scrub_env)
        self.deadline = deadline

    @property
    def artifact_path(self) -> Path:
        return self.workdir / self.artifact

    def remaining(self) -> float:
        """Seconds left of the evaluation's wall time."""
        if self.deadline is None:
            return self.limits.wall_time_s
        return self.deadline - time.monotonic()

    def _timeout(self, timeout: float | None, what: str) -> float:
        left = self.remaining()
        if left <= 0.05:
            raise CandidateTimeout(f"The evaluation's wall time ({self.limits.wall_time_s:.0f} s) is used up; {what} was not started.")
        return left if timeout is None else min(float(timeout), left)

    def run(
        self,
        args: Sequence[str] = (),
        input: str | bytes | None = None,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        artifact: str | None = None,
    ) -> ProcessResult:
        """Run the built program with `args` and standard input `input` in the sandbox.

        `artifact`: another executable the build left in the job folder (a
        benchmark next to the program), relative to it; default: the program.
        Returns what happened (exit code, output, harness-measured seconds);
        it does not raise for a failing program: `check_process(result)` does.
        """
        argv = self._language.run_command(artifact or self.artifact, [str(a) for a in args])
        limit = self._timeout(timeout, "the program")
        return self._sandbox.run(argv, cwd=self.workdir, limits=self.limits, input=input, timeout=limit, env=env, scrub_env=self._scrub)

    def call(self, function_name: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Call a function of a Python candidate in the sandbox and return its value.

        Arguments and the value travel as JSON: lists for tuples and NumPy
        arrays, plain numbers for NumPy scalars. Raises a `CandidateError` when
        the call raises, dies, times out or answers with something unusable.
        """
        return self.call_timed(function_name, *args, timeout=timeout, **kwargs).value

    def call_timed(self, function_name: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> CallResult:
        """Like `call`, with the seconds the function took (measured outside the candidate) and its output."""
        if self.language != "python":
            raise TaskError(
                f"candidate.call() calls Python functions, but this candidate is written in {self.language}. "
                f"Use candidate.run(args, input) and read its output instead."
            )
        try:
            payload = json.dumps({"args": list(args), "kwargs": kwargs}, default=_json_default).encode()
        except (TypeError, ValueError) as exc:
            raise TaskError(f"The evaluator passed arguments to {function_name} that are not JSON: {exc}. Pass lists, dicts, numbers and strings.") from None
        limit = self._timeout(timeout, function_name)
        outcome = self._sandbox.call(self.artifact_path, function_name, payload, cwd=self.workdir, limits=self.limits, timeout=limit, scrub_env=self._scrub)
        return _interpret_call(function_name, outcome, limit)


def _interpret_call(function_name: str, outcome: Outcome, timeout: float) -> CallResult:
    result = outcome.process_result()
    what = f"the candidate's {function_name}()"
    final = next((line for _, line in reversed(outcome.messages) if line[:2] in (b"R ", b"E ")), None)
    if outcome.killed in ("timeout", "cpu_time"):
        limit = f"{timeout:.2f} s of wall time" if outcome.killed == "timeout" else "its CPU-time limit"
        raise CandidateTimeout(f"{what} did not return within {limit} and was killed.{_tail(result.stderr)}", result=result)
    if outcome.killed is not None or final is None:
        check_process(result, what)  # raises for kills, signals and exit codes
        raise CandidateCrash(f"{what} ended without returning a value (exit code {outcome.returncode}); it may have called os._exit().{_tail(result.stderr)}", result=result)
    line = final
    try:
        message = json.loads(line[2:])
    except ValueError:
        raise CandidateBadOutput(f"{what} sent back something that is not JSON: {line[:200]!r}", result=result) from None
    if line.startswith(b"E "):
        kind = message.get("type", "Exception") if isinstance(message, dict) else "Exception"
        text = f"{what} raised {kind}: {message.get('message', '') if isinstance(message, dict) else message}"
        trace = _tail(message.get("traceback", "") if isinstance(message, dict) else "")
        error_class = CandidateMemoryError if kind == "MemoryError" else CandidateCrash
        raise error_class(f"{text}{trace}", result=result)
    if not isinstance(message, dict) or "value" not in message:
        raise CandidateBadOutput(f"{what} sent back an answer without a value: {line[:200]!r}", result=result)
    # The first mark before and the last mark after the call, timestamped by the kernel as they were
    # sent: a candidate forging marks can only lengthen its own time.
    before = next((t for t, mark in outcome.marks if mark == b"S"), None)
    after = next((t for t, mark in reversed(outcome.marks) if mark == b"D"), None)
    seconds = after - before if before is not None and after is not None and after >= before else outcome.seconds
    return CallResult(value=message["value"], seconds=seconds, stdout=result.stdout, stderr=result.stderr)


# -- the repeat, validate, aggregate and time helper -----------------------------------------


@dataclass
class Measurement:
    """Values and harness-measured seconds of repeated calls, and their aggregate time."""

    values: list[Any]
    seconds: list[float]
    time: float

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.seconds)

    def metrics(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}time_s": self.time, f"{prefix}best_s": self.best, f"{prefix}mean_s": self.mean, f"{prefix}repeats": float(len(self.seconds))}


AGGREGATES: dict[str, Callable[[Sequence[float]], float]] = {"min": min, "max": max, "median": statistics.median, "mean": statistics.fmean}


def measure(
    candidate: Candidate,
    function_name: str,
    args: Sequence[Any] | Callable[[int], Sequence[Any]] = (),
    *,
    kwargs: dict[str, Any] | None = None,
    repeats: int = 3,
    warmup: int = 0,
    validate: Callable[[Any, Sequence[Any]], bool | str | None] | None = None,
    aggregate: str | Callable[[Sequence[float]], float] = "median",
    timeout: float | None = None,
) -> Measurement:
    """Call `function_name` `repeats` times, validate each value, and aggregate the times.

    `args` is the argument list, or a function of the repeat index that makes
    one (fresh inputs defeat caching). `validate(value, args)` returns None or
    True when the value is right, False or a message when it is wrong; a wrong
    value raises `IncorrectOutput`. `warmup` calls run first and are neither
    validated nor timed. Each call is a fresh sandboxed process.
    """
    if repeats < 1:
        raise TaskError(f"measure() needs repeats >= 1, got {repeats}.")
    agg = AGGREGATES.get(aggregate) if isinstance(aggregate, str) else aggregate
    if agg is None:
        raise TaskError(f"measure(): unknown aggregate {aggregate!r}; use one of {', '.join(AGGREGATES)} or a function.")
    make_args = args if callable(args) else (lambda _i: args)
    for i in range(warmup):
        candidate.call(function_name, *make_args(-1 - i), timeout=timeout, **(kwargs or {}))
    values: list[Any] = []
    seconds: list[float] = []
    for i in range(repeats):
        call_args = list(make_args(i))
        outcome = candidate.call_timed(function_name, *call_args, timeout=timeout, **(kwargs or {}))
        if validate is not None:
            verdict = validate(outcome.value, call_args)
            if verdict is False or isinstance(verdict, str):
                detail = verdict if isinstance(verdict, str) else "the value is wrong"
                raise IncorrectOutput(f"{function_name}() gave a wrong answer on repeat {i + 1}: {detail}")
        values.append(outcome.value)
        seconds.append(outcome.seconds)
    return Measurement(values=values, seconds=seconds, time=float(agg(seconds)))
