"""The island model: separate populations that evolve apart and exchange migrants.

Each island keeps its programs in a sorted list of (score, id), so that adding
a program, finding the k-th best and sampling a rank are O(log n), and one
`select` never scans a population. Parent selection within an island:

- `power_law`: rank r (0 = best) drawn with probability ~ (r + 1) ** -exponent,
  by inverting the continuous power law: O(1) per draw at any population size.
- `sigmoid`: weight sigmoid(sharpness * (score - median) / IQR) divided by
  (1 + child_penalty * children), sampled exactly by rejection from uniform
  draws (expected O(1) tries; after `max_tries` the heaviest tried one wins).
- `hill_climb`: the island's best. `beam`: uniform among the best `beam_width`.
  `uniform`: any program of the island.

Migration happens every `migration_interval` evaluations: each island sends
its best programs (after keeping its `elitism` best at home) to the next
island (ring) or a random other island. Migrants move; an island never loses
its `elitism` best. Migration draws from a generator derived from the seed and
the migration's number, so replaying the same programs on resume reproduces
the same islands.
"""

from __future__ import annotations

import math
import random
from typing import Any, Literal

from pydantic import Field
from sortedcontainers import SortedList

from genesis_core.hookspecs import hookimpl
from genesis_core.strategy import (
    ProgramSummary,
    Selection,
    Strategy,
    StrategySettings,
    can_be_parent,
    dump_rng,
    load_rng,
)

ParentSelection = Literal["power_law", "sigmoid", "hill_climb", "beam", "uniform"]


class IslandSettings(StrategySettings):
    num_islands: int = Field(4, ge=1, description="Number of separate populations.")
    migration_interval: int = Field(50, ge=0, description="Evaluations between migrations; 0: never migrate.")
    migration_rate: float = Field(0.1, ge=0, le=1, description="Fraction of an island's programs that migrate each time (at least 1, at most max_migrants).")
    max_migrants: int = Field(5, ge=0, description="Most programs one island sends per migration.")
    topology: Literal["ring", "random"] = Field("ring", description="Where migrants go: the next island, or a random other one.")
    elitism: int = Field(1, ge=0, description="Each island keeps its best N programs at home: they never migrate away or get evicted.")
    population_size: int | None = Field(None, ge=1, description="Most programs per island; the worst beyond it leave the island (they stay in the database). None: unbounded.")
    parent_selection: ParentSelection = Field("power_law", description="How a parent is drawn from its island.")
    power_law_exponent: float = Field(1.0, gt=0, description="power_law: rank r is drawn with probability ~ (r+1)^-exponent.")
    sigmoid_sharpness: float = Field(10.0, gt=0, description="sigmoid: steepness of the weight around the island's median score.")
    child_penalty: float = Field(1.0, ge=0, description="sigmoid: weight divided by (1 + child_penalty * children of the program).")
    beam_width: int = Field(5, ge=1, description="beam: parents are drawn uniformly from the island's best N.")
    num_inspirations: int = Field(3, ge=0, description="Programs shown beside the parent.")
    inspirations: Literal["elite", "top_k"] = Field("elite", description="elite: drawn from the archive of the best programs of all islands; top_k: the parent island's best.")
    archive_size: int = Field(50, ge=1, description="Size of the elite archive (best programs over all islands).")
    max_tries: int = Field(64, ge=1, description="sigmoid: rejection-sampling tries before taking the heaviest program tried.")


class IslandStrategy(Strategy):
    """Islands with migration, several parent-selection rules and an elite archive."""

    name = "islands"
    description = "Island model with migration; power-law, sigmoid, hill-climbing, beam or uniform parent selection"
    Settings = IslandSettings

    def __init__(self, settings: IslandSettings | dict | None = None, *, seed: int = 0) -> None:
        super().__init__(settings, seed=seed)
        s: IslandSettings = self.settings  # type: ignore[assignment]
        self.islands: list[SortedList] = [SortedList() for _ in range(s.num_islands)]
        self.archive: SortedList = SortedList()  # (score, id), the best `archive_size` of all
        self.scores: dict[int, float] = {}  # id -> score, parent-eligible programs only
        self.children: dict[int, int] = {}  # id -> children evaluated (failed ones too)
        self.evaluations = 0
        self.migrations = 0
        self.next_island = 0

    # -- placing --------------------------------------------------------------

    def add(self, program: ProgramSummary) -> None:
        if program.id in self.scores:
            return  # already placed; adding twice must not count twice
        self.evaluations += 1
        if program.parent_id is not None:
            self.children[program.parent_id] = self.children.get(program.parent_id, 0) + 1
        if can_be_parent(program):
            score = float(program.score)  # type: ignore[arg-type]
            self.scores[program.id] = score
            self._place(program.id, score, program.island % len(self.islands))
            self._archive(program.id, score)
        self._after_add()

    def _after_add(self) -> None:
        interval = self.settings.migration_interval  # type: ignore[attr-defined]
        if interval and self.evaluations % interval == 0 and len(self.islands) > 1:
            self.migrate()

    def _place(self, program_id: int, score: float, island: int) -> None:
        population = self.islands[island]
        key = (score, program_id)
        if key in population:
            return
        population.add(key)
        limit = self.settings.population_size  # type: ignore[attr-defined]
        keep = self.settings.elitism  # type: ignore[attr-defined]
        if limit is not None and len(population) > max(limit, keep):
            population.pop(0)  # the worst

    def _archive(self, program_id: int, score: float) -> None:
        self.archive.add((score, program_id))
        if len(self.archive) > self.settings.archive_size:  # type: ignore[attr-defined]
            self.archive.pop(0)

    # -- migration ------------------------------------------------------------

    def migrate(self) -> None:
        """Move each island's best non-elite programs to its destination island."""
        s: IslandSettings = self.settings  # type: ignore[assignment]
        self.migrations += 1
        rng = random.Random(f"{self.seed}:migration:{self.migrations}")
        n = len(self.islands)
        moves: list[tuple[int, list[tuple[float, int]]]] = []
        for index, population in enumerate(self.islands):
            movable = len(population) - s.elitism
            count = min(s.max_migrants, max(1, math.ceil(s.migration_rate * len(population))), movable)
            if count <= 0 or s.migration_rate == 0:
                continue
            # Best non-elite programs: ranks elitism .. elitism+count-1 from the top.
            top = len(population) - s.elitism
            migrants = list(population.islice(top - count, top))
            destination = (index + 1) % n if s.topology == "ring" else rng.choice([i for i in range(n) if i != index])
            moves.append((destination, migrants))
            for key in migrants:
                population.remove(key)
        for destination, migrants in moves:
            for score, program_id in migrants:
                self._place(program_id, score, destination)

    # -- choosing -------------------------------------------------------------

    def select(self) -> Selection:
        s: IslandSettings = self.settings  # type: ignore[assignment]
        island = self.next_island
        self.next_island = (self.next_island + 1) % len(self.islands)
        if not self.archive:
            return Selection(parent_id=None, inspiration_ids=[], island=island)
        population = self.islands[island]
        if population:
            parent = self._draw_parent(population)
        else:  # an empty island is seeded from the best program so far
            parent = self.archive[-1][1]
        inspirations = self._inspirations(population, parent, s.num_inspirations)
        return Selection(parent_id=parent, inspiration_ids=inspirations, island=island, second_parent_id=self._partner(parent))

    def _draw_parent(self, population: SortedList) -> int:
        s: IslandSettings = self.settings  # type: ignore[assignment]
        n = len(population)
        rule = s.parent_selection
        if rule == "hill_climb":
            rank = 0
        elif rule == "beam":
            rank = self.rng.randrange(min(s.beam_width, n))
        elif rule == "uniform":
            rank = self.rng.randrange(n)
        elif rule == "power_law":
            rank = power_law_rank(n, s.power_law_exponent, self.rng)
        else:
            return self._sigmoid_draw(population)
        return population[n - 1 - rank][1]

    def _sigmoid_draw(self, population: SortedList) -> int:
        s: IslandSettings = self.settings  # type: ignore[assignment]
        n = len(population)
        median = population[n // 2][0]
        spread = population[(3 * n) // 4][0] - population[n // 4][0]
        if spread <= 0:
            spread = abs(population[-1][0] - median) or 1.0
        heaviest, heaviest_weight = population[-1][1], -1.0
        for _ in range(s.max_tries):
            score, program_id = population[self.rng.randrange(n)]
            z = max(-60.0, min(60.0, s.sigmoid_sharpness * (score - median) / spread))
            weight = 1.0 / (1.0 + math.exp(-z)) / (1.0 + s.child_penalty * self.children.get(program_id, 0))
            if self.rng.random() < weight:
                return program_id
            if weight > heaviest_weight:
                heaviest, heaviest_weight = program_id, weight
        return heaviest

    def _inspirations(self, population: SortedList, parent: int, k: int) -> list[int]:
        if k == 0:
            return []
        if self.settings.inspirations == "top_k":  # type: ignore[attr-defined]
            source = population if population else self.archive
            best = [pid for _, pid in source.islice(max(0, len(source) - k - 1), reverse=True)]
            return [pid for pid in best if pid != parent][:k]
        others = [pid for _, pid in self.archive if pid != parent]
        return self.rng.sample(others, min(k, len(others)))

    def _partner(self, parent: int) -> int | None:
        """A crossover partner from the elite archive, not the parent itself."""
        if len(self.archive) < 2:
            return None
        candidate = self.archive[self.rng.randrange(len(self.archive))][1]
        if candidate != parent:
            return candidate
        others = [pid for _, pid in self.archive if pid != parent]
        return self.rng.choice(others) if others else None

    # -- persistence ------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "rng": dump_rng(self.rng),
            "next_island": self.next_island,
            "island_sizes": [len(p) for p in self.islands],
            "best": [
                {"island": i, "program_id": p[-1][1], "score": p[-1][0]} if p else None
                for i, p in enumerate(self.islands)
            ],
        }

    def restore(self, state: dict[str, Any]) -> None:
        if "rng" in state:
            load_rng(self.rng, state["rng"])
        self.next_island = int(state.get("next_island", 0)) % len(self.islands)


def power_law_rank(n: int, exponent: float, rng: random.Random) -> int:
    """A rank in [0, n) with probability close to (rank + 1) ** -exponent, in O(1).

    Draws x from the continuous density ~ x ** -exponent on [1, n + 1) by
    inverting its distribution function, and returns floor(x) - 1.
    """
    u = rng.random()
    if abs(exponent - 1.0) < 1e-9:
        x = (n + 1) ** u
    else:
        a = 1.0 - exponent
        x = (1.0 + u * ((n + 1) ** a - 1.0)) ** (1.0 / a)
    return min(n - 1, max(0, int(x) - 1))


@hookimpl
def register_strategies(register):
    register(IslandStrategy)
