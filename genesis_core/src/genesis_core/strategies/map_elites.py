"""MAP-Elites: one elite per cell of a grid over features the evaluator reports.

The evaluator returns metrics; the engine passes them as
`ProgramSummary.features`. Each feature named in the settings is cut into
`bins` equal intervals over its `range` (values outside go to the edge bins),
and each cell keeps its best program. A parent is an elite of a random
occupied cell, uniformly or weighted by curiosity (how often that cell's
children earned a place in the grid). Programs that lack a feature value are
counted but not placed; while the grid is empty the best program so far is
the parent.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

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

Cell = tuple[int, ...]


class MapElitesSettings(StrategySettings):
    features: list[str] = Field(default_factory=list, description="Names of the evaluator metrics that span the grid, e.g. ['length', 'runtime'].")
    bins: int | dict[str, int] = Field(10, description="Bins per feature: one number for all, or a table feature -> bins.")
    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict, description="Feature -> [low, high]; values outside go to the edge bins.")
    selection: Literal["uniform", "curiosity"] = Field("uniform", description="uniform: any occupied cell; curiosity: cells whose children often earn a place.")
    num_inspirations: int = Field(3, ge=0, description="Elites of other cells shown beside the parent.")
    max_tries: int = Field(64, ge=1, description="curiosity: rejection-sampling tries before taking the most curious cell tried.")

    @model_validator(mode="after")
    def _features_have_ranges(self) -> MapElitesSettings:
        if not self.features:
            raise ValueError(
                "map-elites needs at least one feature: set [strategy.map-elites] features = ['metric', ...] "
                "naming metrics your evaluator returns, with ranges = { metric = [low, high] }"
            )
        missing = [f for f in self.features if f not in self.ranges]
        if missing:
            raise ValueError(f"map-elites needs a range for every feature; missing for {missing}: add ranges = {{ {missing[0]} = [low, high] }}")
        for name, (low, high) in self.ranges.items():
            if not high > low:
                raise ValueError(f"the range of feature '{name}' must have high > low, found [{low}, {high}]")
        bins = self.bins if isinstance(self.bins, dict) else {}
        for name in self.features:
            count = bins.get(name, 10) if isinstance(self.bins, dict) else self.bins
            if count < 1:
                raise ValueError(f"feature '{name}' needs at least 1 bin, found {count}")
        unknown = [name for name in bins if name not in self.features]
        if unknown:
            raise ValueError(f"bins names features that are not in features: {unknown}")
        return self

    def bins_of(self, feature: str) -> int:
        return self.bins.get(feature, 10) if isinstance(self.bins, dict) else self.bins


class MapElitesStrategy(Strategy):
    """A grid of elites over evaluator-reported features."""

    name = "map-elites"
    description = "MAP-Elites: one elite per cell of a grid over features the evaluator returns"
    Settings = MapElitesSettings

    def __init__(self, settings: MapElitesSettings | dict | None = None, *, seed: int = 0) -> None:
        super().__init__(settings, seed=seed)
        self.elites: dict[Cell, tuple[float, int]] = {}  # cell -> (score, id)
        self.occupied: list[Cell] = []  # cells in the order they were first filled (O(1) random pick)
        self.cell_of: dict[int, Cell] = {}  # id -> the cell it was placed in
        self.successes: dict[Cell, int] = {}  # children of this cell's elites that earned a place
        self.attempts: dict[Cell, int] = {}  # children of this cell's elites evaluated
        self.features_of: dict[Cell, dict[str, float]] = {}
        self.best: tuple[float, int] | None = None
        self.evaluations = 0
        self.unplaced = 0  # eligible programs missing a feature value

    def cell(self, features: dict[str, float]) -> Cell | None:
        """The grid cell of a feature vector, or None when a feature is missing or not a number."""
        s: MapElitesSettings = self.settings  # type: ignore[assignment]
        index = []
        for name in s.features:
            value = features.get(name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                return None
            low, high = s.ranges[name]
            bins = s.bins_of(name)
            position = int((value - low) / (high - low) * bins)
            index.append(min(bins - 1, max(0, position)))
        return tuple(index)

    def add(self, program: ProgramSummary) -> None:
        self.evaluations += 1
        parent_cell = self.cell_of.get(program.parent_id) if program.parent_id is not None else None
        placed = False
        if can_be_parent(program):
            score = float(program.score)  # type: ignore[arg-type]
            if self.best is None or score > self.best[0]:
                self.best = (score, program.id)
            cell = self.cell(program.features)
            if cell is None:
                self.unplaced += 1
            else:
                current = self.elites.get(cell)
                if current is None:
                    self.occupied.append(cell)
                if current is None or score > current[0]:
                    self.elites[cell] = (score, program.id)
                    self.features_of[cell] = {k: float(program.features[k]) for k in self.settings.features}  # type: ignore[attr-defined]
                    self.cell_of[program.id] = cell
                    placed = True
        if parent_cell is not None:
            self.attempts[parent_cell] = self.attempts.get(parent_cell, 0) + 1
            if placed:
                self.successes[parent_cell] = self.successes.get(parent_cell, 0) + 1

    def curiosity(self, cell: Cell) -> float:
        """In (0, 1]: the smoothed share of this cell's children that earned a place."""
        return (1 + self.successes.get(cell, 0)) / (1 + self.attempts.get(cell, 0))

    def select(self) -> Selection:
        s: MapElitesSettings = self.settings  # type: ignore[assignment]
        if not self.occupied:
            if self.best is None:
                return Selection(parent_id=None, inspiration_ids=[], island=0)
            return Selection(parent_id=self.best[1], inspiration_ids=[], island=0)
        cell = self._draw_cell()
        partner = self._other_elites(cell, 1)
        return Selection(
            parent_id=self.elites[cell][1],
            inspiration_ids=self._other_elites(cell, s.num_inspirations),
            island=0,
            second_parent_id=partner[0] if partner else None,
        )

    def _other_elites(self, cell: Cell, k: int) -> list[int]:
        """Elites of up to k distinct random cells other than `cell`."""
        k = min(k, len(self.occupied) - 1)
        seen: set[Cell] = {cell}
        picks: list[int] = []
        while len(picks) < k:
            other = self.occupied[self.rng.randrange(len(self.occupied))]
            if other not in seen:
                seen.add(other)
                picks.append(self.elites[other][1])
        return picks

    def _draw_cell(self) -> Cell:
        s: MapElitesSettings = self.settings  # type: ignore[assignment]
        if s.selection == "uniform":
            return self.occupied[self.rng.randrange(len(self.occupied))]
        best_cell, best_weight = self.occupied[0], -1.0
        for _ in range(s.max_tries):
            cell = self.occupied[self.rng.randrange(len(self.occupied))]
            weight = self.curiosity(cell)
            if self.rng.random() < weight:
                return cell
            if weight > best_weight:
                best_cell, best_weight = cell, weight
        return best_cell

    def grid(self) -> list[dict[str, Any]]:
        """Occupied cells with their elite, for the web UI: index, program id, score, features."""
        return [
            {
                "cell": list(cell),
                "program_id": self.elites[cell][1],
                "score": self.elites[cell][0],
                "features": self.features_of[cell],
                "curiosity": self.curiosity(cell),
            }
            for cell in sorted(self.occupied)
        ]

    def state(self) -> dict[str, Any]:
        s: MapElitesSettings = self.settings  # type: ignore[assignment]
        return {
            "rng": dump_rng(self.rng),
            "features": list(s.features),
            "bins": [s.bins_of(f) for f in s.features],
            "ranges": [list(s.ranges[f]) for f in s.features],
            "cells": self.grid(),
            "unplaced": self.unplaced,
        }

    def restore(self, state: dict[str, Any]) -> None:
        if "rng" in state:
            load_rng(self.rng, state["rng"])


@hookimpl
def register_strategies(register):
    register(MapElitesStrategy)
