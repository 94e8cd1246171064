"""Scores a matrix multiply: correct results first, then GFLOP/s of the whole program.

Correctness: small matrices from fresh seeds (sizes that break blocked and
vectorised code: 1, 7, 33, 100) are checked entry by entry against a
double-precision reference computed here. Speed: two 768x768 matrices from
a fixed seed, three runs; the score is 2n^3 / (fastest run) in GFLOP/s, timed
by the harness around the process (reading and writing the files included).
On the timed run, 300 entries picked after the run are checked too.
"""

from __future__ import annotations

import array
import random
from functools import cache
from pathlib import Path

from genesis_core.evaluation import Candidate, EvaluationResult, check_process
from genesis_lang_cpp.vectorization import read_report

CHECK_SIZES = (1, 7, 33, 100)
TIMED_SIZE = 768
TIMING_RUNS = 3
SAMPLES = 300
RELATIVE_TOLERANCE = 1e-4  # of sum |a_ik * b_kj|: float32 sums in any order stay far inside it


def matrix(n: int, rng: random.Random) -> array.array:
    return array.array("f", (rng.uniform(-1.0, 1.0) for _ in range(n * n)))


@cache
def timed_inputs() -> tuple[array.array, array.array]:
    rng = random.Random(2024)
    return matrix(TIMED_SIZE, rng), matrix(TIMED_SIZE, rng)


def run_program(candidate: Candidate, a: array.array, b: array.array, n: int, timeout: float) -> tuple[array.array, float]:
    """Write A and B into the job folder, run the program, read C back; returns (C, harness seconds)."""
    folder = candidate.workdir
    (folder / "a.bin").write_bytes(a.tobytes())
    (folder / "b.bin").write_bytes(b.tobytes())
    result_file = folder / "c.bin"
    result_file.unlink(missing_ok=True)
    result = check_process(candidate.run([str(n), "a.bin", "b.bin", "c.bin"], timeout=timeout), "the program")
    c = array.array("f")
    data = result_file.read_bytes() if result_file.is_file() else b""
    if len(data) != 4 * n * n:
        raise WrongResult(f"for n={n} the program wrote {len(data)} bytes to C.bin, expected {4 * n * n} ({n}x{n} float32 values)")
    c.frombytes(data)
    return c, result.seconds


class WrongResult(Exception):
    """The program's C is not A*B."""


def check_entry(a: array.array, b: array.array, c: array.array, n: int, i: int, j: int) -> None:
    exact = 0.0
    magnitude = 0.0
    for k in range(n):
        term = a[i * n + k] * b[k * n + j]
        exact += term
        magnitude += abs(term)
    found = c[i * n + j]
    if not abs(found - exact) <= RELATIVE_TOLERANCE * magnitude + 1e-6:
        raise WrongResult(f"for n={n}, C[{i}][{j}] is {found!r} but A*B gives {exact:.6g}")


def evaluate(candidate: Candidate) -> EvaluationResult:
    report = read_report(candidate.workdir)
    rng = random.Random()
    try:
        for n in CHECK_SIZES:
            a, b = matrix(n, rng), matrix(n, rng)
            c, _ = run_program(candidate, a, b, n, timeout=30)
            for i in range(n):
                for j in range(n):
                    check_entry(a, b, c, n, i, j)
        a, b = timed_inputs()
        seconds = []
        for _ in range(TIMING_RUNS):
            c, took = run_program(candidate, a, b, TIMED_SIZE, timeout=60)
            seconds.append(took)
        for _ in range(SAMPLES):
            check_entry(a, b, c, TIMED_SIZE, rng.randrange(TIMED_SIZE), rng.randrange(TIMED_SIZE))
    except WrongResult as exc:
        return EvaluationResult(score=0.0, correct=False, feedback=f"Wrong result: {exc}.\n{report}".strip())
    finally:
        for name in ("a.bin", "b.bin", "c.bin"):
            Path(candidate.workdir, name).unlink(missing_ok=True)
    best = min(seconds)
    gflops = 2 * TIMED_SIZE**3 / best / 1e9
    return EvaluationResult(
        score=gflops,
        correct=True,
        metrics={"gflops": gflops, "best_s": best, "mean_s": sum(seconds) / len(seconds)},
        feedback=(
            f"Correct on sizes {', '.join(map(str, CHECK_SIZES))} and on {SAMPLES} sampled entries of the {TIMED_SIZE}x{TIMED_SIZE} product. "
            f"Best of {TIMING_RUNS} runs: {best:.3f} s ({', '.join(f'{s:.3f}' for s in seconds)} s), {gflops:.2f} GFLOP/s.\n{report}"
        ).strip(),
    )
