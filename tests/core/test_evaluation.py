"""The evaluator API: results, the candidate handle in a real sandbox, and `measure`."""

from __future__ import annotations

import math
import shutil
import textwrap
import time

import numpy as np
import pytest
from genesis_core.errors import TaskError
from genesis_core.evaluation import (
    Candidate,
    CandidateCrash,
    CandidateMemoryError,
    CandidateOutputLimit,
    CandidateTimeout,
    EvaluationResult,
    IncorrectOutput,
    check_process,
    measure,
)
from genesis_core.job import FailureReason, Limits
from genesis_core.languages.python import PythonLanguage
from genesis_core.sandbox import Sandbox
from pydantic import ValidationError

SOURCE = '''
import os, sys, time

def add(a, b=0):
    return a + b

def echo(value):
    return value

def boom():
    raise ValueError("bad input 42")

def hog():
    keep = []
    while True:
        keep.append(bytearray(32 * 2**20))

def slow(seconds):
    time.sleep(seconds)
    return seconds

def loud():
    while True:
        print("x" * 10000)

def vanish():
    os._exit(0)

def leave():
    sys.exit(3)

def not_json():
    return object()

def array(n):
    import numpy as np
    return np.linspace(0, 1, n)

if __name__ == "__main__":
    data = sys.stdin.read()
    print("args", sys.argv[1:], "input", data.strip())
    sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 0)
'''


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    with Sandbox(tmp_path_factory.mktemp("evaluation-root")) as box:
        yield box


@pytest.fixture
def candidate(sandbox):
    folder = sandbox.new_workdir()
    (folder / "main.py").write_text(textwrap.dedent(SOURCE))
    sandbox.adopt_workdir(folder)
    limits = Limits(wall_time_s=30, memory_mb=512, max_output_bytes=50_000)
    yield Candidate(
        workdir=folder, artifact="main.py", language=PythonLanguage(), sandbox=sandbox, limits=limits,
        main_file="main.py", files={"main.py": SOURCE}, deadline=time.monotonic() + 30,
    )
    shutil.rmtree(folder, ignore_errors=True)


# -- EvaluationResult ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1.5", None, True, [1.0]])
def test_score_must_be_a_finite_number(bad):
    with pytest.raises(ValidationError, match="score"):
        EvaluationResult(score=bad)


def test_numpy_numbers_are_accepted_and_metrics_checked():
    result = EvaluationResult(score=np.float64(2.5), metrics={"n": np.int64(3)})
    assert result.score == 2.5 and result.metrics == {"n": 3.0}
    with pytest.raises(ValidationError, match="finite"):
        EvaluationResult(score=1, metrics={"t": math.nan})
    with pytest.raises(ValidationError, match="number"):
        EvaluationResult(score=1, metrics={"t": "fast"})


# -- calling functions ------------------------------------------------------------------------


def test_call_returns_the_value(candidate):
    assert candidate.call("add", 2, b=3) == 5
    assert candidate.call("echo", {"k": [1, (2, 3)]}) == {"k": [1, [2, 3]]}
    assert candidate.call("echo", np.arange(3)) == [0, 1, 2]
    assert candidate.call("array", 3) == [0.0, 0.5, 1.0]


def test_call_timed_measures_outside_the_candidate(candidate):
    outcome = candidate.call_timed("slow", 0.2)
    assert outcome.value == 0.2
    assert outcome.seconds >= 0.2


def test_an_exception_becomes_a_crash_with_its_message(candidate):
    with pytest.raises(CandidateCrash, match="raised ValueError: bad input 42") as info:
        candidate.call("boom")
    assert info.value.reason == FailureReason.CRASH
    assert "Traceback" in str(info.value)


def test_memory_exhaustion_is_a_memory_error(candidate):
    with pytest.raises(CandidateMemoryError) as info:
        candidate.call("hog", timeout=20)
    assert info.value.reason == FailureReason.MEMORY


def test_timeout(candidate):
    with pytest.raises(CandidateTimeout, match="did not return within 0.50 s"):
        candidate.call("slow", 60, timeout=0.5)


def test_too_much_output(candidate):
    with pytest.raises(CandidateOutputLimit, match="output limit"):
        candidate.call("loud")


@pytest.mark.parametrize("function, phrase", [("vanish", "without returning a value"), ("leave", "raised SystemExit"), ("not_json", "cannot be sent back as JSON"), ("missing", "no function named 'missing'")])
def test_no_usable_answer_is_a_crash(candidate, function, phrase):
    with pytest.raises(CandidateCrash, match=phrase):
        candidate.call(function)


def test_the_wall_time_of_the_evaluation_bounds_every_call(candidate):
    candidate.deadline = time.monotonic() - 1
    with pytest.raises(CandidateTimeout, match="wall time"):
        candidate.call("add", 1)


def test_arguments_must_be_json(candidate):
    with pytest.raises(TaskError, match="not JSON"):
        candidate.call("echo", object())


# -- running programs ---------------------------------------------------------------------------


def test_run_with_arguments_and_input(candidate):
    result = candidate.run(["x", "y"], input="data")
    assert result.returncode == 0
    assert result.stdout == "args ['x', 'y'] input data\n"
    assert check_process(result) is result


def test_check_process_raises_for_a_failing_program(candidate):
    result = candidate.run(["7"])
    assert result.returncode == 7
    with pytest.raises(CandidateCrash, match="exited with code 7"):
        check_process(result)


def test_call_is_for_python_only(candidate):
    candidate.language = "rust"
    with pytest.raises(TaskError, match="candidate.run"):
        candidate.call("add", 1)


# -- measure ------------------------------------------------------------------------------------


def test_measure_repeats_validates_and_aggregates(candidate):
    seen = []

    def validate(value, args):
        seen.append((value, list(args)))
        return value == args[0] + args[1]

    m = measure(candidate, "add", lambda i: [i, 10], repeats=3, validate=validate, aggregate="min")
    assert m.values == [10, 11, 12]
    assert seen == [(10, [0, 10]), (11, [1, 10]), (12, [2, 10])]
    assert len(m.seconds) == 3 and m.time == min(m.seconds) == m.best
    assert set(m.metrics("add_")) == {"add_time_s", "add_best_s", "add_mean_s", "add_repeats"}


def test_measure_raises_incorrect_output_with_the_validators_message(candidate):
    with pytest.raises(IncorrectOutput, match="repeat 1: expected 4") as info:
        measure(candidate, "add", [2, 3], validate=lambda v, a: None if v == 4 else "expected 4")
    assert info.value.reason == FailureReason.INCORRECT


def test_measure_rejects_unknown_aggregates(candidate):
    with pytest.raises(TaskError, match="unknown aggregate"):
        measure(candidate, "add", [1], aggregate="mode")
