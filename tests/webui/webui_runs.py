"""A small run written through genesis_core's own Database API, with a genealogy the tests know.

Real runs (`genesis run` with the offline provider) are what the browser
tests open; this one has every part the UI shows in a known shape: two
islands, a crossover, a build failure with its log, a patch error without an
evaluation, LLM calls with reasoning, a UCB1 selector state and a MAP-Elites
archive.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from genesis_core.database import Database, sqlite_url
from genesis_core.results import ResultsFolder

REPO = Path(__file__).resolve().parents[2]
INITIAL = "def solve(x):\n    # EVOLVE-BLOCK-START\n    return x\n    # EVOLVE-BLOCK-END\n"


@dataclass
class Program:
    key: str
    parent: str | None
    island: int
    score: float | None
    failure: str | None = None
    second_parent: str | None = None
    model: str = "offline:a"
    evaluated: bool = True


# key, parent, island, score, failure: the tree the tests check against.
PROGRAMS = [
    Program("root", None, 0, 1.0, model="initial"),
    Program("a", "root", 0, 2.0),
    Program("b", "root", 1, 1.5, model="offline:b"),
    Program("a1", "a", 0, 3.0),
    Program("a2", "a", 0, None, failure="build_error"),
    Program("b1", "b", 1, 2.5, model="offline:b"),
    Program("x", "a1", 1, 3.5, second_parent="b1"),
    Program("p", "b1", 1, None, failure="patch_error", evaluated=False),
]


@dataclass
class SyntheticRun:
    folder: Path
    run_id: str
    ids: dict[str, int] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        return sqlite_url(self.folder / "genesis.db")


def code_of(key: str) -> str:
    return INITIAL.replace("return x", f"return x  # {key}\n    y = '{key}' * 2")


def write_run(folder: Path, run_id: str = "synthetic", *, status: str = "finished") -> SyntheticRun:
    folder.mkdir(parents=True, exist_ok=True)
    results = ResultsFolder(folder)
    results.write_run_json({"schema_version": 1, "run_id": run_id, "database_url": None, "genesis_version": "0.1.0"})
    out = SyntheticRun(folder, run_id)
    with Database(out.database_url) as db:
        db.create_run(run_id, task_name="toy", seed=0, objective="maximize", language="python", strategy="map-elites",
                      genesis_version="0.1.0", config={"llm": {"models": ["offline:a", "offline:b"], "selection": "ucb1"}})
        for seq, prog in enumerate(PROGRAMS):
            code = INITIAL if prog.key == "root" else code_of(prog.key)
            out.codes[prog.key] = code
            pid = db.add_pending(
                run_id, seq=seq, parent_id=out.ids.get(prog.parent), second_parent_id=out.ids.get(prog.second_parent),
                inspiration_ids=[], island=prog.island, generation=0 if prog.parent is None else seq, patch_kind="diff" if prog.second_parent is None else "crossover",
                model=prog.model, language="python",
            )
            out.ids[prog.key] = pid
            db.set_code(pid, code, hashlib.sha256(code.encode()).hexdigest())
            if prog.parent is not None:
                db.add_llm_call(
                    run_id, program_id=pid, purpose="proposal", model=prog.model, request_seed=seq,
                    prompt=[{"role": "system", "content": "You improve programs."}, {"role": "user", "content": f"Improve program {prog.parent}."}],
                    prompt_hash=f"h{seq}", response=f"<<<<<<< SEARCH\nreturn x\n=======\n{prog.key}\n>>>>>>> REPLACE",
                    reasoning=f"I think {prog.key} helps; no segmentation fault here.", tokens_in=100 + seq, tokens_out=50,
                    cost_usd=0.01, latency_s=0.5,
                )
            clock = time.time()
            valid = prog.failure is None
            result = {
                "score": prog.score, "correct": valid, "failure": prog.failure,
                "error": "error: expected ';'" if prog.failure == "build_error" else ("SEARCH block not found" if prog.failure else ""),
                "metrics": {"quality": prog.score} if valid else {}, "feedback": f"feedback for {prog.key}" if valid else "",
                "artifacts": {"build_log": "main.c:3: error: expected ';'"} if prog.failure == "build_error" else {},
                "timings": {},
            }
            evaluation = None
            if prog.evaluated:
                evaluation = {"backend": "local", "ok": valid, "score": prog.score, "correct": valid, "failure": prog.failure,
                              "error": result["error"], "metrics": result["metrics"], "build_seconds": 0.1, "eval_seconds": 0.2,
                              "total_seconds": 0.3, "started_at": clock - 1, "finished_at": clock}
            strategy_state = {"features": ["length", "speed"], "bins": [4, 3], "ranges": [[0, 100], [0, 1]],
                             "cells": [{"cell": [1, 2], "program_id": out.ids["root"], "score": 1.0, "features": {"length": 30, "speed": 0.9}}]}
            state = {
                "llm": {"selector": {"kind": "ucb1", "arms": {"offline:a": {"pulls": 4, "improvements": 3, "cost_usd": 0.04},
                                                               "offline:b": {"pulls": 3, "improvements": 1, "cost_usd": 0.03}}}},
            }
            db.finish_program(pid, run_id=run_id, result=result, evaluation=evaluation,
                              run_values={"state": state, "strategy_state": strategy_state})
        db.update_run(run_id, status=status, stop_reason="max_evaluations" if status == "finished" else None,
                      finished_at=clock if status == "finished" else None)
    return out


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.2, what: str = "condition") -> None:
    """Poll `predicate` until it is true (for state in another process, which sends no notification)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
