"""`genesis init DIR --language L`: write a working task folder to start from."""

from __future__ import annotations

from pathlib import Path

import click


def task_files(language_name: str) -> dict[str, str]:
    """The files of a new task in `language_name`, from the language plugin's template."""
    from genesis_core.blocks import find_blocks
    from genesis_core.config import CONFIG_FILE
    from genesis_core.errors import PluginError
    from genesis_core.plugins import get_host

    host = get_host()
    cls = host.get("languages", language_name)
    language = cls()
    files = language.task_template()
    source = host.registry.source_of("languages", language_name)
    by = f" (from {source.dist})" if source else ""
    if not files:
        raise PluginError(
            f"The language '{language_name}'{by} offers no task template, so `genesis init` cannot write a task for it. "
            f"Write the task by hand: a genesis.toml with [task] language = \"{language_name}\", an initial program with "
            f"'{cls.comment} EVOLVE-BLOCK-START' / '{cls.comment} EVOLVE-BLOCK-END' around the code that may change, and "
            f"evaluate.py (see `genesis init DIR --language python` for an example)."
        )
    files = dict(files)
    if CONFIG_FILE not in files:
        program = next((name for name in files if name.endswith(cls.extensions)), None)
        if program is None:
            raise PluginError(f"The task template of language '{language_name}'{by} holds no program file ({', '.join(cls.extensions)}).")
        files[CONFIG_FILE] = (
            f'[task]\nlanguage = "{language_name}"\ninitial_program = "{program}"\nevaluator = "evaluate.py"\n'
            f'objective = "maximize"\n\n[run]\nmax_evaluations = 50\n'
        )
    marked = [name for name, text in files.items() if name.endswith(cls.extensions) and f"{cls.comment} EVOLVE-BLOCK-START" in text]
    for name in marked:
        find_blocks(files[name], cls.comment, filename=name)
    if not marked or "evaluate.py" not in files:
        raise PluginError(
            f"The task template of language '{language_name}'{by} is incomplete: it needs a program with EVOLVE-BLOCK "
            f"markers and evaluate.py. Report this to the plugin's authors."
        )
    return files


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--language", "-l", default="python", show_default=True, help="A registered language (see `genesis plugins list --all`).")
@click.option("--force", is_flag=True, help="Write into a folder that is not empty (files of the same name are replaced).")
def init(directory: Path, language: str, force: bool) -> None:
    """Write a working task in DIRECTORY: genesis.toml, an initial program and an evaluator."""
    from genesis_core.errors import ConfigError

    if directory.exists() and any(directory.iterdir()) and not force:
        raise ConfigError(
            f"{directory} already exists and is not empty; `genesis init` writes a new task folder. Pick a new folder, "
            f"or pass --force to write the task's files into it."
        )
    files = task_files(language)
    for name, text in sorted(files.items()):
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    click.echo(f"Wrote a {language} task to {directory}: {', '.join(sorted(files))}.")
    click.echo(f"Next: genesis run {directory}")
