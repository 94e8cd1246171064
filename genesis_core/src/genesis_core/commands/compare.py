"""`genesis compare TASK_DIR --strategies a,b,c --seeds N`: search strategies side by side.

Every strategy runs the same task with the same budget and the same seeds,
one run after the other, all in one shared database (`compare.db`: one run
per strategy and seed, each with its own results folder). Then it writes

- `comparison.md` / `comparison.csv` / `comparison.json`: per strategy, the
  best score (mean over seeds, and each seed's), the evaluations it took to
  reach it, the cost and the wall time;
- `comparison.svg`: the best score so far over evaluations, the mean over
  seeds per strategy (a plain SVG, drawn here: no plotting library needed).

Running the same command again resumes unfinished runs and skips finished ones.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import click

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


@dataclass
class SeedResult:
    seed: int
    run_id: str
    best_score: float | None
    evaluations_to_best: int | None
    evaluations: int
    cost_usd: float
    wall_seconds: float
    curve: list[float | None] = field(default_factory=list)  # best score so far after each evaluation


@dataclass
class StrategyResult:
    strategy: str
    seeds: list[SeedResult]

    def _values(self, attr: str) -> list[float]:
        return [getattr(s, attr) for s in self.seeds if getattr(s, attr) is not None]

    def summary(self) -> dict[str, Any]:
        best = self._values("best_score")
        reach = self._values("evaluations_to_best")
        return {
            "strategy": self.strategy,
            "best_score_mean": statistics.fmean(best) if best else None,
            "best_score_std": statistics.pstdev(best) if len(best) > 1 else 0.0 if best else None,
            "best_score_max": max(best) if best else None,
            "best_score_min": min(best) if best else None,
            "evaluations_to_best_mean": statistics.fmean(reach) if reach else None,
            "evaluations_mean": statistics.fmean(s.evaluations for s in self.seeds) if self.seeds else 0,
            "cost_usd_mean": statistics.fmean(s.cost_usd for s in self.seeds) if self.seeds else 0.0,
            "wall_seconds_mean": statistics.fmean(s.wall_seconds for s in self.seeds) if self.seeds else 0.0,
            "seeds": [s.seed for s in self.seeds],
            "per_seed_best": [s.best_score for s in self.seeds],
        }


def best_curve(history: list[tuple[int, float | None, bool, float]], maximize: bool) -> tuple[list[float | None], int | None]:
    """Best valid score after each evaluation, and the evaluation (1-based) that first reached the final best."""
    curve: list[float | None] = []
    best: float | None = None
    reached: int | None = None
    for index, (_seq, score, valid, _t) in enumerate(history, start=1):
        if valid and score is not None and (best is None or (score > best if maximize else score < best)):
            best, reached = score, index
        curve.append(best)
    return curve, reached


def mean_curve(curves: list[list[float | None]]) -> list[float | None]:
    """Pointwise mean of best-so-far curves; a curve shorter than the others holds its last value."""
    length = max((len(c) for c in curves), default=0)
    out: list[float | None] = []
    for i in range(length):
        values = [c[min(i, len(c) - 1)] for c in curves if c]
        values = [v for v in values if v is not None]
        out.append(statistics.fmean(values) if values else None)
    return out


# -- the plot --------------------------------------------------------------------------


def svg_plot(series: dict[str, list[float | None]], *, title: str, xlabel: str, ylabel: str, width: int = 720, height: int = 420) -> str:
    """A line plot of several series (x = 1..n) as a standalone SVG document."""
    left, right, top, bottom = 70, 160, 40, 50
    plot_w, plot_h = width - left - right, height - top - bottom
    points = [(i + 1, v) for values in series.values() for i, v in enumerate(values) if v is not None]
    xmax = max((x for x, _ in points), default=1)
    ys = [y for _, y in points]
    ymin, ymax = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if ymin == ymax:
        ymin, ymax = ymin - 0.5 * (abs(ymin) or 1.0), ymax + 0.5 * (abs(ymax) or 1.0)
    pad = 0.05 * (ymax - ymin)
    ymin, ymax = ymin - pad, ymax + pad

    def sx(x: float) -> float:
        return left + (x - 1) / max(xmax - 1, 1) * plot_w

    def sy(y: float) -> float:
        return top + (1 - (y - ymin) / (ymax - ymin)) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left + plot_w / 2}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>',
    ]
    for tick in _ticks(1, xmax, 6, integer=True):
        x = sx(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 5}" stroke="#333"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 18}" text-anchor="middle">{tick:g}</text>')
    for tick in _ticks(ymin, ymax, 6):
        y = sy(tick)
        parts.append(f'<line x1="{left - 5}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{tick:.4g}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 12}" text-anchor="middle">{escape(xlabel)}</text>')
    parts.append(f'<text x="16" y="{top + plot_h / 2}" text-anchor="middle" transform="rotate(-90 16 {top + plot_h / 2})">{escape(ylabel)}</text>')
    for index, (name, values) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        path: list[str] = []
        previous: float | None = None
        for i, v in enumerate(values):
            if v is None:
                continue
            x, y = sx(i + 1), sy(v)
            if not path:
                path.append(f"M{x:.1f},{y:.1f}")
            else:  # best-so-far is a step function
                path.append(f"H{x:.1f}" if previous == v else f"H{x:.1f}V{y:.1f}")
            previous = v
        if path:
            parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{color}" stroke-width="2"><title>{escape(name)}</title></path>')
        ly = top + 16 + 20 * index
        parts.append(f'<line x1="{left + plot_w + 15}" y1="{ly}" x2="{left + plot_w + 40}" y2="{ly}" stroke="{color}" stroke-width="3"/>')
        parts.append(f'<text x="{left + plot_w + 46}" y="{ly + 4}">{escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _ticks(low: float, high: float, count: int, integer: bool = False) -> list[float]:
    span = high - low
    if span <= 0:
        return [low]
    raw = span / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1, round(step))
    first = math.ceil(low / step) * step
    out = []
    value = first
    while value <= high + 1e-12 * abs(high):
        out.append(round(value, 12))
        value += step
    return out


# -- the table ---------------------------------------------------------------------------


def markdown_table(rows: list[dict[str, Any]], objective: str) -> str:
    def f(value: Any, digits: str = ".6g") -> str:
        return "-" if value is None else format(value, digits)

    lines = [
        "| strategy | best score (mean ± sd over seeds) | best per seed | evaluations to reach best (mean) | cost USD (mean) | wall s (mean) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        per_seed = ", ".join(f(v) for v in r["per_seed_best"])
        lines.append(
            f"| {r['strategy']} | {f(r['best_score_mean'])} ± {f(r['best_score_std'], '.3g')} | {per_seed} | "
            f"{f(r['evaluations_to_best_mean'], '.1f')} | {r['cost_usd_mean']:.4f} | {r['wall_seconds_mean']:.1f} |"
        )
    return "\n".join(lines) + f"\n\nScores: {objective} (best is {'highest' if objective == 'maximize' else 'lowest'}).\n"


def collect(db: Any, strategy: str, seeds: list[int], run_ids: dict[tuple[str, int], str], maximize: bool) -> StrategyResult:
    results = []
    for seed in seeds:
        run_id = run_ids[(strategy, seed)]
        run = db.get_run(run_id)
        history = db.score_history(run_id)
        curve, reached = best_curve(history, maximize)
        totals = db.totals(run_id)
        results.append(SeedResult(
            seed=seed, run_id=run_id, best_score=curve[-1] if curve else None, evaluations_to_best=reached,
            evaluations=len(history), cost_usd=totals.cost_usd, wall_seconds=run.wall_seconds if run else 0.0, curve=curve,
        ))
    return StrategyResult(strategy, results)


@click.command()
@click.argument("task_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--strategies", default="islands,map-elites,funsearch", show_default=True, help="Comma-separated strategy names.")
@click.option("--seeds", type=click.IntRange(1), default=3, show_default=True, help="Runs per strategy, with seeds seed, seed+1, ...")
@click.option("--evaluations", type=click.IntRange(1), default=None, help="Budget of each run (default: [run] max_evaluations).")
@click.option("-s", "--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a setting for every run.")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the comparison (default: results/<task name>-compare).")
@click.option("--quiet", is_flag=True, help="Print only the table.")
def compare(task_dir: Path, strategies: str, seeds: int, evaluations: int | None, overrides: tuple[str, ...], results: Path | None,
            quiet: bool) -> None:
    """Run several search strategies on TASK_DIR with the same budget and seeds; write a table and a plot."""
    from genesis_core.commands.run import execute
    from genesis_core.config import load_config, plugin_settings
    from genesis_core.database import Database, sqlite_url
    from genesis_core.errors import ConfigError
    from genesis_core.plugins import get_host
    from genesis_core.results import ResultsFolder

    if not task_dir.is_dir():
        raise ConfigError(f"No task folder at {task_dir}. `genesis init {task_dir} --language python` writes a working one.")
    names = [n.strip() for n in strategies.split(",") if n.strip()]
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"--strategies '{strategies}' must name one or more different strategies, separated by commas.")
    host = get_host()
    base = load_config(task_dir, overrides)
    budget = evaluations or base.run.max_evaluations
    if budget is None:
        raise ConfigError("A comparison needs an evaluation budget: set [run] max_evaluations or pass --evaluations N.")
    root = results or Path("results") / f"{base.task.name or task_dir.resolve().name}-compare"
    root.mkdir(parents=True, exist_ok=True)
    db_url = base.run.database_url or sqlite_url(root / "compare.db")
    seed_list = [base.run.seed + k for k in range(seeds)]
    run_ids: dict[tuple[str, int], str] = {}
    configs = {}
    for name in names:  # every configuration is checked before the first run starts
        for seed in seed_list:
            run_id = f"{name}-seed{seed}"
            run_ids[(name, seed)] = run_id
            config = load_config(task_dir, [*overrides, f"strategy.name={name}", f"run.seed={seed}", f"run.max_evaluations={budget}",
                                            f"run.run_id={run_id}"])
            config.run.database_url = db_url
            strategy_cls = host.get("strategies", name)
            plugin_settings(config, "strategy", name, strategy_cls.Settings)
            configs[(name, seed)] = config
    for name in names:
        for seed in seed_list:
            run_id = run_ids[(name, seed)]
            if not quiet:
                click.echo(f"== {name}, seed {seed} ({budget} evaluations)", err=True)
            stats = execute(task_dir, configs[(name, seed)], ResultsFolder(root / run_id), quiet=quiet)
            if stats.stop_reason == "interrupted":
                raise SystemExit(130)

    maximize = base.task.objective == "maximize"
    with Database(db_url, create=False) as db:
        outcome = [collect(db, name, seed_list, run_ids, maximize) for name in names]
    rows = [r.summary() for r in outcome]
    table = markdown_table(rows, base.task.objective)
    (root / "comparison.md").write_text(f"# {base.task.name}: {', '.join(names)}, seeds {seed_list}, {budget} evaluations each\n\n{table}")
    with open(root / "comparison.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[k for k in rows[0] if k not in ("seeds", "per_seed_best")] + ["per_seed_best"])
        writer.writeheader()
        for row in rows:
            writer.writerow({**{k: v for k, v in row.items() if k != "seeds"}, "per_seed_best": json.dumps(row["per_seed_best"])})
    (root / "comparison.json").write_text(json.dumps({
        "task": base.task.name, "budget": budget, "seeds": seed_list, "objective": base.task.objective, "strategies": rows,
        "curves": {r.strategy: {s.run_id: s.curve for s in r.seeds} for r in outcome},
    }, indent=2))
    series = {r.strategy: mean_curve([s.curve for s in r.seeds]) for r in outcome}
    (root / "comparison.svg").write_text(svg_plot(
        series, title=f"{base.task.name}: best score over evaluations (mean of {seeds} seed{'s' if seeds > 1 else ''})",
        xlabel="evaluations", ylabel="best score so far",
    ))
    click.echo(table)
    click.echo(f"Table: {root / 'comparison.md'}   Plot: {root / 'comparison.svg'}")
