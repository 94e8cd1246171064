"""With a fixed seed, the offline provider and a deterministic evaluator, two runs make the same programs in the same order.

The evaluator sleeps a random time (from the OS's random source) before it
scores, so the two runs' timings differ: evaluations finish in different
orders, yet the programs must come out the same, with several proposals and
evaluations in flight.
"""

from __future__ import annotations

import os
import subprocess

from evolution_helpers import genesis, write_task
from genesis_core.database import Database

SETTINGS = ["-s", "run.max_proposals_in_flight=4", "-s", "run.max_evaluations_in_flight=2"]


def programs_of(results) -> list[tuple]:
    with Database(f"sqlite:///{results / 'genesis.db'}", create=False) as db:
        return [
            (r.seq, r.code_hash, r.parent_id, r.inspiration_ids, r.island, r.patch_kind, r.score, r.failure, r.duplicate_of)
            for r in db.iter_programs("task")
        ]


def run(task, results, *extra: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESIS_")}
    done = subprocess.run(genesis("run", str(task), "--results", str(results), *SETTINGS, *extra), capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr


def test_same_seed_same_programs_whatever_the_timings(tmp_path):
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 30\nseed = 11\n", jitter_s=0.08)
    run(task, tmp_path / "first")
    run(task, tmp_path / "second")
    first, second = programs_of(tmp_path / "first"), programs_of(tmp_path / "second")
    assert len(first) >= 30
    assert first == second
    run(task, tmp_path / "other-seed", "-s", "run.seed=12")
    assert [p[1] for p in programs_of(tmp_path / "other-seed")] != [p[1] for p in first]
