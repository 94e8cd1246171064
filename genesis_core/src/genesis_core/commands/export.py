"""`genesis export RESULTS_DIR --format csv|json`: every program of a run, for analysis elsewhere."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import click

COLUMNS = (
    "id", "seq", "status", "parent_id", "second_parent_id", "inspiration_ids", "island", "generation", "patch_kind", "model",
    "language", "score", "correct", "failure", "error", "metrics", "feedback", "timings", "duplicate_of", "created_at", "finished_at",
)


def _row(record: Any, with_code: bool) -> dict[str, Any]:
    data = {name: getattr(record, name) for name in COLUMNS}
    if with_code:
        data["code"] = record.code
    return data


def write_csv(records: Any, out: TextIO, with_code: bool) -> int:
    columns = list(COLUMNS) + (["code"] if with_code else [])
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    n = 0
    for record in records:
        row = _row(record, with_code)
        for key in ("inspiration_ids", "metrics", "timings"):
            row[key] = json.dumps(row[key], sort_keys=True)
        writer.writerow(row)
        n += 1
    return n


def write_json(records: Any, out: TextIO, with_code: bool, run: dict[str, Any]) -> int:
    """One JSON document, streamed: {"run": ..., "programs": [...]}."""
    out.write('{"run": ' + json.dumps(run, default=str) + ', "programs": [\n')
    n = 0
    for record in records:
        out.write((",\n" if n else "") + json.dumps(_row(record, with_code), default=str))
        n += 1
    out.write("\n]}\n")
    return n


@click.command()
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here instead of standard output.")
@click.option("--code/--no-code", "with_code", default=True, show_default=True, help="Include each program's code.")
@click.option("--database-url", default=None, help="The run's database, when run.json does not say it fully.")
@click.option("--run-id", default=None, help="Which run of a shared database (default: the folder's own).")
def export(results_dir: Path, fmt: str, output: Path | None, with_code: bool, database_url: str | None, run_id: str | None) -> None:
    """Export every program of the run in RESULTS_DIR (code, lineage, scores, metrics, feedback)."""
    from genesis_core.results import open_results

    opened = open_results(results_dir, database_url=database_url, run_id=run_id)
    try:
        records = opened.db.iter_programs(opened.run_id, with_code=with_code)
        run = opened.db.get_run(opened.run_id)
        assert run is not None
        handle = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
        try:
            if fmt == "csv":
                n = write_csv(records, handle, with_code)
            else:
                info = {"id": run.id, "task": run.task_name, "status": run.status, "stop_reason": run.stop_reason,
                        "objective": run.objective, "seed": run.seed, "config": run.config}
                n = write_json(records, handle, with_code, info)
        finally:
            if output:
                handle.close()
    finally:
        opened.db.close()
    if output:
        click.echo(f"Wrote {n} programs to {output}.", err=True)
