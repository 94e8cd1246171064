"""`genesis logs query` and `genesis logs ship`.

chdb and clickhouse-connect are imported inside the commands: every
`genesis` invocation imports this module to register them.
"""

from __future__ import annotations

from pathlib import Path

import click

from genesis_logs_clickhouse.event_files import EVENTS_FILE, find_event_files


@click.group()
def logs() -> None:
    """SQL over a run's events (events.jsonl), and shipping them to ClickHouse."""


@logs.command("query")
@click.argument("sql")
@click.argument("results_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format", "output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
    help="How to print the result.",
)
def query(sql: str, results_dirs: tuple[Path, ...], output: str) -> None:
    """Run ClickHouse SQL over the table `events` of RESULTS_DIRS (default: the current folder).

    Each line of events.jsonl is a row; its fields are the columns, plus
    `results_dir`. Runs in-process with chdb, no server needed. Example:

        genesis logs query "SELECT model, count() FROM events
        WHERE reasoning ILIKE '%segmentation fault%' GROUP BY model" results/circle_packing
    """
    from genesis_logs_clickhouse.query import EventsTable

    files = find_event_files(results_dirs or (Path("."),))
    with EventsTable(files) as table:
        text = table.query(sql, output)
    click.echo(text, nl=not text.endswith("\n"))


@logs.command("ship")
@click.argument("results_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--clickhouse", "url", required=True, envvar="GENESIS_CLICKHOUSE_URL",
              help="ClickHouse URL: http(s)://user:password@host:8123/database, or chdb:///path for an embedded store.")
@click.option("--table", default="events", show_default=True, help="Table to load into (created if missing).")
@click.option("--batch-size", type=click.IntRange(min=1), default=5000, show_default=True, help="Events per insert.")
@click.option("--follow", is_flag=True,
              help="Sidecar mode: keep shipping new events of the given results folders (each one run's) until their runs stop.")
@click.option("--interval", type=click.FloatRange(min=0.05), default=2.0, show_default=True,
              help="Seconds between reads of a growing file, with --follow.")
def ship(results_dirs: tuple[Path, ...], url: str, table: str, batch_size: int, follow: bool, interval: float) -> None:
    """Load the events of RESULTS_DIRS (default: the current folder) into a ClickHouse table.

    Shipping is idempotent: an event the table already holds is skipped, so
    running it twice, or restarting a sidecar, stores each event once.
    """
    from genesis_logs_clickhouse.shipping import EventFileReader, Shipper, connect, safe_url

    if follow:
        # A sidecar may start before the run has written its first event.
        files = [_events_path(p) for p in (results_dirs or (Path("."),))]
    else:
        files = find_event_files(results_dirs or (Path("."),))
    client = connect(url)
    try:
        shipper = Shipper(client, table=table, batch_size=batch_size)
        shipper.create_table()
        readers = [EventFileReader(path) for path in files]
        where = f"{safe_url(url)} table {table}"
        if follow:
            click.echo(f"Following {len(readers)} events file(s) into {where}; Ctrl-C stops.")
            shown = [0]

            def progress(report) -> None:
                if report.sent != shown[0]:
                    click.echo(f"  {report.sent} events shipped so far")
                    shown[0] = report.sent

            try:
                report = shipper.follow(readers, interval_s=interval, on_pass=progress)
            except KeyboardInterrupt:
                click.echo("Stopped; every complete batch was shipped.")
                return
        else:
            report = shipper.ship(readers)
    finally:
        client.close()
    click.echo(
        f"Shipped {report.sent} new events in {report.batches} batch(es) to {where} "
        f"({report.already_there} already there) from {len(report.files)} file(s)."
    )
    if report.skipped_lines:
        click.echo(f"Skipped {report.skipped_lines} line(s) that were not JSON objects.", err=True)


def _events_path(path: Path) -> Path:
    return path if path.suffix == ".jsonl" else path / EVENTS_FILE
