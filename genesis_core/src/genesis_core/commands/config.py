"""`genesis config schema` and `genesis config show`."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def config() -> None:
    """Inspect the configuration format and a task's resolved configuration."""


@config.command("schema")
def schema() -> None:
    """Print the JSON Schema of genesis.toml."""
    from genesis_core.config import config_schema

    click.echo(json.dumps(config_schema(), indent=2))


@config.command("show")
@click.argument("task_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("-s", "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a setting.")
def show(task_dir: Path, overrides: tuple[str, ...]) -> None:
    """Print TASK_DIR's configuration after GENESIS_* variables and -s overrides, as JSON."""
    from genesis_core.config import load_config

    click.echo(json.dumps(load_config(task_dir, overrides).model_dump(mode="json"), indent=2))
