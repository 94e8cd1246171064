"""Novelty: rejecting candidates too similar to the programs of their island.

The built-in embedding needs no network and no model: the code's tokens
(words, and each other non-space character) are cut into overlapping 3-token
shingles, each hashed (crc32 of the tokens, combined and mixed: the same in
every process) into one of `dims` signed buckets, and the counts are scaled
to unit length. Cosine similarity is then the dot product. Past the
tokenizer it is computed with NumPy in a few array operations: it runs once
per candidate on the engine's own thread, where a per-shingle Python loop
cost three times as much.

A check compares the candidate with a bounded set per island: its most
recent `per_island_limit` programs and its `elite_limit` best, all at once
(one matrix product), so its cost does not grow with the run.

An optional LLM judge gets the final word on a near-duplicate: the engine
builds the question with `PromptBuilder.novelty_judge` and passes a callable
that sends it to a model; `NoveltyFilter.judge` reads the verdict.
"""

from __future__ import annotations

import bisect
import math
import re
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from genesis_core.blocks import block_texts
from genesis_core.errors import GenesisError, TaskError
from genesis_core.llm import Message

TOKEN_RE = re.compile(rb"\w+|[^\w\s]")
SHINGLE = 3  # tokens
_FIRST, _SECOND, _MIX = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x94D049BB133111EB


def shingle_embedding(text: str, dims: int = 256) -> Any:
    """A unit vector (a NumPy array) of hashed 3-token shingle counts; whitespace and layout do not matter."""
    import numpy as np

    if dims < 8:
        raise ValueError(f"dims must be at least 8, not {dims}")
    tokens = TOKEN_RE.findall(text.encode("utf-8"))
    if not tokens:
        return np.zeros(dims)
    crc = {token: zlib.crc32(token) for token in set(tokens)}
    hashes = np.array([crc[token] for token in tokens], dtype=np.uint64)
    if hashes.size >= SHINGLE:  # key = a * F + b * S + c over each three consecutive tokens, modulo 2^64
        key = hashes[:-2] * np.uint64(_FIRST) + hashes[1:-1] * np.uint64(_SECOND) + hashes[2:]
    else:
        key = hashes
    key = (key ^ (key >> np.uint64(29))) * np.uint64(_MIX)
    key ^= key >> np.uint64(32)
    # One bucket among 2 * dims: the lower half adds, the upper half subtracts.
    counts = np.bincount((key % np.uint64(2 * dims)).astype(np.intp), minlength=2 * dims)
    return _unit(counts[:dims] - counts[dims:])


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Dot product of two unit vectors."""
    import numpy as np

    return float(np.dot(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)))


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
class NoveltyEntry:
    """A vector ready for comparison: made once per candidate, used by `check` and kept by `add`."""

    program_id: int
    vector: Any  # a unit NumPy array


class NoveltyFilter:
    """Rejects candidates whose embedding is too close to a program of their island."""

    def __init__(
        self,
        threshold: float,
        *,
        per_island_limit: int = 100,
        elite_limit: int = 20,
        dims: int = 256,
        comment: str | None = None,
    ) -> None:
        if not 0 < threshold <= 1:
            raise GenesisError(f"The novelty threshold must be in (0, 1] (a cosine similarity), not {threshold}. Fix novelty.threshold.")
        self.threshold = threshold
        self.per_island_limit = per_island_limit
        self.elite_limit = elite_limit
        self.dims = dims
        self.comment = comment
        self.recent: dict[int, deque[NoveltyEntry]] = {}
        self.elites: dict[int, list[tuple[float, int, NoveltyEntry]]] = {}  # ascending by score

    def embed(self, code: str) -> Any:
        """The built-in embedding of the code's EVOLVE-BLOCK regions (the whole code without a comment syntax)."""
        text = code
        if self.comment is not None:
            try:
                text = "\n".join(block_texts(code, self.comment))
            except TaskError:
                text = code
        return shingle_embedding(text, self.dims)

    def entry(self, code: str = "", vector: Sequence[float] | None = None, program_id: int = -1) -> NoveltyEntry:
        """The comparison form of a program: its unit vector, given or the built-in embedding of `code`."""
        import numpy as np

        unit = _unit(np.asarray(vector, dtype=np.float64)) if vector is not None else self.embed(code)
        return NoveltyEntry(program_id, unit)

    def check(self, code: str, island: int, vector: Sequence[float] | None = None, *, entry: NoveltyEntry | None = None) -> NoveltyVerdict:
        """Whether `code` is novel enough for `island`; cost bounded by the per-island limits."""
        candidate = entry if entry is not None else self.entry(code, vector)
        pool = self._pool(island)
        if not pool:
            return NoveltyVerdict(novel=True, similarity=0.0, nearest_id=None)
        self._check_dims(candidate.vector, pool[0].vector)
        import numpy as np

        similarities = np.stack([entry.vector for entry in pool]) @ candidate.vector
        nearest = int(np.argmax(similarities))
        best_similarity, nearest_id = float(similarities[nearest]), pool[nearest].program_id
        best_similarity = max(-1.0, min(1.0, best_similarity))
        return NoveltyVerdict(novel=best_similarity < self.threshold, similarity=best_similarity, nearest_id=nearest_id)

    def add(self, program_id: int, island: int, code: str | None = None, vector: Sequence[float] | None = None, *,
            score: float | None = None, entry: NoveltyEntry | None = None) -> None:
        """Remember an accepted program of `island`; with a score it may join the island's elites."""
        if entry is None:
            if code is None and vector is None:
                raise ValueError("add() needs the program's code, its vector or its entry")
            entry = self.entry(code or "", vector)
        entry.program_id = program_id
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

    def _pool(self, island: int) -> list[NoveltyEntry]:
        pool = list(self.recent.get(island, ()))
        seen = {e.program_id for e in pool}
        pool.extend(e for _, pid, e in self.elites.get(island, ()) if pid not in seen)
        return pool

    @staticmethod
    def _check_dims(a: Any, b: Any) -> None:
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


def _unit(vector: Any) -> Any:
    """`vector` (a NumPy array) scaled to length 1, as float64; a zero vector stays zero."""
    import numpy as np

    vector = vector.astype(np.float64)
    norm = math.sqrt(float(vector @ vector))
    return vector / norm if norm else vector
