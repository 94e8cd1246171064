"""The `genesis` command.

Core commands live in `genesis_core.commands.*`; plugins add theirs through the
`register_commands` hook. Errors the user can fix (`GenesisError`) print as
one paragraph with exit code 2 and no traceback unless `--debug` is given.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import click

from genesis_core import __version__
from genesis_core.errors import GenesisError

# module:attribute of each core command, in the order `--help` lists them.
CORE_COMMANDS = (
    "genesis_core.commands.run:run",
    "genesis_core.commands.init:init",
    "genesis_core.commands.status:status",
    "genesis_core.commands.show:show",
    "genesis_core.commands.export:export",
    "genesis_core.commands.compare:compare",
    "genesis_core.commands.plugins:plugins",
    "genesis_core.commands.config:config",
    "genesis_core.commands.doctor:doctor",
)

_debug = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="genesis", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, envvar="GENESIS_DEBUG", help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """Genesis: LLM-driven code evolution in any language, on any backend.

    Start with `genesis init my_task --language python`, then `genesis run my_task`.
    """
    global _debug
    _debug = debug or _debug


def _add_core_commands() -> None:
    for spec in CORE_COMMANDS:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # that command is not part of this build
                continue
            raise
        cli.add_command(getattr(module, attr))


def build_cli() -> click.Group:
    """The command group with core and plugin commands (plugins load here)."""
    from genesis_core.plugins import get_host

    if not cli.commands:
        _add_core_commands()
        host = get_host()
        host.add_commands(cli)
        for line in host.load_errors():
            click.echo(line, err=True)
    return cli


def main(argv: list[str] | None = None) -> None:
    global _debug
    args = sys.argv[1:] if argv is None else argv
    _debug = "--debug" in args or os.environ.get("GENESIS_DEBUG", "").lower() in {"1", "true", "yes"}
    try:
        group = build_cli()
        rc = group.main(args=args, prog_name="genesis", standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except GenesisError as exc:
        if _debug:
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:
        if _debug:
            raise
        click.echo(
            f"Internal error: {type(exc).__name__}: {exc}. This is a bug in Genesis or a plugin; "
            f"run again with --debug for the traceback and report it.",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
