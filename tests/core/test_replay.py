"""The replay provider: a run reproduced from an earlier run's recorded LLM calls, with no API call."""

from __future__ import annotations

import pytest
from evolution_helpers import mock_model_settings, run_engine, scripted_answer, write_task
from genesis_core.database import Database
from genesis_core.errors import ConfigError
from genesis_core.testing.mock_llm import MockLLMServer

OVERRIDES = ["run.max_proposals_in_flight=3", "run.max_evaluations_in_flight=2"]


def programs_of(results) -> list[tuple]:
    with Database(f"sqlite:///{results / 'genesis.db'}", create=False) as db:
        return [(r.seq, r.code, r.parent_id, r.patch_kind, r.model, r.score, r.failure) for r in db.iter_programs("task")]


def test_a_replayed_run_reproduces_the_original_programs_without_calling_the_llm(tmp_path):
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 15\nseed = 4\n[prompts]\nmeta_every = 5\n", jitter_s=0.05)
    with MockLLMServer(responder=scripted_answer, delay_s=0.02) as server:
        llm = mock_model_settings(server)
        run_engine(task, tmp_path / "original", [*llm, *OVERRIDES])
        calls_made = len(server.requests)
    assert calls_made >= 15
    # The server is gone: any call that reached for it would fail and change the programs.
    replayed = run_engine(task, tmp_path / "replay", [*llm, *OVERRIDES, f"llm.replay_from={tmp_path / 'original'}"])
    assert replayed.cost_usd == 0.0
    assert programs_of(tmp_path / "replay") == programs_of(tmp_path / "original")
    with Database(f"sqlite:///{tmp_path / 'replay' / 'genesis.db'}", create=False) as db:
        calls = list(db.iter_llm_calls("task"))
    assert len(calls) == calls_made and all(c.failure is None for c in calls)
    assert any(c.purpose == "meta" for c in calls)


def test_replay_needs_no_model_list_and_says_where_a_run_diverges(tmp_path):
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 6\nseed = 1\n")
    run_engine(task, tmp_path / "original", OVERRIDES)  # the offline provider: [llm] models left empty
    # Same seed: the model list comes from the recorded run and every answer is found.
    same = run_engine(task, tmp_path / "same", [*OVERRIDES, f"llm.replay_from={tmp_path / 'original'}"])
    assert same.evaluations == 6
    assert programs_of(tmp_path / "same") == programs_of(tmp_path / "original")
    # Another seed asks other questions: the replay says so and the run stops instead of inventing answers.
    other = run_engine(task, tmp_path / "other", [*OVERRIDES, "run.seed=2", f"llm.replay_from={tmp_path / 'original'}"])
    assert other.stop_reason == "llm_failing"
    with Database(f"sqlite:///{tmp_path / 'other' / 'genesis.db'}", create=False) as db:
        errors = [c.error for c in db.iter_llm_calls("task")]
    assert errors and "diverged" in errors[0] and "never asked" in errors[0]


def test_replay_from_something_that_is_not_a_run_is_a_clear_error(tmp_path):
    task = write_task(tmp_path / "task", toml="[run]\nmax_evaluations = 2\n")
    with pytest.raises(ConfigError, match="neither a results folder nor a database URL"):
        run_engine(task, tmp_path / "r", ['llm.models=["offline:random-edits"]', f"llm.replay_from={tmp_path / 'nowhere'}"])
