"""`genesis show RESULTS_DIR --best | --program ID`: one program, its diff against its parent, metrics, feedback."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import click


def program_diff(parent_code: str, code: str, parent_id: int | None, program_id: int) -> str:
    """A unified diff from the parent to the program."""
    lines = difflib.unified_diff(
        parent_code.splitlines(keepends=True), code.splitlines(keepends=True),
        fromfile=f"program {parent_id}" if parent_id is not None else "(none)", tofile=f"program {program_id}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@click.command()
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--best", "best", is_flag=True, help="Show the best program (the default).")
@click.option("--program", "program_id", type=int, default=None, help="Show the program with this id.")
@click.option("--json", "as_json", is_flag=True, help="Print the program as JSON.")
@click.option("--database-url", default=None, help="The run's database, when run.json does not say it fully.")
@click.option("--run-id", default=None, help="Which run of a shared database (default: the folder's own).")
def show(results_dir: Path, best: bool, program_id: int | None, as_json: bool, database_url: str | None, run_id: str | None) -> None:
    """Show a program of the run in RESULTS_DIR: code, diff against its parent, metrics and feedback."""
    from genesis_core.errors import GenesisError
    from genesis_core.progress import fmt_score
    from genesis_core.results import open_results

    if best and program_id is not None:
        raise click.UsageError("Give --best or --program ID, not both.")
    opened = open_results(results_dir, database_url=database_url, run_id=run_id)
    try:
        db, rid = opened.db, opened.run_id
        run = db.get_run(rid)
        assert run is not None
        if program_id is None:
            record = db.best_program(rid, run.objective)
            if record is None:
                raise GenesisError(f"Run '{rid}' has no correct program yet, so there is no best one. Show one by id with --program ID.")
        else:
            record = db.get_program(program_id, rid)
            if record is None:
                raise GenesisError(
                    f"Run '{rid}' has no program {program_id}. Program ids are in `genesis export {results_dir} --format csv`."
                )
        parent = db.get_program(record.parent_id, rid) if record.parent_id is not None else None
        diff = program_diff(parent.code or "", record.code or "", parent.id, record.id) if parent is not None and record.code else ""
        calls = db.llm_calls_of(record.id)
        evaluations = db.evaluations_of(record.id)
    finally:
        opened.db.close()
    if as_json:
        data = record.as_dict()
        data.pop("embedding", None)
        data["diff"] = diff
        data["llm_calls"] = [
            {"id": c.id, "purpose": c.purpose, "model": c.model, "tokens_in": c.tokens_in, "tokens_out": c.tokens_out,
             "cost_usd": c.cost_usd, "latency_s": c.latency_s, "failure": c.failure, "reasoning": c.reasoning}
            for c in calls
        ]
        click.echo(json.dumps(data, indent=2, default=str))
        return
    title = "Best program" if program_id is None else "Program"
    state = "correct" if record.correct else "incorrect"
    if record.status == "pending":
        state = "unfinished (pending)"
    click.echo(f"{title} {record.id} of run '{rid}': score {fmt_score(record.score)}, {state}"
               + (f", failure: {record.failure}" if record.failure else ""))
    origin = f"parent {record.parent_id}" if record.parent_id is not None else "no parent"
    if record.second_parent_id is not None:
        origin += f" and {record.second_parent_id}"
    click.echo(f"  generation {record.generation}, island {record.island}, {record.patch_kind} by {record.model or '(task file)'}, {origin}")
    if record.inspiration_ids:
        click.echo(f"  inspirations: {', '.join(map(str, record.inspiration_ids))}")
    if record.duplicate_of is not None:
        click.echo(f"  same as / nearest to program {record.duplicate_of}")
    if record.metrics:
        click.echo("  metrics: " + ", ".join(f"{k}={fmt_score(v)}" for k, v in record.metrics.items()))
    timings = {k: v for k, v in (record.timings or {}).items() if v}
    if timings:
        click.echo("  timings: " + ", ".join(f"{k}={v:.3g}" for k, v in timings.items()))
    if calls:
        cost = sum(c.cost_usd for c in calls)
        click.echo(f"  LLM calls: {len(calls)} (${cost:.4f}, {sum(c.tokens_in for c in calls)} tokens in, "
                   f"{sum(c.tokens_out for c in calls)} out)")
    if evaluations:
        e = evaluations[-1]
        click.echo(f"  evaluated on {e['backend']} in {e['total_seconds']:.3g} s")
    if record.feedback:
        click.echo("\nFeedback:\n" + record.feedback.rstrip())
    if record.error:
        click.echo("\nError:\n" + record.error.rstrip())
    for name, text in (record.artifacts or {}).items():
        if text:
            click.echo(f"\nArtifact {name}:\n" + str(text).rstrip()[-2000:])
    if diff:
        click.echo(f"\nDiff against parent {record.parent_id}:\n" + diff.rstrip())
    if record.code is not None:
        click.echo("\nCode:\n" + record.code.rstrip())
