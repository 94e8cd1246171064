"""FunSearch-style islands: periodically the worst half of the islands start over.

Every `reset_interval` evaluations the islands are ranked by their best
score; the worst half (rounded down) are emptied and each is reseeded with
the best program of one of the better islands (taken in turn, best island
first), as in FunSearch (Romera-Paredes et al., 2023). Everything else (parent
selection, inspirations, optional migration) is the island model's.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sortedcontainers import SortedList

from genesis_core.hookspecs import hookimpl
from genesis_core.strategies.islands import IslandSettings, IslandStrategy


class FunSearchSettings(IslandSettings):
    num_islands: int = Field(10, ge=2, description="Number of islands; the worst half is reset periodically.")
    migration_interval: int = Field(0, ge=0, description="Evaluations between migrations; FunSearch itself has none (0).")
    reset_interval: int = Field(100, ge=1, description="Evaluations between resets of the worst half of the islands.")


class FunSearchStrategy(IslandStrategy):
    """Islands whose worst half is periodically reseeded from the best islands."""

    name = "funsearch"
    description = "FunSearch islands: the worst half is periodically reseeded from the best programs of the best islands"
    Settings = FunSearchSettings

    def __init__(self, settings: FunSearchSettings | dict | None = None, *, seed: int = 0) -> None:
        super().__init__(settings, seed=seed)
        self.resets = 0

    def _after_add(self) -> None:
        super()._after_add()
        if self.evaluations % self.settings.reset_interval == 0:  # type: ignore[attr-defined]
            self.reset_worst_half()

    def reset_worst_half(self) -> list[int]:
        """Empty the worst half of the islands and reseed them; returns the reset islands' indexes."""
        if not any(self.islands):
            return []
        self.resets += 1

        def best(index: int) -> float:
            population = self.islands[index]
            return population[-1][0] if population else float("-inf")

        # Best island first; ties broken by index so that the order is reproducible.
        ranked = sorted(range(len(self.islands)), key=lambda i: (-best(i), i))
        half = len(ranked) // 2
        survivors = [i for i in ranked[: len(ranked) - half] if self.islands[i]]
        reset = sorted(ranked[len(ranked) - half:])
        for turn, index in enumerate(reset):
            donor = self.islands[survivors[turn % len(survivors)]]
            founder = donor[-1]
            self.islands[index] = SortedList([founder])
        return reset

    def state(self) -> dict[str, Any]:
        return {**super().state(), "resets": self.resets}


@hookimpl
def register_strategies(register):
    register(FunSearchStrategy)
