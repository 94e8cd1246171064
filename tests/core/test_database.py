"""The program database, against SQLite and a real PostgreSQL server alike."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from genesis_core.database import (
    SCHEMA_VERSION,
    Database,
    IncompatibleDatabase,
    meta_table,
    prompt_text,
)


def make_run(db: Database, run_id: str, objective: str = "maximize") -> None:
    db.create_run(run_id, task_name="t", seed=0, objective=objective, language="python", strategy="islands",
                  genesis_version="0.1.0", config={"run": {"max_evaluations": 10}})


def add_done(db: Database, run_id: str, seq: int, *, score: float | None, correct: bool = True, failure: str | None = None,
             parent_id: int | None = None, error: str = "", evaluated: bool = True) -> int:
    pid = db.add_pending(run_id, seq=seq, parent_id=parent_id, second_parent_id=None, inspiration_ids=[], island=seq % 2,
                         generation=1 if parent_id else 0, patch_kind="diff", model="offline:random-edits", language="python")
    db.set_code(pid, f"x = {seq}\n", f"hash{seq}")
    evaluation = None
    if evaluated:
        evaluation = {"backend": "local", "ok": failure is None, "score": score, "correct": correct, "failure": failure,
                      "error": error, "metrics": {"m": 1.0}, "build_seconds": 0.0, "eval_seconds": 0.1, "total_seconds": 0.1,
                      "started_at": 1.0, "finished_at": 2.0}
    db.finish_program(pid, run_id=run_id, result={"score": score, "correct": correct, "failure": failure, "error": error,
                                                   "metrics": {"m": 1.0}, "feedback": "ok", "artifacts": {}, "timings": {}},
                      evaluation=evaluation, run_values={"state": {"seq": seq}})
    return pid


def test_schema_is_created_once_and_versioned(database_url):
    with Database(database_url) as db:
        with db.connection() as conn:
            version = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")).scalar()
        assert int(version) == SCHEMA_VERSION
    with Database(database_url) as again:  # reopening an existing database is fine
        assert again.list_runs() == []


def test_a_database_of_another_schema_version_is_refused(database_url):
    with Database(database_url) as db, db.engine.begin() as conn:
        conn.execute(meta_table.update().values(value=str(SCHEMA_VERSION + 1)))
    with pytest.raises(IncompatibleDatabase) as info:
        Database(database_url)
    message = str(info.value)
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert "another version of Genesis" in message


def test_tables_not_written_by_genesis_are_refused(database_url):
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE programs (id INTEGER PRIMARY KEY, body TEXT)"))
    engine.dispose()
    with pytest.raises(IncompatibleDatabase, match="no Genesis schema version"):
        Database(database_url)


def test_program_lifecycle_is_atomic_and_settles_once(database_url):
    with Database(database_url) as db:
        make_run(db, "r")
        pid = db.add_pending("r", seq=0, parent_id=None, second_parent_id=None, inspiration_ids=[], island=0, generation=0,
                             patch_kind="initial", model=None, language="python")
        assert [p.id for p in db.pending_programs("r")] == [pid]
        assert list(db.iter_summaries("r")) == []  # pending programs are not summarised
        db.set_code(pid, "print(1)\n", "h0")
        evaluation = {"backend": "local", "ok": True, "score": 2.5, "correct": True, "failure": None, "error": "", "metrics": {},
                      "build_seconds": 0.0, "eval_seconds": 0.5, "total_seconds": 0.5, "started_at": 1.0, "finished_at": 1.5}
        db.finish_program(pid, run_id="r", result={"score": 2.5, "correct": True, "failure": None}, evaluation=evaluation,
                          run_values={"strategy_state": {"x": 1}, "wall_seconds": 3.0})
        with pytest.raises(RuntimeError, match="already settled"):
            db.finish_program(pid, run_id="r", result={"score": 9.0}, evaluation=evaluation, run_values={"strategy_state": {"x": 2}})
        record = db.get_program(pid)
        assert record.status == "done" and record.score == 2.5 and record.code == "print(1)\n"
        assert len(db.evaluations_of(pid)) == 1  # the failed second settle added nothing
        run = db.get_run("r")
        assert run.strategy_state == {"x": 1} and run.wall_seconds == 3.0
        assert db.pending_programs("r") == []


def test_runs_sharing_a_database_do_not_see_each_other(database_url):
    with Database(database_url) as db:
        make_run(db, "a")
        make_run(db, "b", objective="minimize")
        for seq in range(4):
            add_done(db, "a", seq, score=float(seq))
        for seq in range(3):
            add_done(db, "b", seq, score=10.0 + seq)
        db.add_llm_call("a", program_id=None, purpose="proposal", model="m", request_seed=1, prompt="[]", prompt_hash="h",
                        response="x", cost_usd=0.25)
        assert [s.seq for s in db.iter_summaries("a")] == [0, 1, 2, 3]
        assert [s.seq for s in db.iter_summaries("b")] == [0, 1, 2]
        assert db.best_program("a", "maximize").score == 3.0
        assert db.best_program("b", "minimize").score == 10.0
        assert db.totals("a").evaluations == 4 and db.totals("b").evaluations == 3
        assert db.totals("a").cost_usd == 0.25 and db.totals("b").cost_usd == 0.0
        assert db.max_seq("b") == 2
        other = db.iter_summaries("b")
        ids_b = {s.id for s in other}
        assert all(db.get_program(i, "a") is None for i in ids_b)


def test_summaries_stream_in_order_without_code(database_url):
    with Database(database_url) as db:
        make_run(db, "r")
        for seq in range(11):
            add_done(db, "r", seq, score=float(seq))
        rows = list(db.iter_summaries("r", batch=3))
        assert [r.seq for r in rows] == list(range(11))
        assert not hasattr(rows[0], "code")
        assert rows[5].score == 5.0 and rows[5].metrics == {"m": 1.0}


def test_best_ignores_failed_and_incorrect_programs(database_url):
    with Database(database_url) as db:
        make_run(db, "r")
        add_done(db, "r", 0, score=1.0)
        add_done(db, "r", 1, score=50.0, correct=False)
        add_done(db, "r", 2, score=60.0, failure="crash", error="boom")
        add_done(db, "r", 3, score=None, failure="duplicate", evaluated=False)
        add_done(db, "r", 4, score=2.0)
        best = db.best_program("r", "maximize")
        assert best.seq == 4
        totals = db.totals("r")
        assert totals.valid == 2 and totals.evaluations == 4 and totals.programs == 5
        assert totals.failures == {"crash": 1, "duplicate": 1}


def test_child_errors_only_count_children_before_a_proposal(database_url):
    with Database(database_url) as db:
        make_run(db, "r")
        parent = add_done(db, "r", 0, score=1.0)
        add_done(db, "r", 1, score=None, failure="crash", error="first", parent_id=parent)
        add_done(db, "r", 2, score=None, failure="duplicate", error="dup", parent_id=parent, evaluated=False)
        add_done(db, "r", 3, score=None, failure="build_error", error="second", parent_id=parent)
        add_done(db, "r", 4, score=None, failure="timeout", error="third", parent_id=parent)
        assert db.child_errors("r", parent, before_seq=4) == ["crash: first", "build_error: second"]
        assert db.child_errors("r", parent, before_seq=10, limit=2) == ["build_error: second", "timeout: third"]


def test_llm_calls_keep_their_order_and_content(database_url):
    with Database(database_url) as db:
        make_run(db, "r")
        for i in range(5):
            db.add_llm_call("r", program_id=None, purpose="proposal", model="openai:m", request_seed=i,
                            prompt=prompt_text([{"role": "user", "content": f"q{i}"}]), prompt_hash=f"h{i}", response=f"a{i}",
                            reasoning="thought" if i == 2 else "", tokens_in=10, tokens_out=5, cost_usd=0.01)
        calls = list(db.iter_llm_calls("r", batch=2))
        assert [c.response for c in calls] == ["a0", "a1", "a2", "a3", "a4"]
        assert calls[2].reasoning == "thought" and calls[4].prompt == [{"role": "user", "content": "q4"}]
        totals = db.totals("r")
        assert totals.llm_calls == 5 and totals.tokens_in == 50 and round(totals.cost_usd, 6) == 0.05
