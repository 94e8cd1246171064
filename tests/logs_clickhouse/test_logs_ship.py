"""`genesis logs ship`: batches of events into a ClickHouse server over HTTP with clickhouse-connect, idempotently."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import clickhouse_connect
import pytest
from genesis_core.events import EventLog


def server_rows(url: str, sql: str) -> list[tuple]:
    client = clickhouse_connect.get_client(dsn=url)
    try:
        return client.query(sql).result_rows
    finally:
        client.close()


def test_shipping_twice_stores_each_event_once(clickhouse_url, events_run, table, run_genesis):
    first = run_genesis("logs", "ship", str(events_run.folder), "--clickhouse", clickhouse_url, "--table", table, "--batch-size", "700")
    assert first.returncode == 0, first.stderr
    batches = math.ceil(events_run.events / 700)
    assert f"Shipped {events_run.events} new events in {batches} batch(es)" in first.stdout
    assert "s3cret" not in first.stdout  # the password is never printed
    second = run_genesis("logs", "ship", str(events_run.folder), "--clickhouse", clickhouse_url, "--table", table, "--batch-size", "700")
    assert second.returncode == 0, second.stderr
    assert "Shipped 0 new events in 0 batch(es)" in second.stdout
    assert f"({events_run.events} already there)" in second.stdout
    [(rows, ids)] = server_rows(clickhouse_url, f"SELECT count(), uniqExact(event_id) FROM {table}")
    assert rows == ids == events_run.events
    kinds = dict(server_rows(clickhouse_url, f"SELECT kind, count() FROM {table} GROUP BY kind"))
    assert kinds == dict(events_run.kinds)


def test_the_fields_arrive_typed_and_whole(clickhouse_url, events_run, table, run_genesis):
    result = run_genesis("logs", "ship", str(events_run.folder), "--clickhouse", clickhouse_url, "--table", table)
    assert result.returncode == 0, result.stderr
    segfaults = dict(server_rows(
        clickhouse_url,
        f"SELECT model, count() FROM {table} WHERE kind = 'llm_call' AND reasoning ILIKE '%segmentation fault%' GROUP BY model",
    ))
    assert segfaults == dict(events_run.segfault_calls_by_model)
    tokens = dict(server_rows(clickhouse_url, f"SELECT model, sum(tokens_in) FROM {table} WHERE kind = 'llm_call' GROUP BY model"))
    assert tokens == dict(events_run.tokens_in_by_model)
    first_line = json.loads(events_run.path.read_text().splitlines()[1])
    [(data, ts, run_id, generation)] = server_rows(
        clickhouse_url, f"SELECT data, ts, run_id, generation FROM {table} WHERE kind = '{first_line['kind']}' AND program_id = 1",
    )
    assert json.loads(data) == first_line
    assert run_id == first_line["run_id"] and generation == first_line["generation"]
    assert ts.isoformat(timespec="milliseconds").startswith(first_line["ts"].rstrip("Z")[:23])


def test_shipping_a_growing_file_again_sends_only_the_new_events(clickhouse_url, tmp_path, table, make_events, run_genesis):
    log = EventLog(tmp_path / "events.jsonl", "live")
    run = make_events(tmp_path, 40, run_id="live", finish=False, log=log)
    assert run_genesis("logs", "ship", str(tmp_path), "--clickhouse", clickhouse_url, "--table", table).returncode == 0
    before = run.events
    make_events(tmp_path, 25, run_id="live", log=log, start=40, record=run)
    log.close()
    again = run_genesis("logs", "ship", str(tmp_path), "--clickhouse", clickhouse_url, "--table", table)
    assert again.returncode == 0, again.stderr
    assert f"Shipped {run.events - before} new events" in again.stdout
    assert server_rows(clickhouse_url, f"SELECT count(), uniqExact(event_id) FROM {table}") == [(run.events, run.events)]


def test_sidecar_follows_a_live_run_until_it_stops(clickhouse_url, tmp_path, table, make_events):
    """--follow starts before the first event, ships lines as they are written, and exits after run_stopped."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "genesis_core", "logs", "ship", str(tmp_path), "--clickhouse", clickhouse_url,
         "--table", table, "--follow", "--interval", "0.1", "--batch-size", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        log = EventLog(tmp_path / "events.jsonl", "live")
        run = make_events(tmp_path, 30, run_id="live", finish=False, log=log)
        deadline = time.monotonic() + 60
        while server_rows(clickhouse_url, f"EXISTS TABLE {table}") != [(1,)] or \
                server_rows(clickhouse_url, f"SELECT count() FROM {table}")[0][0] < run.events:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the sidecar shipped nothing in 60 s"
            time.sleep(0.2)
        assert proc.poll() is None  # still following: the run has not stopped
        make_events(tmp_path, 10, run_id="live", log=log, start=30, record=run)  # ends with run_stopped
        log.close()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert f"Shipped {run.events} new events" in out
    assert server_rows(clickhouse_url, f"SELECT count(), uniqExact(event_id) FROM {table}") == [(run.events, run.events)]


def test_a_wrong_password_is_a_clear_error(clickhouse_url, events_run, table, run_genesis):
    wrong = clickhouse_url.replace("s3cret", "wrong")
    result = run_genesis("logs", "ship", str(events_run.folder), "--clickhouse", wrong, "--table", table)
    assert result.returncode == 2
    assert "Cannot connect to ClickHouse" in result.stderr and "Authentication failed" in result.stderr
    assert "wrong" not in result.stderr.split("Cannot connect to ClickHouse at ")[1].split(":", 2)[2][:20]
    assert "Traceback" not in result.stderr


def test_a_refused_connection_is_a_clear_error(events_run, run_genesis):
    result = run_genesis("logs", "ship", str(events_run.folder), "--clickhouse", "http://127.0.0.1:9/default")
    assert result.returncode == 2
    assert "Cannot connect to ClickHouse at http://127.0.0.1:9/default" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_embedded_chdb_store_is_a_target_too(chdb_module, tmp_path, events_run, run_genesis):
    url = f"chdb://{tmp_path / 'store'}"
    for expected in (events_run.events, 0):
        result = run_genesis("logs", "ship", str(events_run.folder), "--clickhouse", url, "--batch-size", "2000")
        assert result.returncode == 0, result.stderr
        assert f"Shipped {expected} new events" in result.stdout
    count = subprocess.run(
        [sys.executable, "-c", f"import clickhouse_connect as c; print(c.get_client(dsn={url!r}).query('SELECT count() FROM events').result_rows[0][0])"],
        capture_output=True, text=True, timeout=60,
    )
    assert count.stdout.strip() == str(events_run.events)


@pytest.mark.parametrize("bad", ["events; DROP TABLE x", "a-b"])
def test_table_names_are_checked(clickhouse_url, events_run, run_genesis, bad):
    result = run_genesis("logs", "ship", str(events_run.folder), "--clickhouse", clickhouse_url, "--table", bad)
    assert result.returncode == 2
    assert "table name" in result.stderr
