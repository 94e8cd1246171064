"""Choosing which model proposes next: fixed weights, or a bandit that learns.

The bandits (UCB1, Thompson sampling) learn which model yields improvements
per unit of cost. Each model keeps three numbers: calls whose outcome is
known, how many of them improved on their parent, and what they cost. A
model's value is its improvement rate divided by its cost per call relative
to the cheapest model's (models without a cost count as equally cheap), so a
model that improves half as often at a tenth of the price wins.

The state is plain JSON, saved with the run and restored on resume.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

# Costs below this (USD per call) count as this, so that free models do not divide by zero.
_MIN_COST = 1e-9


@dataclass
class Arm:
    """What a bandit knows of one model."""

    pulls: int = 0
    improvements: int = 0
    cost_usd: float = 0.0

    @property
    def rate(self) -> float:
        return self.improvements / self.pulls if self.pulls else 0.0

    @property
    def cost_per_call(self) -> float:
        return self.cost_usd / self.pulls if self.pulls else 0.0


class ModelSelector(ABC):
    """Picks the model string of the next call and learns from outcomes."""

    kind: str

    def __init__(self, weights: Mapping[str, float], rng: random.Random) -> None:
        if not weights:
            raise ValueError("a model selector needs at least one model")
        self.weights = dict(weights)
        self.models = list(weights)
        self.rng = rng
        self.arms = {m: Arm() for m in self.models}

    @abstractmethod
    def choose(self) -> str:
        """The model for the next call."""

    def update(self, model: str, improved: bool, cost_usd: float) -> None:
        """Learn from one finished proposal of `model`."""
        arm = self.arms.setdefault(model, Arm())
        arm.pulls += 1
        arm.improvements += int(bool(improved))
        arm.cost_usd += max(0.0, cost_usd)

    def relative_costs(self) -> dict[str, float]:
        """Each model's cost per call divided by the cheapest known one (1.0 when costs are unknown)."""
        costs = {m: self.arms[m].cost_per_call for m in self.models}
        known = [c for m, c in costs.items() if self.arms[m].pulls and c > 0]
        if not known:
            return {m: 1.0 for m in self.models}
        cheapest = min(known)
        return {m: max(c, _MIN_COST) / cheapest if self.arms[m].pulls and c > 0 else 1.0 for m, c in costs.items()}

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "arms": {m: asdict(a) for m, a in self.arms.items()}}

    def restore(self, state: Mapping[str, Any]) -> None:
        for model, arm in (state.get("arms") or {}).items():
            self.arms[model] = Arm(int(arm["pulls"]), int(arm["improvements"]), float(arm["cost_usd"]))

    def _weighted(self, weights: Mapping[str, float]) -> str:
        models = list(weights)
        return self.rng.choices(models, weights=[weights[m] for m in models], k=1)[0]


class FixedWeights(ModelSelector):
    """Each call picks a model with probability proportional to its configured weight."""

    kind = "fixed"

    def choose(self) -> str:
        return self._weighted(self.weights)


class UCB1(ModelSelector):
    """Upper confidence bound: value plus an exploration bonus that shrinks with a model's calls."""

    kind = "ucb1"

    def choose(self) -> str:
        untried = [m for m in self.models if self.arms[m].pulls == 0]
        if untried:
            return self.rng.choice(untried)
        values = self._values()
        total = sum(self.arms[m].pulls for m in self.models)
        scores = {m: values[m] + math.sqrt(2 * math.log(total) / self.arms[m].pulls) for m in self.models}
        best = max(scores.values())
        return self.rng.choice([m for m, s in scores.items() if s == best])

    def _values(self) -> dict[str, float]:
        """Improvements per unit of cost, scaled so the best model is 1 (UCB1 wants rewards in [0, 1])."""
        relative = self.relative_costs()
        raw = {m: self.arms[m].rate / relative[m] for m in self.models}
        top = max(raw.values())
        return {m: v / top if top > 0 else 0.0 for m, v in raw.items()}


class Thompson(ModelSelector):
    """Thompson sampling: draw each model's improvement rate from its Beta posterior, divide by its cost."""

    kind = "thompson"

    def choose(self) -> str:
        relative = self.relative_costs()
        draws = {}
        for model in self.models:
            arm = self.arms[model]
            draws[model] = self.rng.betavariate(1 + arm.improvements, 1 + arm.pulls - arm.improvements) / relative[model]
        return max(draws, key=lambda m: draws[m])


SELECTORS: dict[str, type[ModelSelector]] = {cls.kind: cls for cls in (FixedWeights, UCB1, Thompson)}


def make_selector(kind: str, weights: Mapping[str, float], rng: random.Random) -> ModelSelector:
    """The selector named in `[llm] selection`."""
    return SELECTORS[kind](weights, rng)
