"""The evolution engine end to end: real local backend, real Python language, offline provider or a loopback LLM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from evolution_helpers import (
    META_ANSWER,
    assert_consistent,
    genesis,
    last_user,
    mock_model_settings,
    run_engine,
    scripted_answer,
    set_variable,
    write_task,
)
from genesis_core.config import load_config
from genesis_core.database import Database
from genesis_core.errors import ConfigError
from genesis_core.events import read_events
from genesis_core.llm_client import LLMClient
from genesis_core.plugins import get_host
from genesis_core.testing.mock_llm import MockLLMServer, Reply

FAST = ["run.max_proposals_in_flight=3", "run.max_evaluations_in_flight=2"]


def open_db(results: Path) -> Database:
    return Database(f"sqlite:///{results / 'genesis.db'}", create=False)


def test_offline_run_improves_and_keeps_a_complete_record(tmp_path):
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 25\nseed = 3\n")
    results = tmp_path / "results"
    stats = run_engine(task, results, FAST)

    assert stats.stop_reason == "max_evaluations" and stats.evaluations == 25
    with open_db(results) as db:
        rows = list(db.iter_programs("task"))
        assert all(r.status == "done" for r in rows)
        evaluated = [r for r in rows if db.evaluations_of(r.id)]
        assert len(evaluated) == 25
        initial = rows[0]
        assert initial.patch_kind == "initial" and initial.score == -36.0
        best = db.best_program("task", "maximize")
        assert best.score > initial.score  # the offline edits found something better than x = 1.5
        assert (results / "best.py").read_text() == best.code
        # no two evaluations of the same code
        hashes = [r.code_hash for r in evaluated]
        assert len(hashes) == len(set(hashes))
        for r in rows:
            if r.failure == "duplicate":
                earlier = db.get_program(r.duplicate_of)
                assert earlier.code_hash == r.code_hash and r.score == earlier.score and not db.evaluations_of(r.id)
        # children record their lineage
        child = next(r for r in rows if r.parent_id is not None)
        assert child.generation == db.get_program(child.parent_id).generation + 1 and child.model == "offline:random-edits"

    meta = json.loads((results / "run.json").read_text())
    assert meta["config"]["run"]["max_evaluations"] == 25
    assert meta["in_use"]["languages"]["name"] == "python" and meta["in_use"]["languages"]["dist"] == "genesis-core"
    assert meta["in_use"]["backends"]["version"]
    assert {p["dist"] for p in meta["plugins"]} >= {"genesis-core"}

    events = read_events(results / "events.jsonl")
    assert all({"ts", "run_id", "generation", "kind"} <= set(e) for e in events)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_stopped"
    assert kinds.count("evaluation_finished") == 25
    assert kinds.count("proposal_started") == len(rows)
    assert any(e["kind"] == "new_best" for e in events)


def test_proposals_and_evaluations_in_flight_stay_within_their_limits(tmp_path):
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 16\n", jitter_s=0.2)
    with MockLLMServer(responder=scripted_answer, delay_s=0.15) as server:
        stats = run_engine(task, tmp_path / "r", [*mock_model_settings(server), "run.max_proposals_in_flight=3",
                                                  "run.max_evaluations_in_flight=2", "novelty.enabled=false"])
        assert stats.evaluations == 16
        assert 2 <= server.max_in_flight <= 3  # the pipeline kept several calls in flight, never more than allowed
    running = peak = 0
    for event in read_events(tmp_path / "r" / "events.jsonl", {"evaluation_started", "evaluation_finished"}):
        running += 1 if event["kind"] == "evaluation_started" else -1
        peak = max(peak, running)
    assert peak == 2


def test_a_patch_error_goes_back_to_the_llm(tmp_path):
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 3\n")
    with MockLLMServer(responder=scripted_answer) as server:
        overrides = [*mock_model_settings(server), 'llm.models=["mock:BAD-FIRST"]', "run.max_proposals_in_flight=1"]
        run_engine(task, tmp_path / "r", overrides)
    with open_db(tmp_path / "r") as db:
        child = next(r for r in db.iter_programs("task") if r.parent_id is not None)
        calls = db.llm_calls_of(child.id)
    assert [c.purpose for c in calls] == ["proposal", "retry"]
    retry_prompt = calls[1].prompt
    assert retry_prompt[-2] == {"role": "assistant", "content": calls[0].response}
    assert "does not match the current program" in retry_prompt[-1]["content"]
    assert child.failure is None and "x = 1.0" not in child.code and child.score > -36.0


def test_the_llm_writes_the_first_program_when_the_task_has_none(tmp_path):
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 4\n", initial=None)
    with MockLLMServer(responder=scripted_answer) as server:
        stats = run_engine(task, tmp_path / "r", [*mock_model_settings(server), "run.max_proposals_in_flight=1"])
    assert stats.evaluations == 4
    with open_db(tmp_path / "r") as db:
        first = next(db.iter_programs("task"))
        assert first.patch_kind == "initial" and first.model == "mock:m" and first.score == -36.0
        assert "EVOLVE-BLOCK-START" in first.code


def test_meta_recommendations_reach_later_prompts(tmp_path):
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 14\n[prompts]\nmeta_every = 3\n")
    with MockLLMServer(responder=scripted_answer) as server:
        run_engine(task, tmp_path / "r", [*mock_model_settings(server), "run.max_proposals_in_flight=2", "novelty.enabled=false"])
    with open_db(tmp_path / "r") as db:
        rows = [(c.purpose, c.prompt) for c in db.iter_llm_calls("task")]
        run = db.get_run("task")
    purposes = [p for p, _ in rows]
    assert purposes.count("meta") >= 2
    first_meta = purposes.index("meta")
    later = [prompt for purpose, prompt in rows[first_meta + 1:] if purpose == "proposal"]
    assert later and all(META_ANSWER in prompt[-1]["content"] for prompt in later)
    assert not any(META_ANSWER in prompt[-1]["content"] for purpose, prompt in rows[:first_meta] if purpose == "proposal")
    assert run.state["meta"]["text"] == META_ANSWER
    meta_events = read_events(tmp_path / "r" / "events.jsonl", {"meta_recommendation"})
    assert meta_events and meta_events[0]["text"] == META_ANSWER


def test_identical_candidates_are_evaluated_once(tmp_path):
    """An LLM that proposes the same change again and again: one evaluation, the rest reuse it."""
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 5\n")
    with MockLLMServer(responder=lambda body: set_variable(last_user(body), "x", lambda x: 3.0)) as server:
        stats = run_engine(task, tmp_path / "r", [*mock_model_settings(server), "run.max_proposals_in_flight=4",
                                                  "run.max_evaluations_in_flight=1", "novelty.enabled=false",
                                                  "strategy.islands.num_islands=1", "strategy.islands.parent_selection=\"hill_climb\""])
    assert stats.stop_reason == "no_progress"  # nothing new can come out of this model
    with open_db(tmp_path / "r") as db:
        rows = list(db.iter_programs("task"))
        evaluated = [r for r in rows if db.evaluations_of(r.id)]
        assert len(evaluated) == 2  # the initial program and x = 3.0
        duplicates = [r for r in rows if r.failure == "duplicate"]
        assert duplicates and {d.duplicate_of for d in duplicates} <= {evaluated[1].id}
        assert all(d.score == evaluated[1].score == -16.0 for d in duplicates if d.duplicate_of == evaluated[1].id)


def test_target_score_stops_the_run(tmp_path):
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 200\ntarget_score = -9.5\n")
    with MockLLMServer(responder=scripted_answer) as server:
        stats = run_engine(task, tmp_path / "r", [*mock_model_settings(server), "run.max_proposals_in_flight=1"])
    assert stats.stop_reason == "target_score"
    assert stats.best_score >= -9.5 and stats.evaluations < 200
    with open_db(tmp_path / "r") as db:
        assert db.totals("task").pending == 0


def test_stagnation_stops_the_run(tmp_path):
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 300\nstagnation = 6\n")
    counter = iter(range(1, 10_000))  # every answer changes y, which does not count in the score
    with MockLLMServer(responder=lambda body: set_variable(last_user(body), "y", lambda y: float(next(counter)))) as server:
        stats = run_engine(task, tmp_path / "r", [*mock_model_settings(server), "run.max_proposals_in_flight=1", "novelty.enabled=false"])
    assert stats.stop_reason == "stagnation"
    assert stats.evaluations == 7  # the initial program, then six that change nothing of the score


def test_money_budget_is_not_overshot_by_more_than_the_calls_in_flight(tmp_path, monkeypatch):
    prices = '[llm.prices."mock:m"]\ninput_per_mtok = 4.0\noutput_per_mtok = 6.0\n'
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 500\nmax_cost_usd = 0.05\n" + prices)
    monkeypatch.setenv("MOCK_KEY", "sk-mock-test-key-000000")
    with MockLLMServer(responder=lambda body: Reply(scripted_answer(body), tokens_in=1000, tokens_out=1000)) as server:
        overrides = [*mock_model_settings(server, key_env="MOCK_KEY"), "run.max_proposals_in_flight=3", "novelty.enabled=false"]
        stats = run_engine(task, tmp_path / "r", overrides)
    per_call = (1000 * 4.0 + 1000 * 6.0) / 1e6  # $0.01
    assert stats.stop_reason == "max_cost"
    with open_db(tmp_path / "r") as db:
        spent = db.totals("task").cost_usd
    assert 0.05 <= spent <= 0.05 + 3 * per_call + 1e-9


def test_wall_time_stops_and_leaves_no_unfinished_program(tmp_path):
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 1000\nmax_wall_seconds = 4\n", jitter_s=1.0)
    started = time.monotonic()
    stats = run_engine(task, tmp_path / "r", FAST)
    assert stats.stop_reason == "max_wall_seconds"
    assert time.monotonic() - started < 60
    with open_db(tmp_path / "r") as db:
        run = db.get_run("task")
        assert run.status == "finished" and run.stop_reason == "max_wall_seconds"
        assert_consistent(db, "task")  # what was in flight was cancelled and left nothing behind


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(tmp_path):
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 40\n", jitter_s=0.3)
    results = tmp_path / "r"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESIS_")}
    proc = subprocess.Popen(genesis("run", str(task), "--results", str(results)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    events = results / "events.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(read_events(events, {"evaluation_finished"})) < 5:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "stopped (interrupted)" in out
    with open_db(results) as db:
        run = db.get_run("task")
        totals = db.totals("task")
        assert run.status == "interrupted" and 5 <= totals.evaluations < 40
        # Only candidates whose answer was paid for stay unfinished, to be evaluated on resume without a new call.
        assert all(p.code is not None for p in db.pending_programs("task"))
    again = subprocess.run(genesis("run", str(task), "--results", str(results)), capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "Resumed:" in again.stderr
    with open_db(results) as db:
        assert db.totals("task").evaluations == 40 and db.get_run("task").status == "finished"
        assert_consistent(db, "task")


def test_resume_restores_costs_bandit_and_meta(tmp_path, monkeypatch):
    prices = "".join(f'[llm.prices."mock:{m}"]\ninput_per_mtok = {p}\noutput_per_mtok = {p}\n' for m, p in (("m", 1.0), ("n", 2.0)))
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 10\n[prompts]\nmeta_every = 3\n" + prices)
    monkeypatch.setenv("MOCK_KEY", "sk-mock-test-key-000000")
    advice = iter(range(1, 100))

    def answer(body):
        text = scripted_answer(body)
        if text == META_ANSWER:
            text = f"- advice number {next(advice)}"
        return Reply(text, tokens_in=100, tokens_out=100)

    with MockLLMServer(responder=answer) as server:
        overrides = [*mock_model_settings(server, key_env="MOCK_KEY"), 'llm.models={"mock:m" = 1, "mock:n" = 1}',
                     "llm.selection=\"ucb1\"", "novelty.enabled=false", "run.max_proposals_in_flight=1"]
        run_engine(task, tmp_path / "r", overrides)
        with open_db(tmp_path / "r") as db:
            spent = db.totals("task").cost_usd
            meta = db.get_run("task").state["meta"]
        config = load_config(task, overrides)
        client = LLMClient(config, get_host(), seed=0)
        seen = {}
        run_engine(task, tmp_path / "r", overrides, llm=client,
                   listeners=[lambda e: seen.setdefault("resumed", e) if e["kind"] == "run_resumed" else None])
    assert meta["text"].startswith("- advice number") and meta["at"] >= 3
    resumed = seen["resumed"]
    assert resumed["meta_recommendation"] == meta["text"] and resumed["meta_at_evaluations"] == meta["at"]
    assert resumed["evaluations"] == 10
    assert resumed["cost_usd"] == pytest.approx(spent) and client.spent_usd == pytest.approx(spent)
    with open_db(tmp_path / "r") as db:
        children = [r for r in db.iter_programs("task") if r.model]
    arms = client.selector.arms
    assert sum(a.pulls for a in arms.values()) == len(children)  # every finished proposal taught the bandit again
    for model in ("mock:m", "mock:n"):
        mine = [r for r in children if r.model == model]
        assert arms[model].pulls == len(mine)


def test_near_duplicates_are_rejected_unless_the_llm_judge_keeps_them(tmp_path):
    """Every answer nudges y by a tiny step: near-identical code. Without a judge it is rejected; a judge can keep it."""
    steps = iter(range(1, 10_000))

    def answer(body):
        user = last_user(body)
        if "Decide whether the candidate is meaningfully different" in user:
            return "NOVEL\nIt keeps a different constant."
        return set_variable(user, "y", lambda y: 0.5 + next(steps) * 1e-6)

    toml = "[run]\nmax_evaluations = 4\n[novelty]\nthreshold = 0.5\n[strategy.islands]\nnum_islands = 1\n"
    task = write_task(tmp_path / "task", toml=toml)
    with MockLLMServer(responder=answer) as server:
        plain = run_engine(task, tmp_path / "plain", [*mock_model_settings(server), "run.max_proposals_in_flight=1"])
        judged = run_engine(task, tmp_path / "judged", [*mock_model_settings(server), "run.max_proposals_in_flight=1",
                                                         "novelty.judge=true"])
    assert plain.stop_reason == "no_progress" and plain.evaluations == 1
    assert plain.failures["not_novel"] > 0
    assert judged.stop_reason == "max_evaluations" and judged.evaluations == 4
    with open_db(tmp_path / "judged") as db:
        purposes = [c.purpose for c in db.iter_llm_calls("task")]
    assert purposes.count("judge") == 3
    assert len(read_events(tmp_path / "judged" / "events.jsonl", {"novelty_judged"})) == 3


def test_a_minimised_score_keeps_the_lowest_as_best(tmp_path):
    evaluator = (
        "from genesis_core.evaluation import EvaluationResult\n\n"
        "def evaluate(candidate):\n"
        "    x = float(candidate.call('solve', timeout=20))\n"
        "    return EvaluationResult(score=(x - 7.0) ** 2)\n"
    )
    task = write_task(tmp_path / "task", toml="objective = \"minimize\"\n[run]\nmax_evaluations = 15\nseed = 2\n", evaluator=evaluator)
    stats = run_engine(task, tmp_path / "r", FAST)
    with open_db(tmp_path / "r") as db:
        valid = [r for r in db.iter_programs("task") if r.failure is None and r.correct]
        best = db.best_program("task", "minimize")
    assert stats.best_score == min(r.score for r in valid) == best.score
    assert best.score < 36.0  # better (lower) than the initial program's
    assert (tmp_path / "r" / "best.py").read_text() == best.code


def test_runs_sharing_a_database_need_their_own_names(tmp_path, database_url):
    """Two results folders, one database (SQLite file or PostgreSQL): a second run of the same task is told to pick a name."""
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 3\n")
    shared = [f"run.database_url={database_url}", *FAST]
    first = run_engine(task, tmp_path / "a", shared)
    with pytest.raises(ConfigError, match="already holds a run 'task'.*-s run.run_id=NAME"):
        run_engine(task, tmp_path / "b", shared)
    second = run_engine(task, tmp_path / "b", [*shared, "run.run_id=second", "run.seed=4"])
    assert first.evaluations == second.evaluations == 3
    with Database(database_url, create=False) as db:
        assert sorted(r.id for r in db.list_runs()) == ["second", "task"]
        for run_id in ("task", "second"):
            assert_consistent(db, run_id)
            assert db.totals(run_id).evaluations == 3
    meta = json.loads((tmp_path / "b" / "run.json").read_text())
    assert meta["run_id"] == "second" and meta["database_url"] is not None
