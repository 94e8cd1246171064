"""Each example's initial program, evaluated through the worker, gets the score worked out here independently."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

import pytest
from genesis_core.config import load_config
from genesis_core.job import FailureReason, Job
from genesis_core.worker import run_job

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PYTHON_EXAMPLES = ["circle_packing", "bin_packing"]


def job_for(name: str, program: str | None = None) -> Job:
    task = EXAMPLES / name
    config = load_config(task)
    main = config.task.initial_program
    return Job(
        id=f"example-{name}",
        language=config.task.language,
        files={main: program if program is not None else (task / main).read_text()},
        main_file=main,
        task_dir=str(task),
        evaluator=config.task.evaluator,
        evaluator_function=config.task.evaluator_function,
        limits=config.limits,
    )


@pytest.mark.parametrize("name", PYTHON_EXAMPLES)
def test_example_folder_is_complete(name):
    task = EXAMPLES / name
    config = load_config(task)
    assert config.run.max_evaluations <= 50, "an example's default budget must run in well under a minute"
    program = (task / config.task.initial_program).read_text()
    assert "# EVOLVE-BLOCK-START" in program and "# EVOLVE-BLOCK-END" in program
    assert (task / "README.md").is_file() and (task / config.task.evaluator).is_file()


# -- circle packing -------------------------------------------------------------------


def circle_packing_baseline() -> float:
    """The baseline's sum of radii, from its parameters (rows 5,5,6,5,5, margin_x and margin_y 0.14), with plain Python."""
    text = (EXAMPLES / "circle_packing" / "initial.py").read_text()
    margin = float(re.search(r"margin_x = ([0-9.]+)", text).group(1))
    rows = [5, 5, 6, 5, 5]
    centers = []
    for k, count in enumerate(rows):
        y = margin + k * (1 - 2 * margin) / (len(rows) - 1)
        centers += [(margin + c * (1 - 2 * margin) / (count - 1), y) for c in range(count)]
    total = 0.0
    for i, (x, y) in enumerate(centers):
        nearest = min(math.dist((x, y), other) for j, other in enumerate(centers) if j != i)
        total += min(x, y, 1 - x, 1 - y, nearest / 2)
    return total


def test_circle_packing_initial_program_scores_its_sum_of_radii():
    result = run_job(job_for("circle_packing"))
    assert result.ok, f"{result.failure}: {result.error}"
    assert result.score == pytest.approx(circle_packing_baseline(), abs=1e-9)
    assert 2.0 < result.score < 2.635
    assert result.metrics["sum_radii"] == result.score
    assert "Valid packing" in result.feedback


@pytest.mark.parametrize(
    "circles, phrase",
    [
        ("[[0.5, 0.5, 0.1]] * 26", "overlap"),
        ("[[0.05 + 0.9 * (i % 6) / 5, 0.1 + 0.8 * (i // 6) / 4, 0.2] for i in range(26)]", "crosses the square's edge"),
    ],
)
def test_circle_packing_rejects_invalid_packings(circles, phrase):
    program = f"def construct_packing():\n    return {circles}\n"
    result = run_job(job_for("circle_packing", program))
    assert result.failure == FailureReason.INCORRECT
    assert phrase in result.feedback


def test_circle_packing_rejects_the_wrong_shape():
    result = run_job(job_for("circle_packing", "def construct_packing():\n    return [[0.5, 0.5]]\n"))
    assert result.failure == FailureReason.INCORRECT
    assert "must return 26 rows" in result.error


# -- bin packing --------------------------------------------------------------------------


def first_fit_score() -> float:
    """First fit on the evaluator's instances, written out here (seed and sizes read from the evaluator)."""
    source = (EXAMPLES / "bin_packing" / "evaluate.py").read_text()
    seed, count, items, capacity = (int(re.search(rf"^{k} = (\d+)", source, re.M).group(1)) for k in ("SEED", "INSTANCES", "ITEMS", "CAPACITY"))
    rng = random.Random(seed)
    ratios = []
    for _ in range(count):
        sizes = [rng.randint(20, 100) for _ in range(items)]
        bins: list[int] = []
        for size in sizes:
            for i, room in enumerate(bins):
                if room >= size:
                    bins[i] -= size
                    break
            else:
                bins.append(capacity - size)
        ratios.append(math.ceil(sum(sizes) / capacity) / len(bins))
    return sum(ratios) / len(ratios)


def test_bin_packing_initial_program_is_first_fit():
    result = run_job(job_for("bin_packing"))
    assert result.ok, f"{result.failure}: {result.error}"
    assert result.score == pytest.approx(first_fit_score(), abs=1e-12)
    assert result.metrics["excess_bins"] > 0


def test_bin_packing_best_fit_scores_higher():
    program = (EXAMPLES / "bin_packing" / "initial.py").read_text().replace("fit_weight = 0.0", "fit_weight = 1000.0")
    result = run_job(job_for("bin_packing", program))
    assert result.ok, result.error
    assert result.score > first_fit_score()


def test_bin_packing_rejects_an_overfull_bin():
    program = "def pack(instances):\n    return [[0] * len(i['items']) for i in instances]\n"
    result = run_job(job_for("bin_packing", program))
    assert result.failure == FailureReason.INCORRECT
    assert "over the capacity" in result.error
