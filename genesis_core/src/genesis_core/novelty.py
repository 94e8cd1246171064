"""Novelty: rejecting candidates too similar to the programs of their island.

The built-in embedding needs no network and no model: the code's tokens are
cut into overlapping 3-token shingles, each hashed (crc32 of the tokens, then
the hash of the tuple of three: the same in every process) into one of `dims`
signed buckets, and the counts are scaled to unit length. Cosine similarity
is then the dot product.

A check compares the candidate with a bounded set per island: its most
recent `per_island_limit` programs and its `elite_limit` best. To stay cheap
in pure Python, the set is first ranked by the Hamming distance of the
vectors' sign patterns (one XOR and popcount on Python integers each), and
the exact cosine is computed for the `exact_candidates` closest only.

An optional LLM judge gets the final word on a near-duplicate: the engine
builds the question with `PromptBuilder.novelty_judge` and passes a callable
that sends it to a model; `NoveltyFilter.judge` reads the verdict.
"""

from __future__ import annotations

import bisect
import math
import operator
import re
import zlib
from array import array
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from genesis_core.blocks import block_texts
from genesis_core.errors import GenesisError, TaskError
from genesis_core.llm import Message

TOKEN_RE = re.compile(r"\w+|[^\w\s]")
SHINGLE = 3


def shingle_embedding(text: str, dims: int = 256) -> array:
    """A unit vector of hashed 3-token shingle counts; whitespace and layout do not matter."""
    if dims < 8:
        raise ValueError(f"dims must be at least 8, not {dims}")
    vector = array("d", bytes(8 * dims))
    tokens = TOKEN_RE.findall(text)
    if not tokens:
        return vector
    crc = {t: zlib.crc32(t.encode("utf-8")) for t in set(tokens)}
    hashes = [crc[t] for t in tokens]
    # Tuples of ints hash the same in every process (no string hash randomisation).
    shingles = zip(*(hashes[i:] for i in range(min(SHINGLE, len(hashes)))), strict=False)
    # One bucket among 2 * dims: the lower half adds, the upper half subtracts.
    for key, count in Counter(map(hash, shingles)).items():
        bucket = (key ^ (key >> 29)) % (2 * dims)
        if bucket < dims:
            vector[bucket] += count
        else:
            vector[bucket - dims] -= count
    return _unit(vector)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Dot product of two unit vectors."""
    return sum(map(operator.mul, a, b))


@dataclass(slots=True)
class NoveltyVerdict:
    novel: bool
    similarity: float  # the highest cosine similarity found, 0.0 when the island is empty
    nearest_id: int | None


@dataclass(slots=True)
class JudgeVerdict:
    novel: bool
    reason: str


@dataclass(slots=True)
class _Entry:
    program_id: int
    vector: array
    positive: int  # bit i set when vector[i] > 0
    negative: int  # bit i set when vector[i] < 0


class NoveltyFilter:
    """Rejects candidates whose embedding is too close to a program of their island."""

    def __init__(
        self,
        threshold: float,
        *,
        per_island_limit: int = 100,
        elite_limit: int = 20,
        exact_candidates: int = 8,
        dims: int = 256,
        comment: str | None = None,
    ) -> None:
        if not 0 < threshold <= 1:
            raise GenesisError(f"The novelty threshold must be in (0, 1] (a cosine similarity), not {threshold}. Fix novelty.threshold.")
        self.threshold = threshold
        self.per_island_limit = per_island_limit
        self.elite_limit = elite_limit
        self.exact_candidates = max(1, exact_candidates)
        self.dims = dims
        self.comment = comment
        self.recent: dict[int, deque[_Entry]] = {}
        self.elites: dict[int, list[tuple[float, int, _Entry]]] = {}  # ascending by score

    def embed(self, code: str) -> array:
        """The built-in embedding of the code's EVOLVE-BLOCK regions (the whole code without a comment syntax)."""
        text = code
        if self.comment is not None:
            try:
                text = "\n".join(block_texts(code, self.comment))
            except TaskError:
                text = code
        return shingle_embedding(text, self.dims)

    def check(self, code: str, island: int, vector: list[float] | None = None) -> NoveltyVerdict:
        """Whether `code` is novel enough for `island`; cost bounded by the per-island limits."""
        candidate = self._entry(-1, code, vector)
        pool = self._pool(island)
        if not pool:
            return NoveltyVerdict(novel=True, similarity=0.0, nearest_id=None)
        self._check_dims(candidate.vector, pool[0].vector)
        closest = sorted(
            pool,
            key=lambda e: (e.positive ^ candidate.positive).bit_count() + (e.negative ^ candidate.negative).bit_count(),
        )[: self.exact_candidates]
        best_similarity, nearest = -1.0, None
        for entry in closest:
            similarity = cosine(candidate.vector, entry.vector)
            if similarity > best_similarity:
                best_similarity, nearest = similarity, entry.program_id
        best_similarity = max(-1.0, min(1.0, best_similarity))
        return NoveltyVerdict(novel=best_similarity < self.threshold, similarity=best_similarity, nearest_id=nearest)

    def add(self, program_id: int, island: int, code: str | None = None, vector: list[float] | None = None, *, score: float | None = None) -> None:
        """Remember an accepted program of `island`; with a score it may join the island's elites."""
        if code is None and vector is None:
            raise ValueError("add() needs the program's code or its vector")
        entry = self._entry(program_id, code or "", vector)
        recent = self.recent.setdefault(island, deque(maxlen=self.per_island_limit))
        if recent:
            self._check_dims(entry.vector, recent[0].vector)
        recent.append(entry)
        if score is not None and math.isfinite(score) and self.elite_limit > 0:
            elites = self.elites.setdefault(island, [])
            if len(elites) < self.elite_limit or score > elites[0][0]:
                bisect.insort(elites, (score, program_id, entry), key=lambda item: (item[0], item[1]))
                if len(elites) > self.elite_limit:
                    elites.pop(0)

    async def judge(self, messages: list[Message], ask: Callable[[list[Message]], Awaitable[str]]) -> JudgeVerdict:
        """Ask an LLM whether a near-duplicate is meaningfully different.

        `messages` come from `PromptBuilder.novelty_judge`; `ask` sends them to
        a model and returns its text. An answer without a clear verdict counts
        as novel: the judge may only save evaluations, never lose ideas.
        """
        return parse_judgement(await ask(messages))

    def _pool(self, island: int) -> list[_Entry]:
        pool = list(self.recent.get(island, ()))
        seen = {e.program_id for e in pool}
        pool.extend(e for _, pid, e in self.elites.get(island, ()) if pid not in seen)
        return pool

    def _entry(self, program_id: int, code: str, vector: list[float] | None) -> _Entry:
        unit = _unit(array("d", vector)) if vector is not None else self.embed(code)
        positive = int("".join("1" if v > 0 else "0" for v in reversed(unit)) or "0", 2)
        negative = int("".join("1" if v < 0 else "0" for v in reversed(unit)) or "0", 2)
        return _Entry(program_id, unit, positive, negative)

    @staticmethod
    def _check_dims(a: array, b: array) -> None:
        if len(a) != len(b):
            raise GenesisError(
                f"A novelty vector has {len(a)} dimensions but the island's programs have {len(b)}: one run must use "
                f"one embedding (novelty.embedding) throughout. Start a new run to change it."
            )


_VERDICT_RE = re.compile(r"\b(NOVEL|DUPLICATE)\b", re.IGNORECASE)


def parse_judgement(answer: str) -> JudgeVerdict:
    """The first NOVEL or DUPLICATE in the answer decides; the rest is the reason."""
    match = _VERDICT_RE.search(answer)
    if match is None:
        return JudgeVerdict(novel=True, reason="the judge gave no clear verdict (NOVEL or DUPLICATE); kept as novel")
    punctuation = " \t\n*_:-.`"
    reason = answer[match.end():].strip(punctuation) or answer[: match.start()].strip(punctuation) or "no reason given"
    return JudgeVerdict(novel=match.group(1).upper() == "NOVEL", reason=reason)


def _unit(vector: array) -> array:
    norm = math.sqrt(sum(map(operator.mul, vector, vector)))
    if norm == 0:
        return vector
    scale = 1.0 / norm
    return array("d", [v * scale for v in vector])
