"""Scores a GPU dot product: the right sum first, then effective memory bandwidth.

Correctness: vectors from fresh seeds, of sizes that break careless
reductions (1, 255, 257, 100003, 2^20), against an exact CPU reference
(math.fsum of the products). Speed: two 2^22-element vectors from a fixed
seed; the program runs once with REPS = 1 and once with REPS = 2001 (best of
three each), as timed by the harness; the difference divided by 2000 is the
time of one dot product, with start-up, file reading and copies to the GPU
cancelled out. The score is the bandwidth that implies, in GB/s (8 bytes
read per element).
"""

from __future__ import annotations

import array
import math
import random
from functools import cache
from pathlib import Path

from genesis_core.evaluation import Candidate, EvaluationResult, check_process

CHECK_SIZES = (1, 255, 257, 100_003, 1 << 20)
TIMED_SIZE = 1 << 22
REPS = 2001
TIMING_RUNS = 3
RELATIVE_TOLERANCE = 1e-4  # of sum |x_i * y_i|: float32 partial sums in any order stay far inside it


def vector(n: int, rng: random.Random) -> array.array:
    return array.array("f", (rng.uniform(-1.0, 1.0) for _ in range(n)))


def reference(x: array.array, y: array.array) -> tuple[float, float]:
    """The exact dot product and the sum of |x_i * y_i| (the scale of rounding errors)."""
    products = [a * b for a, b in zip(x, y, strict=True)]
    return math.fsum(products), math.fsum(abs(p) for p in products)


@cache
def timed_inputs() -> tuple[array.array, array.array, float, float]:
    rng = random.Random(7)
    x, y = vector(TIMED_SIZE, rng), vector(TIMED_SIZE, rng)
    return (x, y, *reference(x, y))


class WrongResult(Exception):
    """The program's sum is not the dot product."""


def run_program(candidate: Candidate, x: array.array, y: array.array, reps: int) -> tuple[float, float]:
    """(printed result, harness seconds) of one run on vectors x and y."""
    (candidate.workdir / "x.bin").write_bytes(x.tobytes())
    (candidate.workdir / "y.bin").write_bytes(y.tobytes())
    result = check_process(candidate.run([str(len(x)), str(reps), "x.bin", "y.bin"], timeout=60), "the program")
    try:
        return float(result.stdout.split()[0]), result.seconds
    except (IndexError, ValueError):
        raise WrongResult(f"for n={len(x)} the program printed {result.stdout[:200]!r} instead of one number") from None


def check(found: float, exact: float, scale: float, n: int) -> None:
    if not (math.isfinite(found) and abs(found - exact) <= RELATIVE_TOLERANCE * scale + 1e-6):
        raise WrongResult(f"for n={n} the program printed {found!r}; the dot product is {exact:.9g}")


def evaluate(candidate: Candidate) -> EvaluationResult:
    rng = random.Random()
    try:
        for n in CHECK_SIZES:
            x, y = vector(n, rng), vector(n, rng)
            found, _ = run_program(candidate, x, y, reps=1)
            check(found, *reference(x, y), n)
        x, y, exact, scale = timed_inputs()
        once, many = [], []
        for _ in range(TIMING_RUNS):
            found, seconds = run_program(candidate, x, y, reps=1)
            once.append(seconds)
            found, seconds = run_program(candidate, x, y, reps=REPS)
            many.append(seconds)
        check(found, exact, scale, TIMED_SIZE)
    except WrongResult as exc:
        return EvaluationResult(score=0.0, correct=False, feedback=f"Wrong result: {exc}.")
    finally:
        for name in ("x.bin", "y.bin"):
            Path(candidate.workdir, name).unlink(missing_ok=True)
    difference = min(many) - min(once)
    below_noise = difference <= 0
    per_dot = max(difference, 1e-6) / (REPS - 1)
    bandwidth = 8 * TIMED_SIZE / per_dot / 1e9
    noise_note = " The difference was within the timing noise, so the score is a ceiling, not a measurement." if below_noise else ""
    return EvaluationResult(
        score=bandwidth,
        correct=True,
        metrics={"gb_per_s": bandwidth, "dot_us": per_dot * 1e6, "run_1_s": min(once), f"run_{REPS}_s": min(many), "below_noise": float(below_noise)},
        feedback=(
            f"Correct on sizes {', '.join(map(str, CHECK_SIZES))} and {TIMED_SIZE}. One dot product of {TIMED_SIZE} elements takes "
            f"{per_dot * 1e6:.1f} us ({min(once):.3f} s with 1 repetition, {min(many):.3f} s with {REPS}, best of {TIMING_RUNS}): "
            f"{bandwidth:.1f} GB/s of the two vectors.{noise_note}"
        ),
    )
