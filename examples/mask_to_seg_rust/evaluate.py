"""Scores a mask-to-polygons program: exact outlines first, then megapixels per second.

Correctness: edge cases, masks from fixed seeds and masks from fresh seeds
(so no candidate can learn the answers) are sent to the program; its rings
are rasterised here with the even-odd rule and compared with each mask
(intersection over union). Speed: four 2048x2048 masks from fixed seeds, run
three times; the score is megapixels per second of the fastest run, as timed
by the harness around the process (reading the input and writing the output
included), never by the candidate itself.
"""

from __future__ import annotations

import random
from functools import cache

from genesis_core.evaluation import Candidate, EvaluationResult, check_process
from mask_geometry import (
    FormatError,
    Mask,
    edge_case_masks,
    iou,
    masks_input,
    parse_output,
    random_mask,
    rasterise,
)

MIN_IOU = 0.9999  # rings on pixel corners reproduce a mask exactly; this only absorbs rounding
TIMING_RUNS = 3


@cache
def timing_masks() -> tuple[list[Mask], str]:
    masks = [random_mask(1000 + i, 2048, 2048, blobs=60, holes=40, specks=5000) for i in range(4)]
    return masks, masks_input(masks)


def check_masks(fresh_seed: int) -> list[Mask]:
    fixed = [random_mask(seed, w, h) for seed, (w, h) in enumerate([(64, 48), (300, 200), (17, 333)], start=1)]
    fresh = [random_mask(fresh_seed + i, 256, 256, specks=200) for i in range(2)]
    return edge_case_masks() + fixed + fresh


def wrong_masks(masks: list[Mask], output: str) -> list[str]:
    """A sentence per mask the rings do not reproduce (raises FormatError for unreadable output)."""
    problems = []
    for index, (mask, rings) in enumerate(zip(masks, parse_output(output, masks), strict=True)):
        score = iou(mask, rasterise(rings, mask.width, mask.height))
        if score < MIN_IOU:
            problems.append(f"mask {index} ({mask.width}x{mask.height}, {mask.area()} foreground pixels): IoU {score:.5f} with {len(rings)} ring(s)")
    return problems


def evaluate(candidate: Candidate) -> EvaluationResult:
    fresh_seed = random.SystemRandom().randrange(1 << 30)
    masks = check_masks(fresh_seed)
    result = check_process(candidate.run([], input=masks_input(masks), timeout=30), "the program")
    try:
        problems = wrong_masks(masks, result.stdout)
    except FormatError as exc:
        return EvaluationResult(score=0.0, correct=False, feedback=f"The output does not follow the format: {exc}.")
    if problems:
        return EvaluationResult(
            score=0.0,
            correct=False,
            feedback=f"Wrong outlines (fresh seed {fresh_seed}): " + "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "") + ".",
        )

    big, text = timing_masks()
    seconds = []
    for _ in range(TIMING_RUNS):
        run = check_process(candidate.run([], input=text, timeout=60), "the program")
        seconds.append(run.seconds)
    try:
        problems = wrong_masks(big, run.stdout)
    except FormatError as exc:
        return EvaluationResult(score=0.0, correct=False, feedback=f"On the large masks, the output does not follow the format: {exc}.")
    if problems:
        return EvaluationResult(score=0.0, correct=False, feedback="Wrong outlines on the large masks: " + "; ".join(problems[:4]) + ".")

    megapixels = sum(m.width * m.height for m in big) / 1e6
    best = min(seconds)
    rings = sum(1 for line in run.stdout.splitlines() if line and not line.startswith("mask"))
    return EvaluationResult(
        score=megapixels / best,
        correct=True,
        metrics={
            "megapixels_per_s": megapixels / best,
            "best_s": best,
            "mean_s": sum(seconds) / len(seconds),
            "rings": float(rings),
            "output_bytes": float(len(run.stdout)),
        },
        feedback=(
            f"All {len(masks)} check masks outlined exactly. Four {big[0].width}x{big[0].height} masks ({megapixels:.1f} Mpx, "
            f"{rings} rings) took {best:.3f} s at best over {TIMING_RUNS} runs ({', '.join(f'{s:.3f}' for s in seconds)} s): "
            f"{megapixels / best:.1f} Mpx/s, reading input and writing output included."
        ),
    )
