"""Masks for the mask-to-polygons task, and the check of a candidate's polygons.

A mask is a list of rows; each row is a Python int used as a bit set (bit x
is pixel x), which keeps generating and rasterising megapixel masks fast in
pure Python. Polygons are checked by rasterising them with the even-odd rule
at pixel centres and comparing with the mask (intersection over union).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Mask:
    width: int
    height: int
    rows: list[int]  # bit x of rows[y] is pixel (x, y)

    def text(self) -> str:
        """The mask in the input format: `W H`, then one line of 0/1 per row."""
        lines = [f"{self.width} {self.height}"]
        for row in self.rows:
            lines.append(format(row, f"0{self.width}b")[::-1] if self.width else "")
        return "\n".join(lines)

    def area(self) -> int:
        return sum(row.bit_count() for row in self.rows)


def _span(x0: int, x1: int) -> int:
    """Bits x0 .. x1-1 set."""
    return ((1 << x1) - 1) ^ ((1 << x0) - 1) if x1 > x0 else 0


def _disc(rows: list[int], width: int, cx: float, cy: float, rx: float, ry: float, add: bool) -> None:
    height = len(rows)
    for y in range(max(0, int(cy - ry)), min(height, int(cy + ry) + 2)):
        dy = (y + 0.5 - cy) / ry
        if dy * dy >= 1:
            continue
        half = rx * (1 - dy * dy) ** 0.5
        x0 = max(0, int(cx - half + 0.5))
        x1 = min(width, int(cx + half + 0.5))
        bits = _span(x0, x1)
        rows[y] = rows[y] | bits if add else rows[y] & ~bits


def random_mask(seed: int, width: int, height: int, blobs: int = 24, holes: int = 12, specks: int = 60) -> Mask:
    """Overlapping ellipses and rectangles with holes cut out, plus single-pixel specks."""
    rng = random.Random(seed)
    rows = [0] * height
    scale = min(width, height)
    for _ in range(blobs):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        if rng.random() < 0.7:
            _disc(rows, width, cx, cy, rng.uniform(0.02, 0.15) * scale, rng.uniform(0.02, 0.15) * scale, add=True)
        else:
            x0, y0 = int(cx), int(cy)
            x1, y1 = min(width, x0 + rng.randint(2, max(3, scale // 6))), min(height, y0 + rng.randint(2, max(3, scale // 6)))
            for y in range(y0, y1):
                rows[y] |= _span(x0, x1)
    for _ in range(holes):
        _disc(rows, width, rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.005, 0.04) * scale, rng.uniform(0.005, 0.04) * scale, add=False)
    for _ in range(specks):
        x, y = rng.randrange(width), rng.randrange(height)
        rows[y] ^= 1 << x
    return Mask(width, height, rows)


def edge_case_masks() -> list[Mask]:
    """Small masks that break careless tracers: empty, full, one pixel, touching corners, a ring with a hole."""
    checker = [sum(1 << x for x in range(6) if (x + y) % 2 == 0) for y in range(5)]
    ring = [0b11111, 0b10001, 0b10101, 0b10001, 0b11111]
    diagonal = [1 << y for y in range(4)]
    return [
        Mask(7, 3, [0, 0, 0]),
        Mask(4, 3, [0b1111] * 3),
        Mask(1, 1, [1]),
        Mask(6, 5, checker),
        Mask(5, 5, ring),
        Mask(4, 4, diagonal),
    ]


def masks_input(masks: list[Mask]) -> str:
    return f"{len(masks)}\n" + "\n".join(m.text() for m in masks) + "\n"


class FormatError(ValueError):
    """The candidate's output does not follow the task's format."""


def parse_output(text: str, masks: list[Mask]) -> list[list[list[tuple[int, int]]]]:
    """Rings per mask from the candidate's standard output."""
    lines = [line for line in text.splitlines() if line.strip()]
    at = 0
    result = []
    for index, mask in enumerate(masks):
        if at >= len(lines):
            raise FormatError(f"the output ends before mask {index} (expected a line `mask {index} R`)")
        head = lines[at].split()
        at += 1
        if len(head) != 3 or head[0] != "mask" or head[1] != str(index) or not head[2].isdigit():
            raise FormatError(f"expected `mask {index} R`, found {lines[at - 1][:80]!r}")
        rings = []
        for _ in range(int(head[2])):
            if at >= len(lines):
                raise FormatError(f"mask {index}: the output ends inside its rings")
            numbers = lines[at].split()
            at += 1
            try:
                values = [int(v) for v in numbers]
            except ValueError:
                raise FormatError(f"mask {index}: a ring line holds something other than integers: {lines[at - 1][:80]!r}") from None
            if not values or len(values) != 1 + 2 * values[0]:
                raise FormatError(f"mask {index}: a ring line must be `n x1 y1 ... xn yn` with n pairs: {lines[at - 1][:80]!r}")
            points = list(zip(values[1::2], values[2::2], strict=True))
            for x, y in points:
                if not (0 <= x <= mask.width and 0 <= y <= mask.height):
                    raise FormatError(f"mask {index}: vertex ({x}, {y}) lies outside the {mask.width}x{mask.height} mask")
            rings.append(points)
        result.append(rings)
    if at != len(lines):
        raise FormatError(f"{len(lines) - at} unexpected line(s) after the last mask: {lines[at][:80]!r}")
    return result


def rasterise(rings: list[list[tuple[int, int]]], width: int, height: int) -> list[int]:
    """Rows (bit sets) of the pixels whose centres lie inside an odd number of rings."""
    crossings: list[list[float]] = [[] for _ in range(height)]
    for ring in rings:
        n = len(ring)
        for i in range(n):
            (x0, y0), (x1, y1) = ring[i], ring[(i + 1) % n]
            if y0 == y1:
                continue
            if y0 > y1:
                x0, y0, x1, y1 = x1, y1, x0, y0
            for y in range(max(0, y0), min(height, y1)):  # centres y + 0.5 in [y0, y1)
                t = (y + 0.5 - y0) / (y1 - y0)
                crossings[y].append(x0 + t * (x1 - x0))
    rows = []
    for y in range(height):
        xs = sorted(crossings[y])
        row = 0
        for a, b in zip(xs[0::2], xs[1::2], strict=False):
            # pixels whose centre c + 0.5 lies in [a, b)
            first = max(0, int(-(-(a - 0.5) // 1)))
            last = min(width, int(-(-(b - 0.5) // 1)))
            row ^= _span(first, last)
        rows.append(row)
    return rows


def iou(mask: Mask, rows: list[int]) -> float:
    inter = sum((a & b).bit_count() for a, b in zip(mask.rows, rows, strict=True))
    union = sum((a | b).bit_count() for a, b in zip(mask.rows, rows, strict=True))
    return 1.0 if union == 0 else inter / union
