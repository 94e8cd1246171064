"""Online bin packing: a priority function decides which open bin gets each item.

Items arrive one at a time and must be placed at once (FunSearch's setting).
`pack(instances)` (fixed) runs the online loop: for each item it asks
`priority(item, bins)` for a score per bin that still has room, puts the item
into the best-scoring bin, or opens a new bin when none fits. The evolving
part is `priority`.
"""

import numpy as np


# EVOLVE-BLOCK-START
def priority(item: float, bins: np.ndarray) -> np.ndarray:
    """Score each open bin (by its remaining capacity) for `item`; the highest score wins.

    The baseline is first fit: earlier bins first, however well the item fits.
    """
    order_weight = 1.0
    fit_weight = 0.0
    position = np.arange(len(bins))
    leftover = bins - item
    return -order_weight * position - fit_weight * leftover
# EVOLVE-BLOCK-END


def pack(instances):
    """For each instance {"capacity": c, "items": [...]}, the bin index of every item, in arrival order."""
    assignments = []
    for instance in instances:
        capacity = float(instance["capacity"])
        remaining = np.zeros(0)
        chosen = []
        for item in instance["items"]:
            fits = np.nonzero(remaining >= item)[0]
            if len(fits):
                scores = np.asarray(priority(float(item), remaining[fits]), dtype=float)
                target = int(fits[int(np.argmax(scores))])
            else:
                remaining = np.append(remaining, capacity)
                target = len(remaining) - 1
            remaining[target] -= item
            chosen.append(target)
        assignments.append(chosen)
    return assignments
