"""Scores a circle packing: the sum of radii of 26 circles, each checked inside the unit square and clear of the others.

The candidate's construct_packing() runs in the sandbox; the checks and the
score are computed here from the circles it returns, never taken from it.
"""

import math

from genesis_core.evaluation import Candidate, CandidateBadOutput, EvaluationResult

N = 26
BEST_KNOWN = 2.635
TOLERANCE = 1e-9


def parse(value) -> list[tuple[float, float, float]]:
    """The circles as (x, y, r) tuples; CandidateBadOutput when the value has the wrong shape."""
    if not isinstance(value, list) or len(value) != N:
        size = len(value) if isinstance(value, list | dict | str) else "no"
        raise CandidateBadOutput(f"construct_packing() must return {N} rows [x, y, r]; it returned a {type(value).__name__} with {size} entries.")
    circles = []
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != 3 or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in row):
            raise CandidateBadOutput(f"Circle {i} is {str(row)[:80]}, not three finite numbers [x, y, r].")
        circles.append((float(row[0]), float(row[1]), float(row[2])))
    return circles


def violations(circles: list[tuple[float, float, float]]) -> list[str]:
    """Every way the circles break the rules, in words (empty when the packing is valid)."""
    problems = []
    for i, (x, y, r) in enumerate(circles):
        if r < 0:
            problems.append(f"circle {i} has a negative radius {r:.4f}")
        if x - r < -TOLERANCE or x + r > 1 + TOLERANCE or y - r < -TOLERANCE or y + r > 1 + TOLERANCE:
            problems.append(f"circle {i} at ({x:.4f}, {y:.4f}) with radius {r:.4f} crosses the square's edge")
    for i in range(len(circles)):
        for j in range(i + 1, len(circles)):
            (xi, yi, ri), (xj, yj, rj) = circles[i], circles[j]
            gap = math.hypot(xi - xj, yi - yj) - ri - rj
            if gap < -TOLERANCE:
                problems.append(f"circles {i} and {j} overlap by {-gap:.2e}")
    return problems


def evaluate(candidate: Candidate) -> EvaluationResult:
    circles = parse(candidate.call("construct_packing", timeout=30))
    problems = violations(circles)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        return EvaluationResult(score=0.0, correct=False, feedback=f"Invalid packing: {shown}.")
    radii = [r for _, _, r in circles]
    total = sum(radii)
    return EvaluationResult(
        score=total,
        correct=True,
        metrics={"sum_radii": total, "min_radius": min(radii), "max_radius": max(radii), "ratio_to_best_known": total / BEST_KNOWN},
        feedback=f"Valid packing, sum of radii {total:.4f} ({100 * total / BEST_KNOWN:.1f}% of the best known {BEST_KNOWN}). "
        f"Radii range from {min(radii):.4f} to {max(radii):.4f}.",
    )
