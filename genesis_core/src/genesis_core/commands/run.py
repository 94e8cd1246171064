"""`genesis run TASK_DIR`: evolve a task's program; run it again to resume."""

from __future__ import annotations

from pathlib import Path

import click


def resolve_results(task_dir: Path, config, results: Path | None):  # noqa: ANN001 - GenesisConfig, imported lazily
    """The run's results folder: --results, else [run] results_dir, else results/<task name> here."""
    from genesis_core.results import ResultsFolder

    if results is not None:
        return ResultsFolder(results)
    if config.run.results_dir:
        path = Path(config.run.results_dir)
        return ResultsFolder(path)
    return ResultsFolder(Path("results") / (config.task.name or task_dir.resolve().name))


def execute(task_dir: Path, config, results, *, quiet: bool = False):  # noqa: ANN001
    """Run the engine with a progress display and Ctrl-C handling; returns the final stats."""
    import asyncio

    from genesis_core.engine import Engine
    from genesis_core.progress import Progress

    engine = Engine(task_dir, config, results, handle_signals=True)
    progress = Progress(engine.stats, quiet=quiet)
    engine.listeners.append(progress)
    try:
        return asyncio.run(engine.run())
    finally:
        progress.close()


@click.command()
@click.argument("task_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("-s", "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a setting (repeatable).")
@click.option("--backend", default=None, help="Run evaluations on this backend (same as -s backend.name=NAME).")
@click.option("--strategy", default=None, help="Use this search strategy (same as -s strategy.name=NAME).")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Results folder (default: results/<task name> in the current folder).")
@click.option("--quiet", is_flag=True, help="Print only the final summary.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors (same as genesis --debug).")
def run(task_dir: Path, overrides: tuple[str, ...], backend: str | None, strategy: str | None, results: Path | None, quiet: bool,
        debug: bool) -> None:
    """Evolve the program of TASK_DIR.

    Stops at the first stop condition of [run] (evaluations, money, wall time,
    target score, stagnation) or at Ctrl-C. Running the same command again
    continues the run where it stopped, even after a kill.
    """
    from genesis_core.config import load_config
    from genesis_core.errors import ConfigError, GenesisError
    from genesis_core.progress import fmt_score

    if not task_dir.is_dir():
        raise ConfigError(
            f"No task folder at {task_dir}. A task folder holds genesis.toml, the initial program and the evaluator; "
            f"`genesis init {task_dir} --language python` writes a working one."
        )
    extra = list(overrides)
    if backend:
        extra.append(f"backend.name={backend}")
    if strategy:
        extra.append(f"strategy.name={strategy}")
    config = load_config(task_dir, extra)
    folder = resolve_results(task_dir, config, results)
    stats = execute(task_dir, config, folder, quiet=quiet)
    best = folder.root / f"best{_extension(config)}"
    click.echo(
        f"Run '{stats.run_id}' stopped ({stats.stop_reason}): {stats.evaluations} evaluations, best score "
        f"{fmt_score(stats.best_score)}, ${stats.cost_usd:.4f} spent."
    )
    if best.is_file():
        click.echo(f"Best program: {best}")
    click.echo(f"Details: genesis status {folder.root}   |   genesis show {folder.root} --best")
    if stats.stop_reason == "no_progress":
        click.echo("The last proposals produced nothing new to evaluate (duplicates, rejected or unappliable answers); "
                   "see `genesis status` for the failures by reason.")
    if stats.stop_reason == "interrupted":
        raise SystemExit(130)
    if stats.stop_reason == "llm_failing":
        raise GenesisError(
            f"The run stopped because every recent LLM call failed; the last one: {stats.last_llm_error.rstrip('.')}. Check the model "
            f"names in [llm] models, the API key and the endpoint; then run the same command again to continue."
        )


def _extension(config) -> str:  # noqa: ANN001
    from genesis_core.plugins import get_host

    try:
        return get_host().get("languages", config.task.language).extensions[0]
    except Exception:
        return ""
