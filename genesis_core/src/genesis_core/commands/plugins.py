"""`genesis plugins list` and `genesis plugins new`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from genesis_core.plugins import PluginHost, get_host

KINDS_SHOWN = ("languages", "backends", "llm_providers", "strategies", "commands")


def describe_plugins(host: PluginHost, *, include_builtins: bool, hook: str | None) -> list[dict]:
    """One object per distribution: what `plugins list --json` prints."""
    registry = host.registry
    by_dist: dict[str, dict] = {}
    for info in host.plugins:
        if info.builtin and not include_builtins:
            continue
        entry = by_dist.setdefault(
            info.dist,
            {
                "name": info.dist,
                "version": info.version,
                "builtin": info.builtin,
                "hooks": set(),
                "provides": {},
                "entry_points": [],
                "status": "ok",
                "error": None,
            },
        )
        entry["hooks"].update(info.hooks)
        entry["entry_points"].append({"name": info.entry_point, "module": info.module, "status": info.status, "error": info.error})
        if info.status != "ok" and entry["status"] == "ok":
            entry["status"], entry["error"] = info.status, info.error
        elif info.status == "broken" and entry["error"] != info.error:
            entry["error"] = "; ".join(filter(None, [entry["error"], info.error]))
    for dist, entry in by_dist.items():
        provides = registry.provided_by(dist)
        commands = host.commands_by_dist.get(dist)
        if commands:
            provides["commands"] = commands
        entry["provides"] = provides
        entry["hooks"] = sorted(entry["hooks"])
    rows = sorted(by_dist.values(), key=lambda e: (not e["builtin"], e["name"]))
    if hook:
        rows = [r for r in rows if hook in r["hooks"]]
    return rows


@click.group()
def plugins() -> None:
    """List installed plugins, or start a new one."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
@click.option("--all", "include_builtins", is_flag=True, help="Include genesis-core's built-ins.")
@click.option("--hook", default=None, help="Only plugins implementing this hook.")
def list_plugins(as_json: bool, include_builtins: bool, hook: str | None) -> None:
    """Installed plugins, what they provide, and any that failed to load."""
    rows = describe_plugins(get_host(), include_builtins=include_builtins, hook=hook)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No plugins installed besides genesis-core's built-ins (use --all to list them).")
        return
    for row in rows:
        label = f"{row['name']} {row['version']}"
        status = "" if row["status"] == "ok" else f"  [{row['status'].upper()}]"
        click.echo(f"{label}{status}")
        for kind in KINDS_SHOWN:
            if names := row["provides"].get(kind):
                click.echo(f"  {kind.replace('_', ' ')}: {', '.join(names)}")
        if row["hooks"]:
            click.echo(f"  hooks: {', '.join(row['hooks'])}")
        if row["error"]:
            click.echo(f"  error: {row['error']}")


@plugins.command("new")
@click.argument("name")
@click.option("--kind", type=click.Choice(["language", "backend", "llm", "strategy"]), required=True, help="What the plugin provides.")
@click.option("--dir", "parent", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True, help="Where to create the package folder.")
def new_plugin(name: str, kind: str, parent: Path) -> None:
    """Create a plugin package NAME (a distribution name, e.g. genesis-lang-zig) from the template."""
    from genesis_core.scaffold import scaffold_plugin

    folder = scaffold_plugin(name, kind, parent)
    click.echo(f"Created {folder}. Next: pip install -e {folder} && genesis plugins list && pytest {folder}")
