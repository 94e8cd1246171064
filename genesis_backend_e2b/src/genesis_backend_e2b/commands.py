"""`genesis e2b ...`: sandbox templates for the e2b backend."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def e2b() -> None:
    """E2B sandboxes: the templates evaluations run in."""


@e2b.group()
def template() -> None:
    """List, show and build sandbox templates."""


@template.command("list")
def list_templates() -> None:
    """The templates Genesis ships (use one with [backend.e2b] template = NAME)."""
    from genesis_backend_e2b.sandbox_templates import builtin_templates

    for definition in builtin_templates():
        click.echo(f"{definition.name:16} {definition.summary()}")


@template.command("show")
@click.argument("name")
def show_template(name: str) -> None:
    """Print a template's e2b.Dockerfile and where it lives (a start for your own)."""
    from genesis_backend_e2b.sandbox_templates import find_template

    definition = find_template(name)
    click.echo(f"# {definition.dockerfile}")
    click.echo(definition.dockerfile.read_text(), nl=False)


@template.command("build")
@click.argument("name")
@click.option("--as", "alias", default=None, help="Name to register the template under in E2B (default: NAME, or the folder's name).")
@click.option("--wheels", "wheels", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="A .whl or a folder of them to install instead of PyPI releases (repeatable).")
@click.option("--cpu", "cpu_count", type=int, default=None, help="CPUs of each sandbox.")
@click.option("--memory-mb", type=int, default=None, help="Memory of each sandbox, in MiB.")
@click.option("--skip-cache", is_flag=True, help="Rebuild every step.")
@click.option("--dry-run", is_flag=True, help="Check the definition with E2B's parser and print its steps; build nothing.")
def build_template(name: str, alias: str | None, wheels: tuple[Path, ...], cpu_count: int | None,
                   memory_mb: int | None, skip_cache: bool, dry_run: bool) -> None:
    """Build NAME (a built-in template or a folder with an e2b.Dockerfile) and register it in E2B."""
    from genesis_backend_e2b import sandbox_templates as st

    definition = st.find_template(name)
    if dry_run:
        with st.staged_context(definition, list(wheels)) as context:
            steps = st.describe(st.load_template(context))
        click.echo(f"# {definition.name} ({definition.dockerfile}), as E2B will build it:")
        click.echo(steps, nl=False)
        return
    info = st.build(definition, name=alias, wheels=list(wheels), cpu_count=cpu_count, memory_mb=memory_mb,
                    skip_cache=skip_cache, log=click.echo)
    registered = alias or definition.name
    click.echo(f"Built and registered the E2B template '{registered}' (template id {info.template_id}, build {info.build_id}).")
    click.echo(f'Use it with:  [backend.e2b] template = "{registered}"')
