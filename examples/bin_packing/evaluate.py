"""Scores an online bin-packing heuristic on generated instances.

The instances are drawn here, from a seed the candidate never sees; the
candidate's pack() (which calls its priority()) runs in the sandbox and
returns a bin for every item. The assignment is checked here (every item
placed, no bin over capacity) and the bins are counted here. Score: the mean
of lower bound / bins used over the instances (1.0 would be optimal on every
instance; higher is better).
"""

import math
import random

from genesis_core.evaluation import Candidate, CandidateBadOutput, EvaluationResult

SEED = 20240607
INSTANCES = 5
ITEMS = 300
CAPACITY = 150


def make_instances(seed: int = SEED) -> list[dict]:
    """OR-Library style: items uniform in [20, 100], bins of capacity 150."""
    rng = random.Random(seed)
    return [{"capacity": CAPACITY, "items": [rng.randint(20, 100) for _ in range(ITEMS)]} for _ in range(INSTANCES)]


def bins_used(instance: dict, assignment) -> int:
    """The number of bins of a valid assignment; CandidateBadOutput when it is not valid."""
    items = instance["items"]
    if not isinstance(assignment, list) or len(assignment) != len(items):
        raise CandidateBadOutput(f"pack() must return one bin index per item ({len(items)}); got {str(assignment)[:80]}.")
    loads: dict[int, int] = {}
    for item, index in zip(items, assignment, strict=True):
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise CandidateBadOutput(f"pack() returned {index!r} as a bin index; bin indices are non-negative integers.")
        loads[index] = loads.get(index, 0) + item
    over = {i: load for i, load in loads.items() if load > instance["capacity"]}
    if over:
        i, load = next(iter(over.items()))
        raise CandidateBadOutput(f"Bin {i} holds {load}, over the capacity {instance['capacity']} ({len(over)} bins are over).")
    return len(loads)


def evaluate(candidate: Candidate) -> EvaluationResult:
    instances = make_instances()
    result = candidate.call_timed("pack", instances, timeout=30)
    used = [bins_used(inst, assignment) for inst, assignment in zip(instances, result.value or [], strict=False)]
    if len(used) != len(instances):
        raise CandidateBadOutput(f"pack() must return one assignment per instance ({len(instances)}); got {len(used)}.")
    bounds = [math.ceil(sum(inst["items"]) / inst["capacity"]) for inst in instances]
    ratios = [lb / n for lb, n in zip(bounds, used, strict=True)]
    score = sum(ratios) / len(ratios)
    excess = sum(used) - sum(bounds)
    return EvaluationResult(
        score=score,
        metrics={"bins": float(sum(used)), "lower_bound": float(sum(bounds)), "excess_bins": float(excess), "pack_seconds": result.seconds},
        feedback=f"Used {sum(used)} bins where the lower bound is {sum(bounds)} ({excess} extra, {100 * excess / sum(bounds):.1f}%) "
        f"over {len(instances)} instances of {ITEMS} items; pack() took {result.seconds:.3f} s.",
    )
