"""The entry point: adds `genesis logs` (query, ship) to the CLI."""

from __future__ import annotations

from genesis_core.hookspecs import hookimpl


@hookimpl
def register_commands(cli):
    from genesis_logs_clickhouse.commands import logs

    cli.add_command(logs)
