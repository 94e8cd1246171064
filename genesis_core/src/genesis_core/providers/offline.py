"""The offline provider: random local edits, no network and no model.

It reads the structured `ProposalContext` (the parent program, inspirations,
comment syntax, what kind of answer is wanted) instead of the prompt, and
edits only lines strictly inside EVOLVE-BLOCK regions:

- perturbs a numeric literal (`0.5` -> `0.6131`, `10` -> `11`),
- swaps a comparison or arithmetic operator (` < ` -> ` <= `, ` + ` -> ` - `),
- recombines: copies one differing stretch of lines from an inspiration.

It answers in the project's patch formats: SEARCH/REPLACE blocks for a diff,
the whole program in one fenced code block for a rewrite or a crossover. The
same seed gives the same answer. It is an honest random-search baseline for
ablations, and what `genesis run` uses when no model and no key are set.
"""

from __future__ import annotations

import difflib
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from genesis_core.blocks import Block, find_blocks, split_lines
from genesis_core.errors import TaskError
from genesis_core.hookspecs import hookimpl
from genesis_core.llm import (
    Completion,
    CompletionRequest,
    LLMProvider,
    ProposalContext,
    ProviderError,
)

_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+)([fFlLuU]*)(?![\w.])")
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')
_COMPARISONS = ("<", "<=", ">", ">=")
_EQUALITIES = ("==", "!=")
_ADDITIVE = ("+", "-")


@dataclass
class Edit:
    """Replace program lines [start, end) with `lines`; `what` says it in words."""

    start: int
    end: int
    lines: list[str]
    what: str


class OfflineProvider(LLMProvider):
    """Random edits of the parent's EVOLVE-BLOCKs, seeded; zero cost."""

    name: ClassVar[str] = "offline"
    description: ClassVar[str] = "Random local edits inside EVOLVE-BLOCKs (no network, no model): a random-search baseline"
    api_key_env: ClassVar[str | None] = None

    async def complete(self, request: CompletionRequest) -> Completion:
        context = request.context
        if context is None or not context.parent_code.strip():
            raise ProviderError(
                "error",
                "The offline provider edits an existing program, and this request carries none (no ProposalContext with "
                "parent_code). It cannot write a first program: give the task an initial program, or pick a real model.",
                retryable=False,
            )
        rng = random.Random(request.seed if request.seed is not None else 0)
        try:
            text = propose_edit(context, rng)
        except TaskError as exc:
            raise ProviderError("error", f"The offline provider cannot edit the parent program: {exc}", retryable=False) from None
        return Completion(text=text, model=request.model)


def propose_edit(context: ProposalContext, rng: random.Random) -> str:
    """An answer holding a random edit of `context.parent_code`, in the format its `patch_kind` asks for."""
    comment = context.comment or "#"
    code = context.parent_code
    lines = split_lines(code)
    blocks = find_blocks(code, comment, filename="the parent program")
    inspirations = [text for text in context.inspirations if text.strip()]
    crossover = context.patch_kind == "crossover" and bool(inspirations)
    edits = _recombine_all(lines, blocks, inspirations[0], comment, rng) if crossover else []
    wanted = rng.choice((1, 1, 1, 2, 2, 3)) if not edits else rng.choice((0, 0, 1))
    edits += _random_edits(lines, blocks, inspirations, comment, rng, wanted, taken={i for e in edits for i in range(e.start, max(e.end, e.start + 1))})
    if not edits:
        return (
            "The offline provider found nothing to change: the EVOLVE-BLOCK regions hold no numeric literal, no "
            "operator it can swap, and no line that differs from an inspiration."
        )
    edits.sort(key=lambda e: e.start)
    summary = "Offline random edit (no model): " + "; ".join(e.what for e in edits) + "."
    if context.patch_kind == "diff":
        diff = _search_replace(lines, blocks, edits)
        if diff is not None:
            return f"{summary}\n\n{diff}"
    new_code = "\n".join(_applied(lines, edits))
    return f"{summary}\n\n```{context.language}\n{new_code}\n```\n"


# -- choosing edits -----------------------------------------------------------------


def _editable(lines: list[str], blocks: list[Block], comment: str) -> list[int]:
    return [i for b in blocks for i in range(b.start + 1, b.end) if lines[i].strip() and not lines[i].lstrip().startswith(comment)]


def _random_edits(
    lines: list[str],
    blocks: list[Block],
    inspirations: list[str],
    comment: str,
    rng: random.Random,
    wanted: int,
    taken: set[int],
) -> list[Edit]:
    """Up to `wanted` edits on distinct lines, each a mutation or a recombination."""
    edits: list[Edit] = []
    candidates = [i for i in _editable(lines, blocks, comment) if i not in taken]
    rng.shuffle(candidates)
    recombinations = _recombinations(lines, blocks, inspirations, comment) if inspirations else []
    for _ in range(wanted):
        if recombinations and rng.random() < 0.3:
            pick = rng.choice(recombinations)
            span = set(range(pick.start, max(pick.end, pick.start + 1)))
            if not span & taken:
                edits.append(pick)
                taken |= span
                continue
        while candidates:
            index = candidates.pop()
            if index in taken:
                continue
            mutated = _mutate_line(lines[index], comment, rng)
            if mutated is not None:
                new_line, what = mutated
                edits.append(Edit(index, index + 1, [new_line], f"{what} on line {index + 1}"))
                taken.add(index)
                break
    return edits


def _mutate_line(line: str, comment: str, rng: random.Random) -> tuple[str, str] | None:
    """The line with one literal perturbed or one operator swapped, or None when it has neither."""
    code_end = _code_end(line, comment)
    protected = [m.span() for m in _STRING.finditer(line, 0, code_end)]

    def free(start: int, end: int) -> bool:
        return end <= code_end and not any(a <= start < b for a, b in protected)

    numbers = [m for m in _NUMBER.finditer(line) if free(*m.span())]
    operators = _operators(line, comment, free)
    options: list[Callable[[], tuple[str, str] | None]] = []
    if numbers:
        options.append(lambda: _perturb_number(line, rng.choice(numbers), rng))
    if operators:
        options.append(lambda: _swap_operator(line, rng.choice(operators), rng))
    rng.shuffle(options)
    for option in options:
        result = option()
        if result is not None and result[0] != line:
            return result
    return None


def _code_end(line: str, comment: str) -> int:
    """Where a trailing comment starts (a comment prefix after whitespace), else the line's end."""
    at = line.find(f" {comment} ")
    if at < 0 and line.rstrip().endswith(f" {comment}"):
        at = line.rstrip().rfind(f" {comment}")
    return at if at >= 0 else len(line)


def _operators(line: str, comment: str, free: Callable[[int, int], bool]) -> list[tuple[int, str, tuple[str, ...]]]:
    """(position, operator, family) of each space-delimited operator a swap may change."""
    multiplicative = ("*", "/") if comment == "//" else ("*", "/", "//")
    families = (_COMPARISONS, _EQUALITIES, _ADDITIVE, multiplicative)
    found = []
    for match in re.finditer(r"(?<= )(<=|>=|==|!=|//|<|>|\+|-|\*|/)(?= )", line):
        op = match.group(1)
        if not free(*match.span()):
            continue
        for family in families:
            if op in family:
                found.append((match.start(), op, family))
    return found


def _swap_operator(line: str, found: tuple[int, str, tuple[str, ...]], rng: random.Random) -> tuple[str, str]:
    at, op, family = found
    new = rng.choice([o for o in family if o != op])
    return line[:at] + new + line[at + len(op):], f"swapped '{op}' for '{new}'"


def _perturb_number(line: str, match: re.Match[str], rng: random.Random) -> tuple[str, str] | None:
    literal, suffix = match.group(1), match.group(2)
    new = _new_float(literal, rng) if any(c in literal for c in ".eE") else _new_int(int(literal), rng)
    if new is None or new == literal:
        return None
    start, end = match.span(1)
    return line[:start] + new + line[end:], f"changed {literal}{suffix} to {new}{suffix}"


def _new_int(value: int, rng: random.Random) -> str | None:
    step = max(1, abs(value) // 4)
    choices = {value + 1, value * 2, value + rng.randint(-step, step)}
    if value > 0:
        choices |= {value - 1, value // 2}
    choices = {c for c in choices if c >= 0 and c != value}
    return str(rng.choice(sorted(choices))) if choices else None


def _new_float(literal: str, rng: random.Random) -> str | None:
    try:
        value = float(literal)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    new = value * math.exp(rng.gauss(0.0, 0.3)) if value != 0 else abs(rng.gauss(0.0, 0.1))
    text = f"{new:.4g}"
    if not any(c in text for c in ".eE"):
        text += ".0"
    if "e" in text and "e" not in literal.lower():
        text = f"{new:.6f}".rstrip("0")
        text = text + "0" if text.endswith(".") else text
    return text


def _recombinations(lines: list[str], blocks: list[Block], inspirations: list[str], comment: str) -> list[Edit]:
    """Each stretch where an inspiration's region differs from the parent's, as an edit taking the inspiration's lines."""
    edits: list[Edit] = []
    for number, text in enumerate(inspirations, start=1):
        try:
            other_blocks = find_blocks(text, comment, filename=f"inspiration {number}")
        except TaskError:
            continue
        other_lines = split_lines(text)
        for block, other in zip(blocks, other_blocks, strict=False):
            mine = lines[block.start + 1:block.end]
            theirs = other_lines[other.start + 1:other.end]
            matcher = difflib.SequenceMatcher(a=[s.strip() for s in mine], b=[s.strip() for s in theirs], autojunk=False)
            for tag, i1, i2, j1, j2 in matcher.get_opcodes():
                if tag == "equal":
                    continue
                start, end = block.start + 1 + i1, block.start + 1 + i2
                taken = theirs[j1:j2]
                what = f"took {len(taken)} line(s) from inspiration {number} for line(s) {start + 1}-{max(end, start + 1)}"
                edits.append(Edit(start, end, taken, what))
    return edits


def _recombine_all(lines: list[str], blocks: list[Block], other: str, comment: str, rng: random.Random) -> list[Edit]:
    """A crossover: each differing stretch of the second parent is taken with probability one half."""
    chosen = [edit for edit in _recombinations(lines, blocks, [other], comment) if rng.random() < 0.5]
    for edit in chosen:
        edit.what = edit.what.replace("inspiration 1", "the second parent")
    return chosen


# -- writing the answer ---------------------------------------------------------------


def _applied(lines: list[str], edits: list[Edit]) -> list[str]:
    out: list[str] = []
    previous = 0
    for edit in sorted(edits, key=lambda e: e.start):
        out.extend(lines[previous:edit.start])
        out.extend(edit.lines)
        previous = edit.end
    out.extend(lines[previous:])
    return out


def _search_replace(lines: list[str], blocks: list[Block], edits: list[Edit]) -> str | None:
    """One SEARCH/REPLACE block per region touched, each matching exactly one place; None when that fails."""
    current = list(lines)
    parts: list[str] = []
    shift = 0  # how far earlier replacements moved later lines
    for block in blocks:
        mine = [e for e in edits if block.start < e.start <= block.end and e.end <= block.end]
        if not mine:
            continue
        low, high = min(e.start for e in mine), max(e.end for e in mine)
        replacement = _applied(lines[low:high], [Edit(e.start - low, e.end - low, e.lines, e.what) for e in mine])
        window = _unique_window(current, low + shift, high + shift, block.start + 1 + shift, block.end + shift)
        if window is None:
            return None
        first, last = window
        before = current[first:low + shift]
        after = current[high + shift:last]
        new_lines = before + replacement + after
        parts.append("<<<<<<< SEARCH\n" + "\n".join(current[first:last]) + "\n=======\n" + "\n".join(new_lines) + "\n>>>>>>> REPLACE")
        current[first:last] = new_lines
        shift += len(new_lines) - (last - first)
    return "\n\n".join(parts)


def _unique_window(lines: list[str], low: int, high: int, floor: int, ceiling: int) -> tuple[int, int] | None:
    """The smallest widening of [low, high) inside [floor, ceiling) whose lines, compared without
    indentation, occur exactly once in the program and start and end with a non-blank line."""
    stripped = [line.strip() for line in lines]
    first, last = low, high
    grow_down = True
    while True:
        if last > first and stripped[first] and stripped[last - 1] and _count(stripped, stripped[first:last]) == 1:
            return first, last
        can_up, can_down = first > floor, last < ceiling
        if not can_up and not can_down:
            return None
        if last > first and not stripped[first] and can_up:
            first -= 1
        elif last > first and not stripped[last - 1] and can_down:
            last += 1
        elif (grow_down and can_down) or not can_up:
            last += 1
        else:
            first -= 1
        grow_down = not grow_down


def _count(haystack: list[str], needle: list[str]) -> int:
    n = len(needle)
    return sum(1 for i in range(len(haystack) - n + 1) if haystack[i:i + n] == needle)


@hookimpl
def register_llm_providers(register):
    register(OfflineProvider)
