"""Loading `events.jsonl` files into a ClickHouse server, idempotently.

Each event gets a stable id: the hash of its line, which holds its
millisecond timestamp, run id and fields, so the same line always has the
same id and two events never share one. Before each batch is inserted, the
ids already in the table are looked up and skipped, so shipping a file twice
(or a sidecar restarted over a live run) stores every event once. The table
is a ReplacingMergeTree keyed on the id as well, which folds duplicates that
two shippers racing on the same file could still write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genesis_core.errors import GenesisError

DEFAULT_TABLE = "events"
DEFAULT_BATCH = 5000
# Event kinds after which a run writes nothing more (until it is resumed).
FINAL_KINDS = {"run_stopped", "run_failed"}

# Columns of the server's table: the fields queries filter on most, typed,
# and the whole event as JSON in `data` for everything else.
COLUMNS: dict[str, str] = {
    "event_id": "String",
    "ts": "Nullable(DateTime64(3, 'UTC'))",
    "run_id": "String",
    "generation": "Nullable(Int64)",
    "kind": "LowCardinality(String)",
    "program_id": "Nullable(Int64)",
    "model": "Nullable(String)",
    "tokens_in": "Nullable(Int64)",
    "tokens_out": "Nullable(Int64)",
    "cost_usd": "Nullable(Float64)",
    "latency_s": "Nullable(Float64)",
    "reasoning": "Nullable(String)",
    "score": "Nullable(Float64)",
    "failure": "Nullable(String)",
    "data": "String",
}
_INTS = {"generation", "program_id", "tokens_in", "tokens_out"}
_FLOATS = {"cost_usd", "latency_s", "score"}
_STRINGS = {"model", "reasoning", "failure"}


def event_id(line: bytes) -> str:
    """The stable id of one event: a hash of its line as written."""
    return hashlib.blake2b(line.strip(), digest_size=16).hexdigest()


def _parse_ts(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _typed(name: str, value: Any) -> Any:
    if value is None:
        return None
    try:
        if name in _INTS:
            return int(value)
        if name in _FLOATS:
            return float(value)
    except (TypeError, ValueError):
        return None
    if name in _STRINGS:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return value


def row_of(line: bytes, event: dict[str, Any]) -> list[Any]:
    """One row of the server's table, in the order of COLUMNS."""
    row: list[Any] = []
    for name in COLUMNS:
        if name == "event_id":
            row.append(event_id(line))
        elif name == "ts":
            row.append(_parse_ts(event.get("ts")))
        elif name == "run_id":
            row.append(str(event.get("run_id") or ""))
        elif name == "kind":
            row.append(str(event.get("kind") or ""))
        elif name == "data":
            row.append(line.strip().decode("utf-8", errors="replace"))
        else:
            row.append(_typed(name, event.get(name)))
    return row


@dataclass
class EventFileReader:
    """Reads the complete lines of an events file from where it stopped last time.

    A line without its newline is being written: it is left for the next read.
    """

    path: Path
    offset: int = 0
    last_kind: str | None = None
    skipped: int = 0

    def read(self) -> Iterator[tuple[bytes, dict[str, Any]]]:
        if not self.path.is_file():
            return
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            for line in handle:
                if not line.endswith(b"\n"):
                    break
                self.offset += len(line)
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    self.skipped += 1
                    continue
                if not isinstance(event, dict):
                    self.skipped += 1
                    continue
                self.last_kind = event.get("kind")
                yield line, event


@dataclass
class ShipReport:
    """What one shipping pass did."""

    sent: int = 0
    already_there: int = 0
    batches: int = 0
    skipped_lines: int = 0
    files: list[str] = field(default_factory=list)


def connect(url: str) -> Any:
    """A clickhouse-connect client for an http(s):// or chdb:// URL."""
    try:
        import clickhouse_connect
    except ImportError:
        raise GenesisError(
            "Shipping events needs clickhouse-connect, which is not installed. Install it with: "
            "pip install genesis-logs-clickhouse"
        ) from None
    if "://" not in url:
        raise GenesisError(
            f"Expected a ClickHouse URL such as http://user:password@host:8123/database (or chdb:///path for an "
            f"embedded chdb store), but got '{url}'."
        )
    try:
        return clickhouse_connect.get_client(dsn=url)
    except Exception as exc:  # the SDK raises its own types for refused connections and bad credentials
        raise GenesisError(
            f"Cannot connect to ClickHouse at {safe_url(url)}: {type(exc).__name__}: {exc}. Check that the server "
            f"runs and the URL, user and password are right."
        ) from None


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    credentials, _, host = rest.partition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else f"{scheme}://{credentials}@{host}"


class Shipper:
    """Batches events into one ClickHouse table, skipping those it already holds."""

    def __init__(self, client: Any, table: str = DEFAULT_TABLE, batch_size: int = DEFAULT_BATCH) -> None:
        if batch_size < 1:
            raise GenesisError(f"Expected a batch size of at least 1, but got {batch_size}.")
        if not table.replace("_", "").replace(".", "").isalnum():
            raise GenesisError(
                f"Expected a table name of letters, digits and underscores (optionally database.table), but got '{table}'."
            )
        self.client = client
        self.table = table
        self.batch_size = batch_size

    def _call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from clickhouse_connect.driver.exceptions import ClickHouseError

        try:
            return method(*args, **kwargs)
        except ClickHouseError as exc:
            raise GenesisError(
                f"ClickHouse refused to {what} (table {self.table}): {exc}. Events sent before this batch are "
                f"stored; fix the cause and ship again (events already there are skipped)."
            ) from None

    def create_table(self) -> None:
        columns = ", ".join(f"{name} {type_}" for name, type_ in COLUMNS.items())
        self._call(
            "create the table",
            self.client.command,
            f"CREATE TABLE IF NOT EXISTS {self.table} ({columns}) "
            f"ENGINE = ReplacingMergeTree ORDER BY (run_id, kind, event_id)",
        )

    def _existing(self, ids: list[str]) -> set[str]:
        result = self._call(
            "look up the events it holds",
            self.client.query,
            f"SELECT DISTINCT event_id FROM {self.table} WHERE event_id IN {{ids:Array(String)}}",
            parameters={"ids": ids},
        )
        return {row[0] for row in result.result_rows}

    def send(self, batch: list[tuple[bytes, dict[str, Any]]], report: ShipReport) -> None:
        """Insert the events of `batch` the table does not hold yet."""
        if not batch:
            return
        rows: dict[str, list[Any]] = {}
        for line, event in batch:
            row = row_of(line, event)
            rows.setdefault(row[0], row)
        existing = self._existing(list(rows))
        new = [row for eid, row in rows.items() if eid not in existing]
        report.already_there += len(batch) - len(new)
        if new:
            self._call("insert a batch", self.client.insert, self.table, new, column_names=list(COLUMNS))
            report.sent += len(new)
            report.batches += 1

    def ship(self, readers: list[EventFileReader], report: ShipReport | None = None) -> ShipReport:
        """One pass: every complete line the readers have not read yet, in batches."""
        report = report or ShipReport()
        for reader in readers:
            if str(reader.path) not in report.files:
                report.files.append(str(reader.path))
            batch: list[tuple[bytes, dict[str, Any]]] = []
            before = reader.skipped
            for item in reader.read():
                batch.append(item)
                if len(batch) >= self.batch_size:
                    self.send(batch, report)
                    batch = []
            self.send(batch, report)
            report.skipped_lines += reader.skipped - before
        return report

    def follow(
        self,
        readers: list[EventFileReader],
        *,
        interval_s: float = 2.0,
        on_pass: Callable[[ShipReport], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> ShipReport:
        """Ship as the files grow, until every run has written its final event (or `should_stop`).

        A file gives no wake-up when it grows, so the files are read again every `interval_s`.
        """
        report = ShipReport()
        while True:
            self.ship(readers, report)
            if on_pass is not None:
                on_pass(report)
            if all(r.last_kind in FINAL_KINDS for r in readers) or should_stop():
                return report
            time.sleep(interval_s)
