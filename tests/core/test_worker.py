"""The worker: build, evaluate, and turn every failure into a failed JobResult."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from genesis_core.job import FailureReason, Job, JobResult, Limits
from genesis_core.worker import run_job

CANDIDATE = "def answer():\n    return 21\n"

EVALUATORS = {
    "good": "def evaluate(c):\n    v = c.call('answer')\n    print('evaluator saw', v)\n    return EvaluationResult(score=v * 2, metrics={'v': v}, feedback='fine', artifacts={'note': 'kept'})\n",
    "as_dict": "def evaluate(c):\n    return {'score': 1.5, 'metrics': {'m': 2}}\n",
    "no_score": "def evaluate(c):\n    return {'correct': True}\n",
    "nan": "def evaluate(c):\n    return {'score': float('nan')}\n",
    "string": "def evaluate(c):\n    return 'great job'\n",
    "string_score": "def evaluate(c):\n    return {'score': '12'}\n",
    "none": "def evaluate(c):\n    c.call('answer')\n",
    "raises": "def evaluate(c):\n    raise KeyError('missing piece')\n",
    "hangs": "def evaluate(c):\n    while True:\n        pass\n",
    "incorrect": "def evaluate(c):\n    return EvaluationResult(score=0.5, correct=False, feedback='circle 3 overlaps circle 7')\n",
    "broken_import": "import not_a_module_anywhere\ndef evaluate(c):\n    return {'score': 1}\n",
    "no_function": "def score_it(c):\n    return {'score': 1}\n",
    "run_program": "def evaluate(c):\n    r = c.run(['a'], input='in')\n    return {'score': float(r.returncode == 0), 'feedback': r.stdout}\n",
}


def make_job(tmp_path: Path, evaluator: str, files: dict[str, str] | None = None, **fields) -> Job:
    task = tmp_path / "task"
    task.mkdir(exist_ok=True)
    (task / f"{evaluator}.py").write_text("from genesis_core.evaluation import EvaluationResult\n" + EVALUATORS[evaluator])
    return Job(
        id=f"job-{evaluator}",
        language="python",
        files=files or {"main.py": CANDIDATE},
        main_file="main.py",
        task_dir=str(task),
        evaluator=f"{evaluator}.py",
        limits=fields.pop("limits", Limits(wall_time_s=30)),
        **fields,
    )


def test_a_good_evaluation(tmp_path):
    result = run_job(make_job(tmp_path, "good"))
    assert result.ok and result.failure is None
    assert result.score == 42.0 and result.correct
    assert result.metrics == {"v": 21.0}
    assert result.feedback == "fine"
    assert result.artifacts["note"] == "kept"
    assert "evaluator saw 21" in result.artifacts["evaluator_output"]
    assert result.total_seconds >= result.eval_seconds > 0


def test_a_dict_result_is_accepted(tmp_path):
    result = run_job(make_job(tmp_path, "as_dict"))
    assert result.ok and result.score == 1.5 and result.metrics == {"m": 2.0}


@pytest.mark.parametrize(
    "evaluator, reason, phrase",
    [
        ("no_score", FailureReason.INVALID_RESULT, "score: Field required"),
        ("nan", FailureReason.INVALID_RESULT, "finite"),
        ("string", FailureReason.INVALID_RESULT, "returned str"),
        ("string_score", FailureReason.INVALID_RESULT, "must be a number, not str"),
        ("none", FailureReason.INVALID_RESULT, "returned NoneType"),
        ("raises", FailureReason.EVALUATOR_ERROR, "raised KeyError: 'missing piece'"),
        ("broken_import", FailureReason.EVALUATOR_ERROR, "No module named 'not_a_module_anywhere'"),
        ("no_function", FailureReason.EVALUATOR_ERROR, "defines no function evaluate"),
    ],
)
def test_bad_evaluator_output_is_a_failed_candidate(tmp_path, evaluator, reason, phrase):
    result = run_job(make_job(tmp_path, evaluator))
    assert not result.ok
    assert result.failure == reason
    assert phrase in result.error, result.error


def test_an_evaluator_past_the_wall_time_is_a_timeout(tmp_path):
    result = run_job(make_job(tmp_path, "hangs", limits=Limits(wall_time_s=1.5)))
    assert result.failure == FailureReason.TIMEOUT
    assert "hangs.py:evaluate was still running" in result.error


def test_incorrect_keeps_score_and_feedback(tmp_path):
    result = run_job(make_job(tmp_path, "incorrect"))
    assert not result.ok and result.failure == FailureReason.INCORRECT
    assert result.score == 0.5
    assert result.feedback == "circle 3 overlaps circle 7"
    assert "circle 3 overlaps circle 7" in result.error


def test_a_syntax_error_is_a_build_error_with_the_line(tmp_path):
    result = run_job(make_job(tmp_path, "good", files={"main.py": "def answer(:\n    return 1\n"}))
    assert result.failure == FailureReason.BUILD_ERROR
    assert "main.py:1" in result.error and "build_log" in result.artifacts


def test_an_unknown_language_is_a_backend_error(tmp_path):
    job = make_job(tmp_path, "good").model_copy(update={"language": "cobol-2099"})
    result = run_job(job)
    assert result.failure == FailureReason.BACKEND_ERROR
    assert "cobol-2099" in result.error


@pytest.mark.parametrize("path", ["../escape.py", "/etc/evil.py", "a/../../b.py"])
def test_file_paths_must_stay_in_the_job_folder(tmp_path, path):
    result = run_job(make_job(tmp_path, "good", files={"main.py": CANDIDATE, path: "x = 1\n"}))
    assert result.failure == FailureReason.PATCH_ERROR
    assert repr(path) in result.error


def test_candidate_run_with_args_and_input(tmp_path):
    program = "import sys\nprint('args', sys.argv[1:], sys.stdin.read())\n"
    result = run_job(make_job(tmp_path, "run_program", files={"main.py": program}))
    assert result.ok, result.error
    assert result.feedback == "args ['a'] in\n"


def test_an_explicit_workdir_is_used_and_kept(tmp_path):
    folder = tmp_path / "job-folder"
    result = run_job(make_job(tmp_path, "good"), folder)
    assert result.ok, result.error
    assert (folder / "main.py").read_text() == CANDIDATE


def test_the_command_line_writes_the_result(tmp_path):
    job = make_job(tmp_path, "good")
    job_file, result_file = tmp_path / "job.json", tmp_path / "result.json"
    job_file.write_text(job.model_dump_json())
    done = subprocess.run([sys.executable, "-m", "genesis_core.worker", str(job_file), str(result_file)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert JobResult.model_validate_json(result_file.read_text()).score == 42.0
    printed = subprocess.run([sys.executable, "-m", "genesis_core.worker", str(job_file)], capture_output=True, text=True, timeout=120)
    assert json.loads(printed.stdout)["score"] == 42.0


def test_the_command_line_refuses_a_bad_job_file(tmp_path):
    bad = tmp_path / "job.json"
    bad.write_text(textwrap.dedent('{"id": "x"}'))
    done = subprocess.run([sys.executable, "-m", "genesis_core.worker", str(bad)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "cannot read the job" in done.stderr


def test_the_command_line_cleans_up_when_terminated(tmp_path):
    task = tmp_path / "task"
    task.mkdir()
    (task / "evaluate.py").write_text("def evaluate(c):\n    return {'score': float(c.call('answer'))}\n")
    job = Job(id="slow", language="python", files={"main.py": "import time\ndef answer():\n    time.sleep(600)\n"}, main_file="main.py", task_dir=str(task), limits=Limits(wall_time_s=300))
    (tmp_path / "job.json").write_text(job.model_dump_json())
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    worker = subprocess.Popen([sys.executable, "-m", "genesis_core.worker", str(tmp_path / "job.json")], env={**os.environ, "TMPDIR": str(scratch)}, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith("genesis-job-") and (p / "main.py").exists() for p in scratch.iterdir()):
        assert time.monotonic() < deadline, "the worker never created its job folder"
        time.sleep(0.1)
    time.sleep(0.5)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)
    worker.stdout.close()
    assert list(scratch.iterdir()) == []
