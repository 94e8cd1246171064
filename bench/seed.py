"""Filling a run's database with N finished programs, directly through the tables of database.py.

Evolving 100,000 programs through the engine would take hours of mock calls;
what the engine's per-candidate cost depends on is what the database and the
engine's indexes hold, so the benchmark writes that directly: the run row
(with the configuration the engine will resume with), N programs with their
code, lineage, island, score or failure, and one evaluation row each. The
engine then resumes the run as it would after a long session.

Not seeded: LLM-call rows (the engine reads them only as per-model totals
when it starts) and stored embeddings (the engine recomputes the few hundred
it needs for the novelty check when it starts).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from genesis_core.config import load_config
from genesis_core.database import Database, evaluations, programs, sqlite_url
from genesis_core.patches import code_hash

import genesis_core
from bench.task import RUN_ID, initial_program, program

BATCH = 5000
VALID_FRACTION = 0.85  # the rest failed in evaluation, with an error text the prompts may show
ERROR_TEXT = (
    "evaluator_error: Traceback (most recent call last):\n  File \"evaluate.py\", line 5, in evaluate\n"
    "    value = candidate.call(\"solve\", 0.5, timeout=10)\nValueError: math domain error"
)


def seed_database(task_dir: Path, results_dir: Path, count: int, *, seed: int = 7) -> float:
    """Write `count` finished programs of the task's run into `results_dir/genesis.db`; returns the seconds it took."""
    started = time.perf_counter()
    config = load_config(task_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    db = Database(sqlite_url(results_dir / "genesis.db"))
    try:
        db.create_run(
            RUN_ID, task_name=config.task.name, seed=config.run.seed, objective=config.task.objective,
            language=config.task.language, strategy=config.strategy.name, genesis_version=genesis_core.__version__,
            config=config.model_dump(mode="json"),
        )
        rng = random.Random(seed)
        islands = 4
        generations: list[int] = []
        valid_ids: list[int] = []
        now = time.time()
        for start in range(0, count, BATCH):
            program_rows = []
            evaluation_rows = []
            for seq in range(start, min(count, start + BATCH)):
                program_id = seq + 1  # ids follow insertion order in a fresh table
                if seq == 0:
                    code, parent, generation, kind = initial_program(), None, 0, "initial"
                else:
                    code = program(rng)
                    parent = valid_ids[int(len(valid_ids) * rng.random() ** 0.3)] if valid_ids else 1
                    generation, kind = generations[parent - 1] + 1, rng.choice(("diff", "diff", "diff", "rewrite"))
                generations.append(generation)
                valid = seq == 0 or rng.random() < VALID_FRACTION
                score = rng.uniform(0.0, 10.0) if valid else None
                if valid:
                    valid_ids.append(program_id)
                failure = None if valid else "evaluator_error"
                error = "" if valid else ERROR_TEXT
                metrics = {"value": score} if valid else {}
                timings = {"build_seconds": 0.0, "eval_seconds": 0.004, "total_seconds": 0.006, "llm_seconds": 0.9}
                program_rows.append(dict(
                    id=program_id, run_id=RUN_ID, seq=seq, status="done", code=code, code_hash=code_hash(code),
                    parent_id=parent, second_parent_id=None, inspiration_ids=[], island=seq % islands,
                    generation=generation, patch_kind=kind, model=None if seq == 0 else "mock:bench-model",
                    language="python", score=score, correct=valid, failure=failure, error=error, metrics=metrics,
                    feedback="", artifacts={}, timings=timings, embedding=None, duplicate_of=None,
                    created_at=now, finished_at=now,
                ))
                evaluation_rows.append(dict(
                    run_id=RUN_ID, program_id=program_id, backend="local", ok=valid, score=score, correct=valid,
                    failure=failure, error=error, metrics=metrics, build_seconds=0.0, eval_seconds=0.004,
                    total_seconds=0.006, started_at=now, finished_at=now,
                ))
            with db.engine.begin() as conn:
                conn.execute(programs.insert(), program_rows)
                conn.execute(evaluations.insert(), evaluation_rows)
    finally:
        db.close()
    return time.perf_counter() - started
