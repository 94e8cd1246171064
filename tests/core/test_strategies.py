"""The built-in strategies: conformance suite, migration, FunSearch resets,
MAP-Elites cells, and the parent-selection rules measured statistically."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from genesis_core.plugins import PluginHost
from genesis_core.strategies.funsearch import FunSearchStrategy
from genesis_core.strategies.islands import IslandStrategy, power_law_rank
from genesis_core.strategies.map_elites import MapElitesStrategy
from genesis_core.strategy import ProgramSummary
from genesis_core.testing import StrategyPluginTests

GRID = {"features": ["x", "y"], "ranges": {"x": [0, 1], "y": [0, 1]}, "bins": 4}


class TestIslandsConformance(StrategyPluginTests):
    strategy_class = IslandStrategy


class TestIslandsSigmoidConformance(StrategyPluginTests):
    strategy_class = IslandStrategy
    settings = {"parent_selection": "sigmoid", "inspirations": "top_k", "topology": "random", "population_size": 500}


class TestFunSearchConformance(StrategyPluginTests):
    strategy_class = FunSearchStrategy
    settings = {"reset_interval": 40}


class TestMapElitesConformance(StrategyPluginTests):
    strategy_class = MapElitesStrategy
    settings = {**GRID, "selection": "curiosity"}


def program(pid: int, score: float | None, island: int = 0, *, parent: int | None = None, correct: bool = True, **features: float) -> ProgramSummary:
    return ProgramSummary(id=pid, score=score, correct=correct and score is not None, island=island, generation=0, parent_id=parent, features=features)


def test_builtins_are_registered_through_entry_points():
    host = PluginHost(environ={"GENESIS_LOAD_PLUGINS": ""})
    host.load_entry_points()
    assert host.get("strategies", "islands") is IslandStrategy
    assert host.get("strategies", "funsearch") is FunSearchStrategy
    assert host.get("strategies", "map-elites") is MapElitesStrategy


# -- islands -----------------------------------------------------------------------


def test_power_law_prefers_better_ranks_as_predicted():
    strategy = IslandStrategy({"num_islands": 1, "power_law_exponent": 1.0, "num_inspirations": 0}, seed=42)
    n = 100
    for pid in range(n):
        strategy.add(program(pid, float(pid)))  # program 99 is the best (rank 0)
    draws = 40_000
    counts = Counter(99 - strategy.select().parent_id for _ in range(draws))
    # The continuous inversion gives P(rank r) = ln((r + 2) / (r + 1)) / ln(n + 1).
    for rank in (0, 1, 5, 20):
        expected = math.log((rank + 2) / (rank + 1)) / math.log(n + 1) * draws
        assert abs(counts[rank] - expected) < 5 * math.sqrt(expected), (rank, counts[rank], expected)
    top_ten = sum(counts[r] for r in range(10))
    bottom_ten = sum(counts[r] for r in range(90, 100))
    assert top_ten > 10 * bottom_ten > 0


def test_power_law_exponent_sharpens_the_bias():
    rng = random.Random(0)
    mild = sum(power_law_rank(1000, 0.5, rng) == 0 for _ in range(20_000))
    steep = sum(power_law_rank(1000, 2.0, rng) == 0 for _ in range(20_000))
    assert steep > 5 * mild
    assert all(0 <= power_law_rank(n, 1.5, rng) < n for n in (1, 2, 7) for _ in range(200))


def test_hill_climb_beam_and_uniform():
    def fill(settings):
        strategy = IslandStrategy({"num_islands": 1, **settings}, seed=1)
        for pid in range(50):
            strategy.add(program(pid, float(pid)))
        return strategy

    hill = fill({"parent_selection": "hill_climb"})
    assert {hill.select().parent_id for _ in range(50)} == {49}
    beam = fill({"parent_selection": "beam", "beam_width": 3})
    assert {beam.select().parent_id for _ in range(300)} == {47, 48, 49}
    uniform = fill({"parent_selection": "uniform"})
    assert len({uniform.select().parent_id for _ in range(2000)}) == 50


def test_sigmoid_favours_high_scores_and_penalises_many_children():
    strategy = IslandStrategy({"num_islands": 1, "parent_selection": "sigmoid", "sigmoid_sharpness": 5.0, "child_penalty": 1.0}, seed=3)
    for pid in range(40):
        strategy.add(program(pid, float(pid)))
    before = Counter(strategy.select().parent_id for _ in range(20_000))
    assert sum(before[p] for p in range(30, 40)) > 5 * sum(before[p] for p in range(0, 10))
    # Program 39 gets 30 (failed) children: it must now be chosen far less often.
    for child in range(1000, 1030):
        strategy.add(program(child, None, parent=39))
    after = Counter(strategy.select().parent_id for _ in range(20_000))
    assert after[39] < before[39] / 5
    assert after[38] > before[38]


def test_failed_children_count_but_failed_programs_never_enter_islands():
    strategy = IslandStrategy({"num_islands": 2}, seed=0)
    strategy.add(program(0, 1.0))
    strategy.add(program(1, None, parent=0))
    strategy.add(program(2, float("nan"), parent=0))
    strategy.add(program(3, 5.0, correct=False, parent=0))
    assert strategy.children[0] == 3
    assert sum(len(i) for i in strategy.islands) == 1


def test_empty_islands_are_seeded_from_the_best_program():
    strategy = IslandStrategy({"num_islands": 3, "migration_interval": 0}, seed=0)
    assert strategy.select().parent_id is None
    strategy.add(program(0, 1.0, island=0))
    picks = [strategy.select() for _ in range(3)]
    assert [s.island for s in picks] == [1, 2, 0]  # round robin continues after the first call
    assert {s.parent_id for s in picks} == {0}


def test_ring_migration_moves_best_non_elites_and_keeps_the_elite():
    strategy = IslandStrategy(
        {"num_islands": 3, "migration_interval": 10, "migration_rate": 0.2, "max_migrants": 2, "elitism": 1, "topology": "ring"}, seed=0
    )
    for pid in range(9):  # nine programs on island 0: scores 0..8
        strategy.add(program(pid, float(pid), island=0))
    assert [len(i) for i in strategy.islands] == [9, 0, 0]
    strategy.add(program(9, 100.0, island=2))  # the tenth evaluation triggers migration
    island0 = [pid for _, pid in strategy.islands[0]]
    island1 = [pid for _, pid in strategy.islands[1]]
    # Island 0 keeps its best (8) and sends the next two best (7, 6) to island 1.
    assert 8 in island0 and 7 not in island0 and 6 not in island0
    assert island1 == [6, 7]
    # Island 2 (one program, its elite) sends nothing.
    assert [pid for _, pid in strategy.islands[2]] == [9]
    assert strategy.migrations == 1


def test_random_topology_never_sends_to_itself_and_is_reproducible():
    def run(seed):
        strategy = IslandStrategy({"num_islands": 5, "migration_interval": 25, "topology": "random", "elitism": 0, "migration_rate": 0.5}, seed=seed)
        for pid in range(100):
            strategy.add(program(pid, float(pid % 17), island=pid % 5))
        return [sorted(pid for _, pid in island) for island in strategy.islands]

    assert run(4) == run(4)
    assert sum(len(i) for i in run(4)) == 100  # migrants move, nothing is lost or copied


def test_population_size_evicts_the_worst():
    strategy = IslandStrategy({"num_islands": 1, "population_size": 5}, seed=0)
    for pid, score in enumerate([5, 1, 9, 3, 7, 2, 8, 0]):
        strategy.add(program(pid, float(score)))
    assert sorted(score for score, _ in strategy.islands[0]) == [3, 5, 7, 8, 9]


def test_inspirations_elite_and_top_k():
    elite = IslandStrategy({"num_islands": 2, "archive_size": 4, "num_inspirations": 3, "migration_interval": 0}, seed=0)
    for pid in range(20):
        elite.add(program(pid, float(pid), island=pid % 2))
    for _ in range(50):
        selection = elite.select()
        assert set(selection.inspiration_ids) <= {16, 17, 18, 19}
        assert len(selection.inspiration_ids) == 3 and selection.parent_id not in selection.inspiration_ids
        assert selection.second_parent_id in {16, 17, 18, 19} - {selection.parent_id}

    top_k = IslandStrategy({"num_islands": 2, "inspirations": "top_k", "num_inspirations": 2, "parent_selection": "hill_climb", "migration_interval": 0}, seed=0)
    for pid in range(20):
        top_k.add(program(pid, float(pid), island=pid % 2))
    first, second = top_k.select(), top_k.select()
    assert (first.island, first.parent_id, first.inspiration_ids) == (0, 18, [16, 14])
    assert (second.island, second.parent_id, second.inspiration_ids) == (1, 19, [17, 15])


# -- FunSearch ---------------------------------------------------------------------


def test_funsearch_resets_worst_half_from_the_best_islands():
    strategy = FunSearchStrategy({"num_islands": 4, "reset_interval": 8}, seed=0)
    # Island bests: 0 -> 10, 1 -> 40, 2 -> 20, 3 -> 30.
    scores = {0: [10, 1], 1: [40, 2], 2: [20, 3], 3: [30, 4]}
    pid = 0
    for island, values in scores.items():
        for value in values:
            strategy.add(program(pid, float(value), island=island))
            pid += 1
    # The eighth evaluation reset islands 0 and 2 (the worst two).
    assert strategy.resets == 1
    bests = {i: [(s, p) for s, p in isl] for i, isl in enumerate(strategy.islands)}
    assert bests[1] == [(2.0, 3), (40.0, 2)] and bests[3] == [(4.0, 7), (30.0, 6)]
    # Reset islands hold only one founder each: the best programs of the best islands.
    assert sorted([bests[0], bests[2]]) == [[(30.0, 6)], [(40.0, 2)]]


def test_funsearch_reset_keeps_islands_selectable():
    strategy = FunSearchStrategy({"num_islands": 6, "reset_interval": 30}, seed=5)
    rng = random.Random(5)
    for step in range(300):
        selection = strategy.select()
        strategy.add(program(step, rng.random(), island=selection.island, parent=selection.parent_id))
    assert strategy.resets == 10
    assert all(len(island) > 0 for island in strategy.islands)


# -- MAP-Elites -----------------------------------------------------------------------


def test_map_elites_places_one_elite_per_cell():
    strategy = MapElitesStrategy(GRID, seed=0)
    strategy.add(program(1, 1.0, x=0.1, y=0.1))
    strategy.add(program(2, 2.0, x=0.2, y=0.05))  # same cell (0, 0), better: replaces
    strategy.add(program(3, 0.5, x=0.15, y=0.2))  # same cell, worse: ignored
    strategy.add(program(4, 3.0, x=0.9, y=0.6))  # cell (3, 2)
    strategy.add(program(5, 9.0, x=5.0, y=-1.0))  # outside the ranges: clamped to (3, 0)
    strategy.add(program(6, 9.0, x=0.5))  # no 'y': counted, not placed
    strategy.add(program(7, None, x=0.5, y=0.5))  # failed: never placed
    grid = {tuple(c["cell"]): (c["program_id"], c["score"]) for c in strategy.grid()}
    assert grid == {(0, 0): (2, 2.0), (3, 2): (4, 3.0), (3, 0): (5, 9.0)}
    state = strategy.state()
    assert state["features"] == ["x", "y"] and state["bins"] == [4, 4] and state["unplaced"] == 1
    assert {c["program_id"] for c in state["cells"]} == {2, 4, 5}
    parents = {strategy.select().parent_id for _ in range(200)}
    assert parents == {2, 4, 5}


def test_map_elites_without_feature_values_uses_the_best_program():
    strategy = MapElitesStrategy(GRID, seed=0)
    strategy.add(program(1, 1.0))
    strategy.add(program(2, 4.0))
    assert strategy.select().parent_id == 2


def test_map_elites_curiosity_prefers_productive_cells():
    strategy = MapElitesStrategy({**GRID, "selection": "curiosity"}, seed=0)
    strategy.add(program(1, 1.0, x=0.1, y=0.1))  # cell (0, 0)
    strategy.add(program(2, 1.0, x=0.9, y=0.9))  # cell (3, 3)
    for child in range(100, 120):  # children of 1 never earn a place
        strategy.add(program(child, 0.0, parent=1, x=0.1, y=0.1))
    counts = Counter(strategy.select().parent_id for _ in range(5000))
    assert counts[2] > 5 * counts[1]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "needs at least one feature"),
        ({"features": ["x"]}, "missing for \\['x'\\]"),
        ({"features": ["x"], "ranges": {"x": [1, 1]}}, "high > low"),
        ({"features": ["x"], "ranges": {"x": [0, 1]}, "bins": {"z": 3}}, "not in features"),
    ],
)
def test_map_elites_settings_errors_say_what_to_do(settings, message):
    with pytest.raises(ValueError, match=message):
        MapElitesStrategy(settings)


def test_adding_the_same_program_twice_changes_nothing():
    strategy = IslandStrategy({"num_islands": 1}, seed=0)
    strategy.add(program(1, 1.0, parent=None))
    strategy.add(program(1, 1.0, parent=None))
    assert strategy.evaluations == 1 and len(strategy.islands[0]) == 1 and len(strategy.archive) == 1
    selection = strategy.select()
    assert selection.parent_id == 1 and selection.second_parent_id is None
