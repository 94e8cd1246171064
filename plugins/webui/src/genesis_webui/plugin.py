"""The entry point: adds `genesis ui` to the CLI."""

from __future__ import annotations

from genesis_core.hookspecs import hookimpl


@hookimpl
def register_commands(cli):
    from genesis_webui.command import ui

    cli.add_command(ui)
