"""Circle packing: 26 circles in the unit square, maximising the sum of their radii.

`construct_packing()` returns one row [x, y, r] per circle. The evolving part
places the centres; `radii_for` (fixed) gives each circle the largest radius
that keeps it inside the square and clear of its nearest neighbour, so every
placement yields a valid packing. The best known sum for 26 circles is about 2.635.
"""

import numpy as np

N = 26
ROWS = (5, 5, 6, 5, 5)  # circles per row, 26 in all


# EVOLVE-BLOCK-START
def place_centers():
    """Rows of circles spread evenly between margins from the walls: simple, valid, far from the best."""
    margin_x = 0.14
    margin_y = 0.14
    ys = np.linspace(margin_y, 1.0 - margin_y, len(ROWS))
    return np.array([(x, y) for y, count in zip(ys, ROWS, strict=True) for x in np.linspace(margin_x, 1.0 - margin_x, count)])
# EVOLVE-BLOCK-END


def radii_for(centers):
    """The largest radii that keep each circle in the square and within half the distance to its nearest neighbour."""
    c = np.clip(np.asarray(centers, dtype=float), 0.0, 1.0)
    border = np.minimum.reduce([c[:, 0], c[:, 1], 1 - c[:, 0], 1 - c[:, 1]])
    d = np.hypot(c[:, None, 0] - c[None, :, 0], c[:, None, 1] - c[None, :, 1])
    np.fill_diagonal(d, np.inf)
    return np.minimum(border, d.min(axis=1) / 2).clip(min=0.0)


def construct_packing():
    centers = np.clip(np.asarray(place_centers(), dtype=float), 0.0, 1.0)
    return np.column_stack([centers, radii_for(centers)])


if __name__ == "__main__":
    circles = construct_packing()
    print(f"{len(circles)} circles, sum of radii {circles[:, 2].sum():.4f}")
