"""EVOLVE-BLOCK regions: the only lines of a program that evolution may change.

A region starts at a line holding `<comment> EVOLVE-BLOCK-START` and ends at a
line holding `<comment> EVOLVE-BLOCK-END`, in the language's line-comment
syntax (`#`, `//`, `--` ...). Regions do not nest and every START has its END.
Anything else is a `TaskError` that names the file and the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genesis_core.errors import TaskError

MARKER_START = "EVOLVE-BLOCK-START"
MARKER_END = "EVOLVE-BLOCK-END"
_MARKER_WORD = "EVOLVE-BLOCK-"  # what both markers start with


@dataclass(slots=True)
class Block:
    """One region: `start` and `end` are 0-based indexes of the marker lines;
    `text` is the lines strictly between them, joined with newlines."""

    start: int
    end: int
    text: str


def marker_line(comment: str, which: Literal["start", "end"]) -> str:
    """The canonical marker line, e.g. `# EVOLVE-BLOCK-START`."""
    if which not in ("start", "end"):
        raise ValueError(f"which must be 'start' or 'end', not {which!r}")
    return f"{comment} {MARKER_START if which == 'start' else MARKER_END}"


def marker_kind(line: str, comment: str) -> str | None:
    """'start' or 'end' when the line is a marker line, else None.

    A marker line is the comment prefix followed by the marker word, with any
    indentation and any text after the word (`# EVOLVE-BLOCK-END (keep)`).
    """
    stripped = line.strip()
    if not stripped.startswith(comment):
        return None
    rest = stripped[len(comment):].lstrip()
    if rest.startswith(MARKER_START):
        return "start"
    if rest.startswith(MARKER_END):
        return "end"
    return None


def split_lines(code: str) -> list[str]:
    """Lines without their endings; CRLF and CR count as newlines."""
    return code.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def find_blocks(code: str, comment: str, *, filename: str = "program") -> list[Block]:
    """All regions of `code`, in order; a `TaskError` when markers are missing or do not pair."""
    lines = split_lines(code)
    blocks: list[Block] = []
    open_at: int | None = None
    start_text = marker_line(comment, "start")
    end_text = marker_line(comment, "end")
    for index, line in enumerate(lines):
        if _MARKER_WORD not in line:  # most lines: skip the full check (this runs several times per candidate)
            continue
        kind = marker_kind(line, comment)
        if kind == "start":
            if open_at is not None:
                raise TaskError(
                    f"{filename} line {index + 1}: a second '{start_text}' before the '{end_text}' of the region "
                    f"opened at line {open_at + 1}. Regions cannot nest: close the first region with '{end_text}' "
                    f"before opening another."
                )
            open_at = index
        elif kind == "end":
            if open_at is None:
                raise TaskError(
                    f"{filename} line {index + 1}: '{end_text}' without a '{start_text}' before it. "
                    f"Every region must be opened with '{start_text}' on a line of its own; add it or remove this marker."
                )
            blocks.append(Block(open_at, index, "\n".join(lines[open_at + 1:index])))
            open_at = None
    if open_at is not None:
        raise TaskError(
            f"{filename} line {open_at + 1}: '{start_text}' is never closed. "
            f"Add a line '{end_text}' after the code that may evolve."
        )
    if not blocks:
        raise TaskError(
            f"{filename} has no EVOLVE-BLOCK region: Genesis only changes the lines between "
            f"'{start_text}' and '{end_text}' (each on a line of its own, in the language's comment syntax '{comment}'). "
            f"Mark the code that may evolve with these two lines."
        )
    return blocks


def block_texts(code: str, comment: str) -> list[str]:
    """The text of every region (for embeddings and prompts)."""
    return [block.text for block in find_blocks(code, comment)]


def outside_segments(code: str, blocks: list[Block]) -> list[list[str]]:
    """The lines around the regions, markers included: len(blocks) + 1 segments.

    Segment 0 runs up to and including the first START marker, segment i from
    the END marker of region i-1 to the START marker of region i, the last one
    from the last END marker to the end of the file.
    """
    lines = split_lines(code)
    segments: list[list[str]] = []
    previous = 0
    for block in blocks:
        segments.append(lines[previous:block.start + 1])
        previous = block.end
    segments.append(lines[previous:])
    return segments
