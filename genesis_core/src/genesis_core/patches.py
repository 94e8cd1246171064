"""Turning an LLM's answer into a new candidate program.

Three kinds of answer are understood (docs/architecture.md, "Patch formats"):

- SEARCH/REPLACE diffs, applied one block after the other. A SEARCH part is
  matched exactly, then ignoring trailing whitespace, then ignoring
  indentation (the replacement is re-indented to the matched lines).
- A full rewrite: the whole program in a fenced code block (everything
  outside the regions must be unchanged, modulo whitespace), or only the new
  contents of the region(s).
- A crossover of two parents, answered as a full rewrite of the first parent.

Only lines strictly inside EVOLVE-BLOCK regions may change; marker lines are
kept exactly once. A `PatchError` message is written for the LLM: it goes
back to it for another attempt, so it says which block failed, where the
closest lines are and what to do.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass

from genesis_core.blocks import Block, find_blocks, marker_kind, outside_segments, split_lines
from genesis_core.errors import GenesisError, TaskError

SEARCH_RE = re.compile(r"^\s*<{5,}\s*SEARCH\s*$")
DIVIDER_RE = re.compile(r"^\s*={5,}\s*$")
REPLACE_RE = re.compile(r"^\s*>{5,}\s*REPLACE\s*$")
FENCE_RE = re.compile(r"^\s*(`{3,}|~{3,})")

DIFF_FORMAT = "<<<<<<< SEARCH\n(lines copied exactly from the current program)\n=======\n(the new lines)\n>>>>>>> REPLACE"
PATCH_KINDS = ("diff", "rewrite", "crossover", "initial")


class PatchError(GenesisError):
    """An answer that cannot be applied; the message is written for the LLM."""


# -- normalisation for de-duplication -------------------------------------------


def normalize(code: str) -> str:
    """Code as compared for de-duplication: unified newlines, no trailing whitespace, no blank lines."""
    return "\n".join(line.rstrip() for line in split_lines(code) if line.strip())


def code_hash(code: str) -> str:
    """sha256 of `normalize(code)`: equal for candidates that differ only in whitespace layout."""
    return hashlib.sha256(normalize(code).encode("utf-8")).hexdigest()


# -- dispatch ---------------------------------------------------------------------


def has_diff(response_text: str) -> bool:
    """Whether the answer holds at least one SEARCH/REPLACE block opening."""
    return any(SEARCH_RE.match(line) for line in split_lines(response_text))


def apply_response(code: str, response_text: str, comment: str, kind: str) -> str:
    """Apply an answer of any kind: SEARCH/REPLACE blocks when it has them, else a rewrite.

    `kind` is what the prompt asked for ("diff", "rewrite", "crossover",
    "initial"); it only shapes the error when the answer holds neither. An
    "initial" answer to an empty `code` is a first program: see `extract_program`.
    """
    if kind not in PATCH_KINDS:
        raise ValueError(f"kind must be one of {PATCH_KINDS}, not {kind!r}")
    if kind == "initial" and not code.strip():
        return extract_program(response_text, comment)
    if has_diff(response_text):
        return apply_diff(code, response_text, comment)
    if kind == "diff" and not _fences(response_text) and not _has_markers(response_text, comment):
        raise PatchError(
            "Your answer holds no SEARCH/REPLACE block and no code block, so nothing could be applied. "
            f"Answer with one or more blocks of exactly this form:\n{DIFF_FORMAT}"
        )
    return apply_rewrite(code, response_text, comment)


# -- SEARCH/REPLACE diffs -------------------------------------------------------


@dataclass(slots=True)
class Edit:
    """One SEARCH/REPLACE block of an answer."""

    number: int  # 1-based, for messages
    search: list[str]
    replace: list[str]


def parse_diff(diff_text: str) -> list[Edit]:
    """The SEARCH/REPLACE blocks of an answer, in order."""
    edits: list[Edit] = []
    state = "outside"
    search: list[str] = []
    replace: list[str] = []
    for line in split_lines(diff_text):
        if state == "outside":
            if SEARCH_RE.match(line):
                state, search, replace = "search", [], []
        elif state == "search":
            if DIVIDER_RE.match(line):
                state = "replace"
            elif SEARCH_RE.match(line) or REPLACE_RE.match(line):
                raise PatchError(
                    f"SEARCH/REPLACE block {len(edits) + 1} has no '=======' line between its SEARCH and REPLACE parts. "
                    f"Every block must have exactly this form:\n{DIFF_FORMAT}"
                )
            else:
                search.append(line)
        elif REPLACE_RE.match(line):
            edits.append(Edit(len(edits) + 1, _trim_blank(search), replace))
            state = "outside"
        elif SEARCH_RE.match(line):
            raise PatchError(
                f"SEARCH/REPLACE block {len(edits) + 1} is not closed with '>>>>>>> REPLACE' before the next SEARCH. "
                f"Every block must have exactly this form:\n{DIFF_FORMAT}"
            )
        else:
            replace.append(line)
    if state != "outside":
        raise PatchError(
            f"SEARCH/REPLACE block {len(edits) + 1} is not closed (the answer ends inside its "
            f"{'SEARCH' if state == 'search' else 'REPLACE'} part). Every block must end with '>>>>>>> REPLACE':\n{DIFF_FORMAT}"
        )
    if not edits:
        raise PatchError(f"Your answer holds no complete SEARCH/REPLACE block. Use exactly this form:\n{DIFF_FORMAT}")
    for edit in edits:
        if not edit.search:
            raise PatchError(
                f"The SEARCH part of block {edit.number} is empty. Copy into it the lines of the current program that "
                f"the REPLACE part replaces (to insert, search for the line before the insertion and repeat it in REPLACE)."
            )
    return edits


def apply_diff(code: str, diff_text: str, comment: str) -> str:
    """Apply SEARCH/REPLACE blocks in order; a `PatchError` (nothing applied) when one does not fit."""
    original = split_lines(code)
    original_blocks = _program_blocks(code, comment)
    edits = parse_diff(diff_text)
    lines = list(original)
    for edit in edits:
        lines = _apply_edit(lines, edit, comment, len(edits), original)
    result = _join(lines, code)
    _check_regions_kept(code, original_blocks, result, comment)
    return result


# Matching levels, strictest first: how two lines are compared.
_LEVELS = (
    ("exactly", lambda line: line),
    ("ignoring trailing whitespace", str.rstrip),
    ("ignoring indentation", str.strip),
)


@dataclass(slots=True)
class _Match:
    start: int
    new_lines: list[str]
    level: str


def _apply_edit(lines: list[str], edit: Edit, comment: str, total: int, original: list[str]) -> list[str]:
    blocks = _program_blocks("\n".join(lines), comment)
    n = len(edit.search)
    refusal: str | None = None
    for level_name, key in _LEVELS:
        wanted = [key(line) for line in edit.search]
        keyed = [key(line) for line in lines]
        starts = [i for i in range(len(lines) - n + 1) if keyed[i:i + n] == wanted]
        if not starts:
            continue
        matches = [_Match(i, _reindent(edit, lines[i:i + n]) if level_name == "ignoring indentation" else list(edit.replace), level_name) for i in starts]
        allowed = []
        for match in matches:
            reason = _refusal(lines, match, n, blocks, edit, comment)
            if reason is None:
                allowed.append(match)
            elif refusal is None:
                refusal = reason
        if len(allowed) == 1:
            match = allowed[0]
            return lines[:match.start] + match.new_lines + lines[match.start + n:]
        if len(allowed) > 1:
            places = ", ".join(_span(m.start, n) for m in allowed[:5])
            raise PatchError(
                f"SEARCH/REPLACE block {edit.number} of {total} is ambiguous: its SEARCH part matches {len(allowed)} places "
                f"({places}, {level_name}). No change was applied. Add neighbouring lines to the SEARCH part so that it "
                f"matches exactly one place, and send the whole answer again."
            )
    if refusal is not None:
        raise PatchError(refusal)
    raise PatchError(_not_found(lines, edit, total, original))


def _refusal(lines: list[str], match: _Match, n: int, blocks: list[Block], edit: Edit, comment: str) -> str | None:
    """Why this edit may not be applied here, or None when it only changes lines inside one region."""
    old = lines[match.start:match.start + n]
    new = match.new_lines
    for line in new:
        if marker_kind(line, comment) and line.strip() not in (o.strip() for o in old):
            return (
                f"SEARCH/REPLACE block {edit.number} adds the marker line '{line.strip()}'. The EVOLVE-BLOCK marker lines "
                f"must stay exactly as they are, once each. No change was applied: remove the marker from the REPLACE part "
                f"and send the whole answer again."
            )
    # Lines kept unchanged at both ends are context, not changes.
    head = 0
    while head < len(old) and head < len(new) and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < len(old) - head and tail < len(new) - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    first = match.start + head  # first changed line of the program
    last = match.start + n - tail  # one past the last changed line
    if first == last and head == len(new) - tail:
        return None  # no change at all; harmless
    for block in blocks:
        if first == last:  # a pure insertion before line `first`
            if block.start < first <= block.end:
                return None
        elif block.start < first and last <= block.end:
            return None
    touched_markers = [i for i in range(first, last) if marker_kind(lines[i], comment)]
    if touched_markers:
        i = touched_markers[0]
        return (
            f"SEARCH/REPLACE block {edit.number} changes or removes the marker line {i + 1} ('{lines[i].strip()}'). "
            f"The EVOLVE-BLOCK marker lines must stay exactly as they are. No change was applied: only change lines "
            f"between the markers, and send the whole answer again."
        )
    regions = ", ".join(f"lines {b.start + 2}-{b.end}" for b in blocks)
    changed = _span(first, max(last - first, 1))
    return (
        f"SEARCH/REPLACE block {edit.number} changes {changed} of the program, outside the EVOLVE-BLOCK regions "
        f"(the lines that may change are {regions}). No change was applied: only edit code between "
        f"the EVOLVE-BLOCK-START and EVOLVE-BLOCK-END markers, and send the whole answer again."
    )


def _reindent(edit: Edit, matched: list[str]) -> list[str]:
    """The REPLACE lines shifted by the indentation difference between SEARCH and the matched lines."""
    search_indent = _indent(next(line for line in edit.search if line.strip()))
    program_indent = _indent(next(line for line in matched if line.strip()))
    out = []
    for line in edit.replace:
        if not line.strip():
            out.append("")
        elif program_indent.startswith(search_indent):
            out.append(program_indent[len(search_indent):] + line)
        elif search_indent.startswith(program_indent):
            cut = min(len(search_indent) - len(program_indent), len(_indent(line)))
            out.append(line[cut:])
        elif line.startswith(search_indent):  # tabs against spaces: swap the prefix
            out.append(program_indent + line[len(search_indent):])
        else:
            out.append(line)
    return out


def _not_found(lines: list[str], edit: Edit, total: int, original: list[str]) -> str:
    """A message naming the closest lines of the program and the first line that differs."""
    n = len(edit.search)
    head = (
        f"SEARCH/REPLACE block {edit.number} of {total} does not match the current program: its SEARCH part is not found "
        f"(not exactly, nor ignoring trailing whitespace or indentation). No change was applied."
    )
    if edit.number > 1 and lines != original:
        stripped = [line.strip() for line in edit.search]
        in_original = [i for i in range(len(original) - n + 1) if [o.strip() for o in original[i:i + n]] == stripped]
        if in_original:
            return (
                f"{head} It matches the program as it was before the earlier blocks of your answer ({_span(in_original[0], n)}), "
                f"but an earlier SEARCH/REPLACE block already changed some of these lines. Blocks apply one after the other: "
                f"make each SEARCH part match the program as the earlier blocks left it (or merge the blocks), and send the whole answer again."
            )
    wanted = "\n".join(line.strip() for line in edit.search)
    best_ratio, best_start = 0.0, None
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(wanted)
    for i in range(max(len(lines) - n + 1, 1)):
        window = "\n".join(line.strip() for line in lines[i:i + n])
        matcher.set_seq1(window)
        if matcher.real_quick_ratio() <= best_ratio or matcher.quick_ratio() <= best_ratio:
            continue
        ratio = matcher.ratio()
        if ratio > best_ratio:
            best_ratio, best_start = ratio, i
    if best_start is None or best_ratio < 0.3:
        return (
            f"{head} No lines of the program resemble it. Copy the SEARCH lines exactly from the current program "
            f"(between the EVOLVE-BLOCK markers), and send the whole answer again."
        )
    window = lines[best_start:best_start + n]
    shown = "\n".join(window)
    first_diff = ""
    for k, (want, have) in enumerate(zip(edit.search, window, strict=False)):
        if want.strip() != have.strip():
            first_diff = (
                f"The first difference is SEARCH line {k + 1}:\n    {want.strip()}\n"
                f"where the program's line {best_start + k + 1} is:\n    {have.strip()}\n"
            )
            break
    else:
        if len(window) < n:
            first_diff = f"The SEARCH part has {n} lines but the program ends after line {len(lines)}.\n"
    return (
        f"{head} The closest lines are {_span(best_start, len(window))} ({best_ratio:.0%} similar):\n```\n{shown}\n```\n"
        f"{first_diff}Copy the SEARCH lines exactly from the current program, and send the whole answer again."
    )


# -- full rewrites ------------------------------------------------------------------


def apply_rewrite(code: str, response_text: str, comment: str) -> str:
    """Apply a rewrite answer: the whole program, or only the new contents of the region(s).

    The result keeps the current program's text outside the regions and its
    marker lines, byte for byte; only the regions' contents change.
    """
    blocks = _program_blocks(code, comment)
    lines = split_lines(code)
    fences = _fences(response_text)
    with_markers = [text for text in fences if _has_markers(text, comment)]
    if with_markers:
        regions = _regions_of_whole_program(code, blocks, with_markers[-1], comment)
    elif not fences:
        if not _has_markers(response_text, comment):
            raise PatchError(
                "Your answer holds no fenced code block. Answer with the whole program (keeping the EVOLVE-BLOCK marker "
                "lines) in one fenced code block, ```like this```."
            )
        regions = _regions_of_whole_program(code, blocks, response_text, comment)
    else:
        if len(blocks) == 1:
            chosen = [max(fences, key=len)]
        elif len(fences) == len(blocks):
            chosen = fences
        else:
            raise PatchError(
                f"The program has {len(blocks)} EVOLVE-BLOCK regions, and your answer holds {len(fences)} code block(s) "
                f"without marker lines, so it is unclear which region each replaces. Answer with the whole program, "
                f"keeping every EVOLVE-BLOCK-START and EVOLVE-BLOCK-END line, in one fenced code block."
            )
        regions = [
            _match_indent(_trim_blank(split_lines(text)), lines[block.start + 1:block.end])
            for block, text in zip(blocks, chosen, strict=True)
        ]
    out: list[str] = []
    previous = 0
    for block, new_lines in zip(blocks, regions, strict=True):
        out.extend(lines[previous:block.start + 1])
        out.extend(new_lines)
        previous = block.end
    out.extend(lines[previous:])
    result = _join(out, code)
    _check_regions_kept(code, blocks, result, comment)
    return result


def extract_program(response_text: str, comment: str) -> str:
    """A first program written by the LLM: the last fenced code block with EVOLVE-BLOCK markers."""
    fences = _fences(response_text)
    with_markers = [text for text in fences if _has_markers(text, comment)]
    if not with_markers:
        raise PatchError(
            "Your answer holds no fenced code block with EVOLVE-BLOCK markers. Give the whole program in one fenced "
            f"code block, with the code that may evolve between a line '{comment} EVOLVE-BLOCK-START' and a line "
            f"'{comment} EVOLVE-BLOCK-END'."
        )
    program = with_markers[-1]
    try:
        find_blocks(program, comment, filename="your program")
    except TaskError as exc:
        raise PatchError(f"{exc} Fix the markers and send the whole program again.") from None
    return program if program.endswith("\n") else program + "\n"


def _regions_of_whole_program(code: str, blocks: list[Block], text: str, comment: str) -> list[list[str]]:
    """The region contents of a whole-program answer, after checking the rest is unchanged."""
    try:
        new_blocks = find_blocks(text, comment, filename="your program")
    except TaskError as exc:
        raise PatchError(f"{exc} No change was applied: keep each marker line of the current program exactly once.") from None
    if len(new_blocks) != len(blocks):
        raise PatchError(
            f"Your program has {len(new_blocks)} EVOLVE-BLOCK region(s), the current program has {len(blocks)}. "
            f"No change was applied: keep every EVOLVE-BLOCK-START and EVOLVE-BLOCK-END line exactly once, as in the current program."
        )
    old_segments = outside_segments(code, blocks)
    new_segments = outside_segments(text, new_blocks)
    for number, (old, new) in enumerate(zip(old_segments, new_segments, strict=True)):
        difference = _segment_difference(old, new, comment)
        if difference:
            where = (
                "before the first region" if number == 0
                else "after the last region" if number == len(blocks)
                else f"between regions {number} and {number + 1}"
            )
            raise PatchError(
                f"Your program changes code outside the EVOLVE-BLOCK regions ({where}): {difference} No change was applied: "
                f"copy everything outside the markers unchanged, or answer with only the new contents of the region."
            )
    new_lines = split_lines(text)
    return [new_lines[block.start + 1:block.end] for block in new_blocks]


def _segment_difference(old: list[str], new: list[str], comment: str) -> str | None:
    """The first difference between two outside segments, modulo whitespace; None when equal."""

    def key(line: str) -> str:
        kind = marker_kind(line, comment)
        return kind.upper() if kind else line.strip()

    old_keys = [(key(line), line) for line in old if line.strip()]
    new_keys = [(key(line), line) for line in new if line.strip()]
    if [k for k, _ in old_keys] == [k for k, _ in new_keys]:
        return None
    for (ok, oline), (nk, nline) in zip(old_keys, new_keys, strict=False):
        if ok != nk:
            return f"the current program has\n    {oline.strip()}\nwhere yours has\n    {nline.strip()}\n"
    if len(old_keys) > len(new_keys):
        return f"your program drops the line\n    {old_keys[len(new_keys)][1].strip()}\n"
    return f"your program adds the line\n    {new_keys[len(old_keys)][1].strip()}\n"


def _fences(text: str) -> list[str]:
    """Contents of the fenced code blocks of an answer, in order."""
    out: list[str] = []
    current: list[str] | None = None
    fence = ""
    for line in split_lines(text):
        m = FENCE_RE.match(line)
        if current is None:
            if m:
                current, fence = [], m.group(1)
        elif m and line.strip() == m.group(1) and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
            out.append("\n".join(current))
            current = None
        else:
            current.append(line)
    if current is not None:
        raise PatchError(
            "Your answer opens a fenced code block that is never closed (was it cut off?). "
            "No change was applied: send the complete code block, closed with ```."
        )
    return out


def _has_markers(text: str, comment: str) -> bool:
    return any(marker_kind(line, comment) for line in split_lines(text))


def _match_indent(new_lines: list[str], old_lines: list[str]) -> list[str]:
    """Indent region contents given flush-left as the region's old contents were indented."""
    old_indent = _common_indent(old_lines)
    new_indent = _common_indent(new_lines)
    if len(new_indent) >= len(old_indent) or not old_indent.startswith(new_indent):
        return new_lines
    extra = old_indent[len(new_indent):]
    return [extra + line if line.strip() else line for line in new_lines]


# -- shared helpers ----------------------------------------------------------------


def _program_blocks(code: str, comment: str) -> list[Block]:
    """The regions of the program being patched; a broken parent is a task problem, not the LLM's."""
    return find_blocks(code, comment, filename="the current program")


def _check_regions_kept(code: str, blocks: list[Block], result: str, comment: str) -> None:
    """Last guard: the same regions, the same text outside them."""
    try:
        new_blocks = find_blocks(result, comment, filename="the patched program")
    except TaskError as exc:
        raise PatchError(f"Applying your answer would break the EVOLVE-BLOCK markers: {exc} No change was applied.") from None
    if len(new_blocks) != len(blocks) or outside_segments(code, blocks) != outside_segments(result, new_blocks):
        raise PatchError(
            "Applying your answer would change lines outside the EVOLVE-BLOCK regions or their markers. "
            "No change was applied: only change lines between the markers."
        )


def _trim_blank(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _common_indent(lines: list[str]) -> str:
    indents = [_indent(line) for line in lines if line.strip()]
    if not indents:
        return ""
    common = indents[0]
    for indent in indents[1:]:
        while not indent.startswith(common):
            common = common[:-1]
    return common


def _span(start: int, count: int) -> str:
    return f"line {start + 1}" if count <= 1 else f"lines {start + 1}-{start + count}"


def _join(lines: list[str], like: str) -> str:
    return ("\r\n" if "\r\n" in like else "\n").join(lines)
