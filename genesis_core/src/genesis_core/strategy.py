"""The search strategy plugin interface.

A strategy keeps its own compact index of program summaries (never the code)
so that choosing a parent stays fast at 100,000 programs. The engine feeds it
every evaluated program through `add` (also when resuming, from the
database), asks it for a `Selection`, and saves `state()` with the run.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


@dataclass(slots=True)
class ProgramSummary:
    """What a strategy knows of a program: enough to rank it, not its code."""

    id: int
    score: float | None
    correct: bool
    island: int
    generation: int
    parent_id: int | None = None
    features: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Selection:
    """A strategy's choice for the next proposal.

    `island` is where the child will live. `second_parent_id` is a partner
    for crossover; the engine uses it only when it draws a crossover proposal.
    """

    parent_id: int | None
    inspiration_ids: list[int]
    island: int
    second_parent_id: int | None = None


class StrategySettings(BaseModel):
    """Settings every strategy accepts; a strategy extends it with its own."""

    model_config = ConfigDict(extra="forbid")


class Strategy(ABC):
    """Base class of strategy plugins. Scores are always 'higher is better' here:
    the engine negates them for tasks that minimise."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Settings: ClassVar[type[StrategySettings]] = StrategySettings

    def __init__(self, settings: StrategySettings | dict | None = None, *, seed: int = 0) -> None:
        if isinstance(settings, StrategySettings):
            self.settings = settings
        else:
            self.settings = self.Settings.model_validate(settings or {})
        self.seed = seed
        self.rng = random.Random(seed)

    @abstractmethod
    def add(self, program: ProgramSummary) -> None:
        """Place an evaluated program (islands, cells, archives); migrate when due."""

    @abstractmethod
    def select(self) -> Selection:
        """Choose a parent and inspirations for the next proposal."""

    def state(self) -> dict[str, Any]:
        """JSON-able state saved with the run (beyond what `add` rebuilds)."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Restore `state()` after the programs were re-added on resume."""
        return None


def can_be_parent(program: ProgramSummary) -> bool:
    """Only correct programs with a finite score are ever chosen as parents or inspirations."""
    return program.correct and program.score is not None and math.isfinite(program.score)


def dump_rng(rng: random.Random) -> list[Any]:
    """A JSON-able copy of a random generator's state, for `Strategy.state()`."""
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def load_rng(rng: random.Random, data: list[Any]) -> None:
    """Put back a state written by `dump_rng`."""
    version, internal, gauss = data
    rng.setstate((version, tuple(internal), gauss))
