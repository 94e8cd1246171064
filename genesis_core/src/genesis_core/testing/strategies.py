"""The conformance suite for strategy plugins.

Subclass it in your tests and name your class (and settings, when the
defaults are not valid for it)::

    from genesis_core.testing import StrategyPluginTests

    class TestMyStrategy(StrategyPluginTests):
        strategy_class = MyStrategy
        settings = {"beam_width": 3}

Every summary the suite feeds carries two features, `x` and `y`, uniform in
[0, 1), so that strategies over evaluator features (MAP-Elites) can be tested
with `settings = {"features": ["x", "y"], "ranges": {"x": [0, 1], "y": [0, 1]}}`.
"""

from __future__ import annotations

import json
import random
import tracemalloc
from typing import Any, ClassVar

import pytest

from genesis_core.registry import KINDS, Registry, Source
from genesis_core.strategy import ProgramSummary, Selection, Strategy, StrategySettings


class StrategyPluginTests:
    """Tests every strategy plugin must pass."""

    strategy_class: ClassVar[type[Strategy]]
    settings: ClassVar[dict[str, Any]] = {}
    # Memory allowed for 100,000 added summaries (the strategy keeps no code).
    scale_programs: ClassVar[int] = 100_000
    scale_memory_bytes: ClassVar[int] = 100 * 1024 * 1024

    # -- helpers ------------------------------------------------------------------

    def make(self, seed: int = 0) -> Strategy:
        return self.strategy_class(dict(self.settings), seed=seed)

    @staticmethod
    def summary(program_id: int, rng: random.Random, *, failed: bool = False, parent_id: int | None = None, island: int = 0) -> ProgramSummary:
        return ProgramSummary(
            id=program_id,
            score=None if failed else rng.random(),
            correct=not failed,
            island=island,
            generation=program_id,
            parent_id=parent_id,
            features={"x": rng.random(), "y": rng.random()},
        )

    def run_loop(self, strategy: Strategy, steps: int, rng: random.Random, *, first_id: int = 0, fail_every: int = 4) -> list[Selection]:
        """The engine's loop in miniature: select, then add the child (some children fail)."""
        selections = []
        for step in range(steps):
            selection = strategy.select()
            selections.append(selection)
            program_id = first_id + step
            failed = fail_every > 0 and step % fail_every == fail_every - 1
            strategy.add(self.summary(program_id, rng, failed=failed, parent_id=selection.parent_id, island=selection.island))
        return selections

    # -- the contract ---------------------------------------------------------------

    def test_registration_is_valid(self):
        registry = Registry()
        registry.add(KINDS["strategies"], self.strategy_class, Source("conformance-test", "test"))
        assert registry.get("strategies", self.strategy_class.name) is self.strategy_class
        assert issubclass(self.strategy_class.Settings, StrategySettings)
        # The settings the suite uses validate, and unknown keys are refused.
        self.strategy_class.Settings.model_validate(self.settings)
        with pytest.raises(Exception):  # noqa: B017 - pydantic's ValidationError; any refusal will do
            self.strategy_class.Settings.model_validate({**self.settings, "no_such_setting_xyz": 1})

    def test_select_before_any_program_has_no_parent(self):
        selection = self.make().select()
        assert isinstance(selection, Selection)
        assert selection.parent_id is None
        assert selection.inspiration_ids == []

    def test_only_failed_programs_give_no_parent(self):
        strategy = self.make()
        rng = random.Random(1)
        for i in range(5):
            strategy.add(self.summary(i, rng, failed=True))
        assert strategy.select().parent_id is None

    def test_failed_programs_are_never_chosen(self):
        strategy = self.make(seed=3)
        rng = random.Random(3)
        failed: set[int] = set()
        for i in range(300):
            is_failed = i % 3 == 1
            if is_failed:
                failed.add(i)
            strategy.add(self.summary(i, rng, failed=is_failed, parent_id=i - 1 if i else None, island=i))
        for _ in range(300):
            selection = strategy.select()
            chosen = {selection.parent_id, *selection.inspiration_ids}
            if selection.second_parent_id is not None:
                chosen.add(selection.second_parent_id)
            assert selection.parent_id is not None
            assert not chosen & failed, f"{self.strategy_class.name} chose failed programs {chosen & failed}"
            assert selection.parent_id not in selection.inspiration_ids
            assert selection.second_parent_id != selection.parent_id

    def test_same_seed_same_choices(self):
        first = self.run_loop(self.make(seed=7), 200, random.Random(5))
        second = self.run_loop(self.make(seed=7), 200, random.Random(5))
        assert first == second

    def test_state_round_trip_on_resume(self):
        """Re-adding the programs in order and restoring state() continues exactly where the run stopped."""
        original = self.make(seed=11)
        rng = random.Random(11)
        added: list[ProgramSummary] = []
        for step in range(150):
            selection = original.select()
            program = self.summary(step, rng, failed=step % 5 == 4, parent_id=selection.parent_id, island=selection.island)
            original.add(program)
            added.append(program)
        saved = json.loads(json.dumps(original.state()))

        resumed = self.make(seed=11)
        for program in added:
            resumed.add(program)
        resumed.restore(saved)
        assert json.loads(json.dumps(resumed.state())) == saved
        assert self.run_loop(resumed, 50, random.Random(2), first_id=1000) == self.run_loop(original, 50, random.Random(2), first_id=1000)

    def test_scale_100k_programs(self):
        """Adding 100,000 summaries works within bounded memory, and selecting still works."""
        strategy = self.make(seed=1)
        rng = random.Random(1)
        tracemalloc.start()
        try:
            for i in range(self.scale_programs):
                strategy.add(self.summary(i, rng, failed=i % 10 == 9, parent_id=i // 2 if i else None, island=i))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < self.scale_memory_bytes, f"{peak / 2**20:.0f} MiB for {self.scale_programs} summaries"
        for step in range(1000):
            selection = strategy.select()
            assert selection.parent_id is not None
            assert selection.parent_id >= self.scale_programs or selection.parent_id % 10 != 9, "chose a failed program"
            strategy.add(self.summary(self.scale_programs + step, rng, parent_id=selection.parent_id, island=selection.island))
