"""Kill `genesis run` with SIGKILL at random points, many times, then let the same command finish the run.

The database must then hold exactly the programs that were evaluated, each
once: no unfinished program, one evaluation row per evaluated program, no
code evaluated twice, every evaluated program really seen by the evaluator,
and the budget met exactly. The same test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from evolution_helpers import assert_consistent, genesis, write_task
from genesis_core.database import Database

pytestmark = pytest.mark.slow

BUDGET = 30


def events_count(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            return handle.read().count(b"\n")
    except FileNotFoundError:
        return 0


def kill_at_a_random_point(argv: list[str], env: dict[str, str], events: Path, rng: random.Random) -> int | None:
    """Start the command; SIGKILL it once the events file grew by a random number of lines (or it ended)."""
    grow = rng.choice([0, 1, 2, 3, 5, 8, 13, 21, 34])
    start = events_count(events)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    if grow == 0:  # somewhere during start-up
        time.sleep(rng.uniform(0.2, 2.5))
    else:
        while proc.poll() is None and events_count(events) < start + grow and time.monotonic() < deadline:
            time.sleep(0.005)
    if proc.poll() is not None:
        stderr = proc.stderr.read().decode()
        proc.stderr.close()
        assert proc.returncode == 0, stderr
        return proc.returncode
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    return None


@pytest.mark.parametrize("kills", [10])
def test_sigkill_at_random_points_then_resume(tmp_path, database_url, kills):
    task = write_task(tmp_path / "task", toml=f"[run]\nmax_evaluations = {BUDGET}\nseed = 5\n", jitter_s=0.1)
    results = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESIS_")}
    argv = genesis("run", str(task), "--results", str(results), "-s", f"run.database_url={database_url}",
                   "-s", "run.max_proposals_in_flight=3")
    rng = random.Random(20240611)
    finished_early = False
    for _ in range(kills):
        if kill_at_a_random_point(argv, env, results / "events.jsonl", rng) == 0:
            finished_early = True
            break
    final = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    assert "Traceback" not in final.stderr

    with Database(database_url, create=False) as db:
        assert_consistent(db, "task")
        totals = db.totals("task")
        assert totals.evaluations == BUDGET
        rows = list(db.iter_programs("task"))
        evaluated = [r for r in rows if db.evaluations_of(r.id)]
        run = db.get_run("task")
    assert run.status == "finished" and run.stop_reason == "max_evaluations"
    hashes = [r.code_hash for r in evaluated]
    assert len(hashes) == len(set(hashes)), "the same code was evaluated twice"
    seen_by_evaluator = (task / "evaluated.log").read_text().split()
    assert set(hashes) <= set(seen_by_evaluator)  # nothing in the database that the evaluator never scored
    assert len(seen_by_evaluator) >= BUDGET
    assert not finished_early or kills == 0
    # The resumed sessions are visible in the story, and the run's events are all readable JSON.
    from genesis_core.events import read_events

    events = read_events(results / "events.jsonl")
    resumed = [e for e in events if e["kind"] == "run_resumed"]
    assert len(resumed) >= kills // 2
    assert any(e["pending"] for e in resumed), "no kill hit a proposal in flight"
    assert any(e["kind"] == "run_stopped" for e in events)
