"""`genesis logs query`: ClickHouse SQL over events.jsonl files with chdb, no server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from genesis_core.events import EventLog

ILIKE = "SELECT model, count() AS n FROM events WHERE reasoning ILIKE '%segmentation fault%' GROUP BY model ORDER BY model"


def test_ilike_over_a_1000_evaluation_run(chdb_module, events_run, run_genesis):
    result = run_genesis("logs", "query", ILIKE, str(events_run.folder), "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {r["model"]: r["n"] for r in rows} == dict(events_run.segfault_calls_by_model)
    assert sum(r["n"] for r in rows) > 0


def test_table_and_csv_output(chdb_module, events_run, run_genesis):
    sql = "SELECT kind, count() AS n FROM events GROUP BY kind ORDER BY kind"
    table = run_genesis("logs", "query", sql, str(events_run.folder))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert "kind" in lines[0] and "n" in lines[0]
    for kind, n in events_run.kinds.items():
        assert any(kind in line and str(n) in line for line in lines), (kind, n, table.stdout)
    csv = run_genesis("logs", "query", sql, str(events_run.folder), "--format", "csv")
    rows = csv.stdout.splitlines()
    assert rows[0] == '"kind","n"'
    assert dict((k.strip('"'), int(v)) for k, v in (r.split(",") for r in rows[1:])) == dict(events_run.kinds)


def test_every_llm_call_has_its_fields(chdb_module, events_run):
    from genesis_logs_clickhouse.query import EventsTable

    with EventsTable([events_run.path]) as table:
        rows = table.rows(
            "SELECT model, sum(tokens_in) AS tin, countIf(run_id != '' AND generation IS NOT NULL AND tokens_out > 0 "
            "AND cost_usd > 0 AND latency_s > 0 AND reasoning != '') AS complete, count() AS n "
            "FROM events WHERE kind = 'llm_call' GROUP BY model"
        )
    assert {r["model"]: r["tin"] for r in rows} == dict(events_run.tokens_in_by_model)
    assert all(r["complete"] == r["n"] for r in rows)


def test_several_folders_and_a_folder_of_folders(chdb_module, tmp_path, make_events, run_genesis):
    one = make_events(tmp_path / "results" / "a", 20, run_id="a")
    two = make_events(tmp_path / "results" / "b", 30, run_id="b")
    # a field only the second run has, with another type than the first's
    log = EventLog(two.path, "b")
    log.emit("meta_recommendation", None, text="use numpy", at_evaluations=30, model=7)
    log.close()
    sql = "SELECT run_id, results_dir, count() AS n, countIf(text = 'use numpy') AS meta FROM events GROUP BY run_id, results_dir ORDER BY run_id"
    for args in ([str(tmp_path / "results")], [str(one.folder), str(two.folder)]):
        result = run_genesis("logs", "query", sql, *args, "--format", "json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == [
            {"run_id": "a", "results_dir": str(one.folder.resolve()), "n": one.events, "meta": 0},
            {"run_id": "b", "results_dir": str(two.folder.resolve()), "n": two.events + 1, "meta": 1},
        ]


def test_llm_columns_exist_before_the_first_llm_call(chdb_module, tmp_path, run_genesis):
    log = EventLog(tmp_path / "events.jsonl", "fresh")
    log.emit("run_started", 0, resumed=False)
    log.close()
    result = run_genesis("logs", "query", ILIKE, str(tmp_path), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_a_half_written_last_line_is_skipped(chdb_module, tmp_path, make_events, run_genesis):
    run = make_events(tmp_path, 10, finish=False)
    with open(run.path, "a") as handle:
        handle.write('{"ts": "2026-01-01T00:00:00.000Z", "run_id": "circle-run", "kind": "llm_ca')
    result = run_genesis("logs", "query", "SELECT count() AS n FROM events", str(tmp_path), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"n": run.events}]


def test_bad_sql_names_the_columns(chdb_module, events_run, run_genesis):
    result = run_genesis("logs", "query", "SELECT reasonning FROM events", str(events_run.folder))
    assert result.returncode == 2
    assert "reasonning" in result.stderr and "reasoning" in result.stderr and "tokens_in" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_folder_without_events_is_a_clear_error(tmp_path, run_genesis):
    result = run_genesis("logs", "query", "SELECT 1", str(tmp_path))
    assert result.returncode == 2
    assert "events.jsonl" in result.stderr and "Traceback" not in result.stderr


def test_without_chdb_the_error_says_what_to_install(events_run):
    code = (
        "import sys; sys.modules['chdb'] = None\n"
        "from genesis_core.cli import main\n"
        f"main(['logs', 'query', 'SELECT 1', {str(events_run.folder)!r}])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "pip install 'genesis-logs-clickhouse[chdb]'" in result.stderr


@pytest.mark.parametrize("fmt", ["yaml"])
def test_unknown_format_is_refused(events_run, run_genesis, fmt):
    result = run_genesis("logs", "query", "SELECT 1", str(events_run.folder), "--format", fmt)
    assert result.returncode == 2
    assert "table" in result.stderr and "json" in result.stderr and "csv" in result.stderr


@pytest.mark.slow
def test_the_events_of_a_real_run(chdb_module, tmp_path, run_genesis):
    """`genesis run` (offline) writes events.jsonl; every LLM call of its database is an llm_call row here."""
    from genesis_core.results import open_results

    task, results = tmp_path / "toy_task", tmp_path / "results" / "toy_task"
    for args in (["init", str(task), "--language", "python"],
                 ["run", str(task), "--results", str(results), "--quiet", "-s", "run.max_evaluations=8",
                  "-s", "llm.models=['offline:random-edits']"]):
        done = subprocess.run([sys.executable, "-m", "genesis_core", *args], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    opened = open_results(results)
    try:
        calls = list(opened.db.iter_llm_calls(opened.run_id))
    finally:
        opened.db.close()
    sql = ("SELECT run_id, model, count() AS n, sum(tokens_in) AS tin, countIf(generation IS NOT NULL) AS with_generation "
           "FROM events WHERE kind = 'llm_call' GROUP BY run_id, model")
    result = run_genesis("logs", "query", sql, str(tmp_path / "results"), "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["run_id"], r["model"], r["n"], r["tin"]) for r in rows] == [
        (opened.run_id, "offline:random-edits", len(calls), sum(c.tokens_in for c in calls))
    ]
    assert rows[0]["with_generation"] == len(calls)
