"""Fixtures of the log tests: event logs written by genesis-core's own EventLog, and a ClickHouse server.

The server is the stand-in of clickhouse_standin.py (ClickHouse's HTTP
interface in front of chdb) unless GENESIS_CLICKHOUSE_TEST_URL names a real
server (`http://user:password@host:8123/database`), which is then used
instead; each test works in its own table.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from genesis_core.events import EventLog

HERE = Path(__file__).parent
MODELS = ("openai:gpt-5-mini", "anthropic:claude-sonnet-4-5", "offline:mutate")
FAILURES = ("crash", "timeout", "build_error")


@dataclass
class EventsRun:
    """A results folder with an events.jsonl, and what the test wrote into it."""

    folder: Path
    run_id: str
    events: int = 0
    kinds: Counter = field(default_factory=Counter)
    segfault_calls_by_model: Counter = field(default_factory=Counter)
    tokens_in_by_model: Counter = field(default_factory=Counter)

    @property
    def path(self) -> Path:
        return self.folder / "events.jsonl"


def write_events(folder: Path, evaluations: int, *, run_id: str = "circle-run", finish: bool = True,
                 log: EventLog | None = None, start: int = 0, record: EventsRun | None = None) -> EventsRun:
    """The events a run of `evaluations` evaluations writes, through genesis-core's EventLog."""
    out = record or EventsRun(folder, run_id)
    own = log is None
    log = log or EventLog(folder / "events.jsonl", run_id)

    def emit(kind: str, generation: int | None, **fields) -> None:
        log.emit(kind, generation, **fields)
        out.events += 1
        out.kinds[kind] += 1

    if start == 0:
        emit("run_started", 0, config={"task": {"name": "circle_packing"}}, resumed=False)
    for i in range(start, start + evaluations):
        model = MODELS[i % len(MODELS)]
        generation = i // 10
        crashed = i % 7 == 3
        reasoning = f"Step {i}: try a tighter packing of circle {i % 26}."
        if crashed:
            reasoning += " The last attempt died with a Segmentation Fault in the inner loop."
            out.segfault_calls_by_model[model] += 1
        emit("proposal_started", generation, program_id=i + 1, seq=i, parent_id=i // 2 or None, island=i % 4,
             patch_kind="diff", model=model)
        emit("llm_call", generation, program_id=i + 1, purpose="proposal", model=model, tokens_in=1000 + i,
             tokens_out=200 + i % 50, cost_usd=0.0001 * (1 + i % 3), latency_s=0.5 + (i % 10) / 10, reasoning=reasoning,
             failure=None)
        out.tokens_in_by_model[model] += 1000 + i
        emit("evaluation_started", generation, program_id=i + 1, seq=i)
        emit("evaluation_finished", generation, program_id=i + 1, score=None if crashed else 1.0 + i / 1000,
             correct=not crashed, failure=FAILURES[i % 3] if crashed else None,
             metrics={} if crashed else {"sum_radii": 1.0 + i / 1000}, seconds=0.2)
    if finish:
        emit("run_stopped", None, reason="max_evaluations", status="finished", evaluations=start + evaluations)
    if own:
        log.close()
    return out


@pytest.fixture
def events_run(tmp_path: Path) -> EventsRun:
    """The events of a 1,000-evaluation run."""
    return write_events(tmp_path / "results" / "circle_packing", 1000)


@pytest.fixture
def chdb_module():
    return pytest.importorskip("chdb", reason="chdb is the optional extra genesis-logs-clickhouse[chdb]")


@pytest.fixture(scope="session")
def clickhouse_url(tmp_path_factory) -> str:
    """The base URL of a ClickHouse server speaking HTTP (with user and password)."""
    real = os.environ.get("GENESIS_CLICKHOUSE_TEST_URL")
    if real:
        yield real
        return
    pytest.importorskip("chdb", reason="the ClickHouse stand-in runs on chdb, the optional extra genesis-logs-clickhouse[chdb]")
    data = tmp_path_factory.mktemp("clickhouse")
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "clickhouse_standin.py"), str(data), "--user", "genesis", "--password", "s3cret"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise AssertionError(f"the ClickHouse stand-in did not start: {line}{proc.stderr.read() if proc.stderr else ''}")
    yield f"http://genesis:s3cret@127.0.0.1:{line.split()[1]}/default"
    proc.terminate()
    proc.wait(timeout=15)


@pytest.fixture
def table() -> str:
    """A table name of its own for each test."""
    return "events_" + uuid.uuid4().hex[:10]


@pytest.fixture
def run_genesis(capsys):
    """Run `genesis ARGS` in this process, through the same entry point as the command line."""
    from genesis_core.cli import main

    def run(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["genesis", *args], code, out, err)

    return run


@pytest.fixture
def make_events():
    return write_events
