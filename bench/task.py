"""The benchmark's task: a small Python program, a trivial evaluator, and an LLM that edits it.

The program is about the size of a real evolved function (some 60 lines, 3 KB
with its prompt neighbours making a prompt of about 12 KB). Its EVOLVE-BLOCK
holds `TERMS` lines, each with its own random constants. The mock LLM's
`edit_responder` answers like a model asked for a change: it replaces a few
consecutive term lines of the program shown in the prompt with new random
ones, as SEARCH/REPLACE blocks when the prompt asks for a diff and as a whole
program otherwise. Every answer therefore applies cleanly, is unique (no
duplicate) and differs enough from its parent to pass the novelty check, so
every candidate goes the whole way through the engine.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

from genesis_core.testing.mock_llm import last_user_message, program_in_prompt

TERMS = 24  # term lines inside the EVOLVE-BLOCK
WINDOW = 5  # term lines one answer replaces
RUN_ID = "bench"

HEADER = '''"""A smooth one-dimensional function whose shape the LLM tunes."""

import math


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _features(x: float) -> list[float]:
    return [x, x * x, math.sin(x), math.cos(x), math.tanh(x)]


'''

FOOTER = '''

def score_at(points: list[float]) -> float:
    """Mean value over the sample points, clipped like the evaluator expects."""
    if not points:
        return 0.0
    values = [_clip(solve(p), -1e6, 1e6) for p in points]
    return sum(values) / len(values)


if __name__ == "__main__":
    print(score_at([0.1 * i for i in range(20)]))
'''

EVALUATOR = '''"""Trivial evaluator: one call of the candidate's `solve` in the sandbox."""


def evaluate(candidate):
    value = candidate.call("solve", 0.5, timeout=10)
    return {"score": float(value), "correct": True}
'''

def term_line(rng: random.Random) -> str:
    """One line of the function body: one of a few shapes, with fresh constants (unique in practice)."""
    a, b, c = (f"{rng.uniform(-2, 2):.6f}" for _ in range(3))
    i = rng.randrange(5)
    shapes = (
        f"    total += {a} * math.sin({b} * feats[{i}] + {c})",
        f"    total -= {a} * math.cos({b} * x - {c})",
        f"    total += {a} * math.tanh(feats[{i}] * {b}) ** 2",
        f"    total *= 1.0 + {a} * math.exp(-abs({b} * x - {c}))",
        f"    total += {a} if feats[{i}] > {b} else -{c}",
        f"    total = max(total, {a} * feats[{i}] + {b})",
        f"    total += sum({a} * f ** {i % 3 + 1} for f in feats[:{i + 1}]) / (abs({b}) + 1.0)",
        f"    total = _clip(total, -abs({a}) * 100.0, abs({b}) * 100.0 + {c})",
    )
    return rng.choice(shapes)


def block(lines: list[str]) -> str:
    body = "\n".join(lines)
    return (
        "# EVOLVE-BLOCK-START\n"
        "def solve(x: float) -> float:\n"
        "    feats, total = _features(x), 0.0\n"
        f"{body}\n"
        "    return total\n"
        "# EVOLVE-BLOCK-END"
    )


def program(rng: random.Random) -> str:
    """A full program with `TERMS` random term lines."""
    return HEADER + block([term_line(rng) for _ in range(TERMS)]) + FOOTER


def initial_program() -> str:
    return program(random.Random(0))


def mutate(code: str, rng: random.Random) -> str:
    """`code` with `WINDOW` consecutive term lines replaced (what the mock LLM proposes)."""
    lines = code.split("\n")
    terms = [i for i, line in enumerate(lines) if line.startswith("    total")]
    start = rng.randrange(len(terms) - WINDOW + 1)
    for i in terms[start:start + WINDOW]:
        lines[i] = term_line(rng)
    return "\n".join(lines)


def write_task(folder: Path, *, llm_base_url: str) -> Path:
    """A task folder whose LLM is the mock server at `llm_base_url` (an OpenAI-compatible endpoint)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "initial.py").write_text(initial_program())
    (folder / "evaluate.py").write_text(EVALUATOR)
    (folder / "genesis.toml").write_text(
        f"""[task]
name = "bench"
description = "Maximise the value of solve(0.5)."
language = "python"
initial_program = "initial.py"
evaluator = "evaluate.py"

[run]
run_id = "{RUN_ID}"
seed = 1

[llm]
models = ["mock:bench-model"]
max_attempts = 1

[llm.endpoints.mock]
base_url = "{llm_base_url}"
"""
    )
    return folder


def edit_responder(seed: int = 0):
    """A mock-LLM responder that edits the program in the prompt (see the module docstring)."""
    lock = threading.Lock()
    rng = random.Random(seed)

    def respond(body: dict[str, Any]) -> str:
        prompt = last_user_message(body)
        if "## Best programs" in prompt:  # the meta-recommendation request
            return "- Smaller constants kept the function smooth.\n- Try fewer sine terms with larger amplitude."
        found = program_in_prompt(body)
        if found is None:
            return "I see no program with EVOLVE-BLOCK markers in the prompt."
        parent, _comment = found
        with lock:
            child_rng = random.Random(rng.getrandbits(64))
        child = mutate(parent, child_rng)
        if "SEARCH/REPLACE blocks" in prompt:
            old = [line for line in parent.split("\n") if line.startswith("    total")]
            new = [line for line in child.split("\n") if line.startswith("    total")]
            changed = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b] or [0]
            first, last = changed[0], changed[-1] + 1
            search = "\n".join(old[first:last])
            replace = "\n".join(new[first:last])
            return f"Retune a few terms.\n\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"
        return f"Retune a few terms.\n\n```python\n{child.rstrip()}\n```\n"

    return respond
