"""The starter task `genesis init` writes for compiled languages.

The same small problem as the Python template (maximise a function of a
point), for a program that prints its point on standard output: the
evaluator runs the built program in the sandbox and scores what it printed.
A language plugin returns `printed_point_task(...)` from `task_template()`.
"""

from __future__ import annotations

GENESIS_TOML = '''\
# A Genesis task: `genesis run .` evolves {main_file}; `genesis config schema` lists every setting.
[task]
description = """Print a point "x y" that maximises f(x, y) = 10 - (x - 3)^2 - (y + 1)^2 - 0.1 * cos(7 * x).
The evaluator runs the built program and scores the point it prints."""
language = "{language}"
initial_program = "{main_file}"
evaluator = "evaluate.py"
objective = "maximize"

[run]
max_evaluations = 40
'''

EVALUATOR = '''\
"""Scores a candidate. It runs in its own process; the built program runs in the sandbox."""

import math

from genesis_core.evaluation import Candidate, EvaluationResult


def evaluate(candidate: Candidate) -> EvaluationResult:
    result = candidate.run(timeout=10)
    if result.returncode != 0:
        return EvaluationResult(score=0.0, correct=False, feedback=f"The program exited with {result.returncode}: {result.stderr[-500:]}")
    try:
        x, y = (float(v) for v in result.stdout.split()[:2])
    except ValueError:
        return EvaluationResult(score=0.0, correct=False, feedback=f"Expected two numbers on stdout, got {result.stdout[:200]!r}.")
    score = 10 - (x - 3) ** 2 - (y + 1) ** 2 - 0.1 * math.cos(7 * x)
    if not math.isfinite(score):
        return EvaluationResult(score=0.0, correct=False, feedback=f"f({x}, {y}) is not finite.")
    return EvaluationResult(
        score=score,
        metrics={"x": x, "y": y, "run_seconds": result.seconds},
        feedback=f"f({x:.6g}, {y:.6g}) = {score:.6g}. The best possible score is a little above 10.",
    )
'''


def printed_point_task(language: str, main_file: str, program: str) -> dict[str, str]:
    """genesis.toml, the program and evaluate.py of the starter task."""
    return {
        "genesis.toml": GENESIS_TOML.format(language=language, main_file=main_file),
        main_file: program,
        "evaluate.py": EVALUATOR,
    }
