"""`genesis status RESULTS_DIR`: where a run stands (progress, best score, cost, throughput)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def run_status(results_dir: Path, *, database_url: str | None = None, run_id: str | None = None) -> dict[str, Any]:
    """The numbers `genesis status` shows, as a dict (also its --json output)."""
    from genesis_core.results import open_results

    opened = open_results(results_dir, database_url=database_url, run_id=run_id)
    try:
        db, rid = opened.db, opened.run_id
        run = db.get_run(rid)
        assert run is not None
        totals = db.totals(rid)
        best = db.best_program(rid, run.objective)
        budget = (run.config.get("run") or {}).get("max_evaluations")
        wall = run.wall_seconds or 0.0
        return {
            "run_id": rid,
            "task": run.task_name,
            "status": run.status,
            "stop_reason": run.stop_reason,
            "language": run.language,
            "strategy": run.strategy,
            "objective": run.objective,
            "evaluations": totals.evaluations,
            "max_evaluations": budget,
            "programs": totals.programs,
            "pending": totals.pending,
            "valid": totals.valid,
            "failures": dict(sorted(totals.failures.items(), key=lambda kv: -kv[1])),
            "best": None if best is None else {
                "program_id": best.id, "score": best.score, "generation": best.generation, "seq": best.seq, "model": best.model,
            },
            "cost_usd": round(totals.cost_usd, 6),
            "llm_calls": totals.llm_calls,
            "tokens_in": totals.tokens_in,
            "tokens_out": totals.tokens_out,
            "wall_seconds": round(wall, 3),
            "evaluations_per_second": round(totals.evaluations / wall, 4) if wall > 0 else None,
            "genesis_version": opened.meta.get("genesis_version"),
            "results": str(opened.folder.root),
        }
    finally:
        opened.db.close()


@click.command()
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--database-url", default=None, help="The run's database, when run.json does not say it fully.")
@click.option("--run-id", default=None, help="Which run of a shared database (default: the folder's own).")
def status(results_dir: Path, as_json: bool, database_url: str | None, run_id: str | None) -> None:
    """Progress, best score, cost and throughput of the run in RESULTS_DIR."""
    from genesis_core.progress import fmt_duration, fmt_score

    info = run_status(results_dir, database_url=database_url, run_id=run_id)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    state = info["status"] + (f" ({info['stop_reason']})" if info["stop_reason"] else "")
    budget = f" of {info['max_evaluations']}" if info["max_evaluations"] else ""
    click.echo(f"Run '{info['run_id']}' of task {info['task']}: {state}")
    click.echo(f"  {info['language']}, strategy {info['strategy']}, {info['objective']} the score")
    rejected = info["programs"] - info["evaluations"] - info["pending"]
    click.echo(
        f"  evaluations: {info['evaluations']}{budget} ({info['valid']} valid); programs: {info['programs']} "
        f"({rejected} settled without evaluation, {info['pending']} unfinished)"
    )
    best = info["best"]
    if best:
        click.echo(f"  best score: {fmt_score(best['score'])} (program {best['program_id']}, generation {best['generation']})")
    else:
        click.echo("  best score: none yet (no correct program)")
    click.echo(
        f"  cost: ${info['cost_usd']:.4f} over {info['llm_calls']} LLM calls ({info['tokens_in']} tokens in, {info['tokens_out']} out)"
    )
    rate = info["evaluations_per_second"]
    click.echo(f"  wall time: {fmt_duration(info['wall_seconds'])}" + (f", {rate:.3g} evaluations/s" if rate else ""))
    if info["failures"]:
        click.echo("  failures: " + ", ".join(f"{k} {v}" for k, v in info["failures"].items()))
