"""ClickHouse SQL over `events.jsonl` files with the embedded engine chdb.

The files become one table, `events`: the union of the fields found in every
line of every file (ClickHouse infers the types; a field whose type differs
between files becomes a String), plus `results_dir`, the folder each event
came from. The fields every LLM call carries are always columns, even before
the first such event, so that the documented queries work on any run.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from genesis_core.errors import GenesisError

TABLE = "events"
FORMATS = {
    "table": "PrettyCompactMonoBlock",
    "json": "JSONEachRow",
    "csv": "CSVWithNames",
}

# Columns that exist whatever the files hold, with the type used when no
# event has the field yet.
STANDARD_COLUMNS: dict[str, str] = {
    "ts": "Nullable(String)",
    "run_id": "Nullable(String)",
    "generation": "Nullable(Int64)",
    "kind": "Nullable(String)",
    "model": "Nullable(String)",
    "tokens_in": "Nullable(Int64)",
    "tokens_out": "Nullable(Int64)",
    "cost_usd": "Nullable(Float64)",
    "latency_s": "Nullable(Float64)",
    "reasoning": "Nullable(String)",
}

# Read every line when inferring the columns: an event kind that first
# appears late in a run must still be a column.
SESSION_SETTINGS = {
    "input_format_max_rows_to_read_for_schema_inference": 1_000_000_000,
    "input_format_max_bytes_to_read_for_schema_inference": 1 << 40,
    "input_format_skip_unknown_fields": 1,
    # A run that is being written may end in a half-written line.
    "input_format_allow_errors_num": 1,
    "output_format_pretty_color": 0,
    "output_format_pretty_row_numbers": 0,
    "output_format_json_quote_64bit_integers": 0,
    "output_format_json_array_of_rows": 1,
}

CHDB_MISSING = (
    "`genesis logs query` runs ClickHouse SQL in-process with chdb, which is not installed (it is an "
    "optional extra because it is large). Install it with: pip install 'genesis-logs-clickhouse[chdb]'"
)


def sql_string(text: str) -> str:
    """A ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _open_session():
    try:
        from chdb import session
    except ImportError:
        raise GenesisError(CHDB_MISSING) from None
    sess = session.Session()
    settings = ", ".join(f"{k} = {v}" for k, v in SESSION_SETTINGS.items())
    sess.query(f"SET {settings}")
    return sess


def _run(sess, sql: str, fmt: str = "TSV") -> str:
    try:
        return sess.query(sql, fmt).bytes().decode("utf-8", errors="replace")
    except Exception as exc:  # chdb raises its own error type with ClickHouse's message
        raise _QueryFailed(str(exc).strip()) from None


class _QueryFailed(Exception):
    pass


class EventsTable:
    """An in-process ClickHouse session with the view `events` over the given files."""

    def __init__(self, files: list[Path]) -> None:
        if not files:
            raise GenesisError("Expected at least one events.jsonl file to query, but none was given.")
        self.files = files
        self._scratch: tempfile.TemporaryDirectory | None = None
        self._sess = _open_session()
        self.columns = self._infer_columns()
        self._create_view()

    def _complete_lines(self, path: Path) -> Path | None:
        """`path`, or a copy of its complete lines when a live run is writing its last one (None: no complete line)."""
        size = path.stat().st_size
        if size == 0:
            return None
        with open(path, "rb") as handle:
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return path
            handle.seek(0)
            data = handle.read(size)
        complete = data[: data.rfind(b"\n") + 1]
        if not complete:
            return None
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="genesis-logs-")
        copy = Path(self._scratch.name) / f"{len(list(Path(self._scratch.name).iterdir()))}.jsonl"
        copy.write_bytes(complete)
        return copy

    def _describe(self, path: Path) -> dict[str, str]:
        readable = self._complete_lines(path)
        if readable is None:
            return {}
        try:
            text = _run(self._sess, f"DESCRIBE file({sql_string(str(readable))}, 'JSONEachRow')")
        except _QueryFailed as exc:
            raise GenesisError(
                f"Expected {path} to hold one JSON object per line, but ClickHouse could not read it: {exc}. "
                f"Check that the file is a Genesis events log."
            ) from None
        columns = {}
        for line in text.splitlines():
            name, type_, *_ = line.split("\t")
            columns[name] = type_
        return columns

    def _infer_columns(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for path in self.files:
            for name, type_ in self._describe(path).items():
                if name not in merged:
                    merged[name] = type_
                elif merged[name] != type_:
                    merged[name] = "Nullable(String)"
        for name, type_ in STANDARD_COLUMNS.items():
            merged.setdefault(name, type_)
        merged.pop("results_dir", None)
        return merged

    def _create_view(self) -> None:
        structure = ", ".join(f"{identifier(n)} {t}" for n, t in self.columns.items())
        selects = [
            f"SELECT *, {sql_string(str(path.parent))} AS results_dir "
            f"FROM file({sql_string(str(path))}, 'JSONEachRow', {sql_string(structure)})"
            for path in self.files
        ]
        _run(self._sess, f"CREATE VIEW {TABLE} AS " + " UNION ALL ".join(selects))

    def query(self, sql: str, output: str = "table") -> str:
        """Run `sql` and return the result printed in `output` (table, json or csv)."""
        if output not in FORMATS:
            raise GenesisError(f"Expected an output format among {', '.join(FORMATS)}, but got '{output}'.")
        try:
            return _run(self._sess, sql, FORMATS[output])
        except _QueryFailed as exc:
            raise GenesisError(
                f"The query failed: {exc}. The table is `{TABLE}` with the columns "
                f"{', '.join(self.columns)}, results_dir (`genesis logs query 'DESCRIBE {TABLE}'` shows their types)."
            ) from None

    def rows(self, sql: str) -> list[dict]:
        """The result of `sql` as a list of dicts (for callers in Python)."""
        return json.loads(self.query(sql, "json") or "[]")

    def close(self) -> None:
        self._sess.close()
        if self._scratch is not None:
            self._scratch.cleanup()

    def __enter__(self) -> EventsTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
