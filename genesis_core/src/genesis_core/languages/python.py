"""The built-in Python language.

A Python candidate needs no compiler: its "build" compiles every file to
bytecode in memory, which finds syntax errors without running any candidate
code, so it is done in the worker itself. The candidate runs with the same
interpreter as Genesis (`python -E -s main.py`), so it sees the same
installed packages (NumPy...), inside the sandbox.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from genesis_core.hookspecs import hookimpl
from genesis_core.language import BuildContext, BuildResult, Language

HINTS = """\
- Vectorise with NumPy: replace Python loops over numbers by array operations (broadcasting, np.where, cumulative sums, np.einsum).
- Keep Python loops out of hot paths; when one must stay, hoist attribute lookups and constants out of it and use local variables.
- Use the right container: sets and dicts for membership, collections.deque for queues, heapq for priority queues, bisect on sorted lists.
- Avoid building large temporary lists: use generators, memoryview/bytes slices without copies, and in-place NumPy operations (out=, +=).
- Use the standard library's C-implemented functions (sum, min, max, sorted with key=, itertools, math.fsum) instead of hand-written loops.
- Precompute what does not change between calls; cache pure functions with functools.lru_cache.
- Prefer float64 NumPy arrays with contiguous memory; avoid object arrays and repeated np.append/concatenate in loops.
"""


class PythonLanguage(Language):
    """CPython: syntax checked by compile(), run by the interpreter that runs Genesis."""

    name = "python"
    extensions = (".py",)
    comment = "#"
    description = "Python 3, run by the same interpreter as Genesis (NumPy and other installed packages available)."

    def check_syntax(self, files: dict[str, str], main_file: str) -> str | None:
        """Compile every .py file; the first syntax error as `file:line: message` with the line, or None."""
        for path, text in files.items():
            if not path.endswith(".py"):
                continue
            error = compile_error(text, path)
            if error:
                return error
        return None

    def build(self, ctx: BuildContext) -> BuildResult:
        started = time.monotonic()
        errors = []
        for path in sorted(ctx.workdir.rglob("*.py")):
            rel = path.relative_to(ctx.workdir).as_posix()
            error = compile_error(path.read_text(errors="replace"), rel)
            if error:
                errors.append(error)
        seconds = time.monotonic() - started
        if errors:
            return BuildResult(ok=False, log="\n".join(errors), seconds=seconds)
        return BuildResult(ok=True, artifact=ctx.main_file, seconds=seconds)

    def run_command(self, artifact: str, args: Sequence[str] = ()) -> list[str]:
        # -E -s: ignore PYTHON* variables and the user's site-packages; the script's folder stays importable.
        return [sys.executable, "-E", "-s", artifact, *args]

    def hints(self) -> str:
        return HINTS

    def toolchain_versions(self) -> dict[str, str | None]:
        return {sys.executable: f"Python {sys.version.split()[0]}"}

    def task_template(self) -> dict[str, str]:
        """The task `genesis init --language python` writes (see TASK_TEMPLATE)."""
        return dict(TASK_TEMPLATE)


# A small task that works offline: the random edits of the offline provider improve it within a few dozen evaluations.
TASK_TEMPLATE = {
    "genesis.toml": """\
# A Genesis task: `genesis run .` evolves initial.py; `genesis config schema` lists every setting.
[task]
description = \"\"\"Return a point (x, y) that maximises f(x, y) = 10 - (x - 3)^2 - (y + 1)^2 - 0.1 * cos(7 * x).
The evaluator calls solve() and scores the point.\"\"\"
language = "python"
initial_program = "initial.py"
evaluator = "evaluate.py"
objective = "maximize"

[run]
max_evaluations = 60

# The grid of MAP-Elites (`--strategy map-elites`, `genesis compare`): programs kept per cell of (x, y).
[strategy.map-elites]
features = ["x", "y"]
ranges = { x = [-1.0, 7.0], y = [-5.0, 3.0] }
""",
    "initial.py": """\
\"\"\"The program Genesis evolves: only the lines between the EVOLVE-BLOCK markers change.\"\"\"

import math

# EVOLVE-BLOCK-START
def solve():
    \"\"\"Return [x, y]; the evaluator scores 10 - (x - 3)^2 - (y + 1)^2 - 0.1 * cos(7 * x).\"\"\"
    x = 0.5
    y = 0.5
    step = 0.25
    for _ in range(4):
        x = x + step
    return [x, y]
# EVOLVE-BLOCK-END


if __name__ == "__main__":
    print(solve())
""",
    "evaluate.py": """\
\"\"\"Scores a candidate. It runs in its own process; the candidate runs in the sandbox.\"\"\"

import math

from genesis_core.evaluation import Candidate, EvaluationResult


def evaluate(candidate: Candidate) -> EvaluationResult:
    point = candidate.call("solve", timeout=10)
    if not (isinstance(point, list) and len(point) == 2 and all(isinstance(v, (int, float)) for v in point)):
        return EvaluationResult(score=0.0, correct=False, feedback=f"solve() must return [x, y] (two numbers), not {point!r}.")
    x, y = (float(v) for v in point)
    score = 10 - (x - 3) ** 2 - (y + 1) ** 2 - 0.1 * math.cos(7 * x)
    if not math.isfinite(score):
        return EvaluationResult(score=0.0, correct=False, feedback=f"f({x}, {y}) is not finite.")
    return EvaluationResult(
        score=score,
        metrics={"x": x, "y": y},
        feedback=f"f({x:.6g}, {y:.6g}) = {score:.6g}. The best possible score is a little above 10.",
    )
""",
}


def compile_error(text: str, filename: str) -> str | None:
    """Compile without running; the error as a short report, or None."""
    try:
        compile(text, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = (exc.text or "").rstrip("\n")
        pointer = ""
        if line and exc.offset:
            pointer = "\n    " + " " * max(0, exc.offset - 1 - (len(line) - len(line.lstrip()))) + "^"
        shown = f"\n    {line.strip()}{pointer}" if line.strip() else ""
        return f"{filename}:{exc.lineno}: {type(exc).__name__}: {exc.msg}{shown}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"{filename}: cannot be compiled: {type(exc).__name__}: {exc}"
    return None


@hookimpl
def register_languages(register):
    register(PythonLanguage)
