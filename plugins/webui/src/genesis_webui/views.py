"""What each part of the page shows, read from a run's database as JSON-able dicts.

Built on genesis_core.database: its `Database` queries where one exists, and
its table definitions for the few light selects the page needs (columns of
every program without the code, costs without the prompts). Nothing here
writes.
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa
from genesis_core.database import Database, RunRecord, evaluations, llm_calls, programs

from genesis_webui.catalog import RunRef
from genesis_webui.highlight import code_html, diff_html, unified_diff

# Texts longer than this are cut in the program view (a runaway build log must not freeze the page).
MAX_TEXT = 200_000

_NODE_COLUMNS = (
    programs.c.id, programs.c.seq, programs.c.parent_id, programs.c.second_parent_id, programs.c.island,
    programs.c.generation, programs.c.score, programs.c.correct, programs.c.failure, programs.c.model,
    programs.c.patch_kind, programs.c.finished_at,
)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _cut(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"\n... ({len(text) - MAX_TEXT} more characters)"


def is_valid(score: float | None, correct: bool, failure: str | None) -> bool:
    """A program that can be the best: no failure, correct, a finite score."""
    return failure is None and bool(correct) and _finite(score) is not None


def better(a: float, b: float, objective: str) -> bool:
    return a < b if objective == "minimize" else a > b


# -- runs ---------------------------------------------------------------------------


def run_summary(db: Database, ref: RunRef, run: RunRecord) -> dict[str, Any]:
    """The run's header: what it is, where it stands, what it cost, its best program."""
    totals = db.totals(run.id)
    best = db.best_program(run.id, run.objective)
    return {
        "key": ref.key,
        "run_id": run.id,
        "folder": str(ref.folder),
        "task": run.task_name,
        "status": run.status,
        "stop_reason": run.stop_reason,
        "objective": run.objective,
        "language": run.language,
        "strategy": run.strategy,
        "genesis_version": run.genesis_version,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "finished_at": run.finished_at,
        "wall_seconds": run.wall_seconds,
        "programs": totals.programs - totals.pending,
        "pending": totals.pending,
        "evaluations": totals.evaluations,
        "valid": totals.valid,
        "llm_calls": totals.llm_calls,
        "cost_usd": totals.cost_usd,
        "tokens_in": totals.tokens_in,
        "tokens_out": totals.tokens_out,
        "best": {"id": best.id, "score": _finite(best.score), "seq": best.seq} if best else None,
    }


def progress(db: Database, run: RunRecord) -> list[dict[str, Any]]:
    """One point per evaluation, in the order they finished: its score, the best so far, the money spent so far."""
    with db.connection() as conn:
        evals = conn.execute(
            sa.select(evaluations.c.program_id, evaluations.c.score, evaluations.c.correct, evaluations.c.failure,
                      evaluations.c.finished_at)
            .where(evaluations.c.run_id == run.id)
            .order_by(evaluations.c.finished_at, evaluations.c.id)
        ).all()
        costs = conn.execute(
            sa.select(llm_calls.c.created_at, llm_calls.c.cost_usd)
            .where(llm_calls.c.run_id == run.id)
            .order_by(llm_calls.c.created_at, llm_calls.c.id)
        ).all()
    points = []
    best: float | None = None
    spent = 0.0
    call = 0
    for n, row in enumerate(evals, start=1):
        while call < len(costs) and costs[call].created_at <= row.finished_at:
            spent += costs[call].cost_usd or 0.0
            call += 1
        valid = is_valid(row.score, row.correct, row.failure)
        if valid and (best is None or better(row.score, best, run.objective)):
            best = row.score
        points.append({
            "n": n, "program_id": row.program_id, "score": _finite(row.score), "valid": valid,
            "best": best, "cost_usd": round(spent, 8), "t": row.finished_at,
        })
    return points


def tree(db: Database, run_id: str, since: float | None = None) -> list[dict[str, Any]]:
    """The finished programs (without code) for the genealogy tree; with `since`, those finished at or after it."""
    query = sa.select(*_NODE_COLUMNS).where(programs.c.run_id == run_id, programs.c.status == "done")
    if since is not None:
        query = query.where(programs.c.finished_at >= since)
    with db.connection() as conn:
        rows = conn.execute(query.order_by(programs.c.seq)).all()
    return [
        {
            "id": r.id, "seq": r.seq, "parent": r.parent_id, "second_parent": r.second_parent_id, "island": r.island,
            "generation": r.generation, "score": _finite(r.score), "valid": is_valid(r.score, r.correct, r.failure),
            "failure": r.failure, "model": r.model, "patch_kind": r.patch_kind, "finished_at": r.finished_at,
        }
        for r in rows
    ]


def change_marker(db: Database, run_id: str) -> tuple:
    """A cheap fingerprint that changes whenever the run's page would (new programs, status, state)."""
    with db.connection() as conn:
        done = conn.execute(
            sa.select(sa.func.count(), sa.func.max(programs.c.finished_at))
            .where(programs.c.run_id == run_id, programs.c.status == "done")
        ).one()
    run = db.get_run(run_id)
    return (done[0], done[1], run.status if run else None, run.updated_at if run else None)


# -- one program ----------------------------------------------------------------------


def program(db: Database, run: RunRecord, program_id: int) -> dict[str, Any] | None:
    """Everything about one program: code, diff against its parent, results, the LLM calls that made it."""
    record = db.get_program(program_id, run.id)
    if record is None:
        return None
    parent = db.get_program(record.parent_id, run.id) if record.parent_id is not None else None
    code = record.code or ""
    diff = ""
    if parent is not None and parent.code is not None and record.code is not None:
        diff = unified_diff(parent.code, code, f"program {parent.id}", f"program {record.id}")
    with db.connection() as conn:
        evaluation = conn.execute(
            sa.select(evaluations).where(evaluations.c.program_id == record.id).order_by(evaluations.c.id.desc()).limit(1)
        ).first()
    calls = []
    for call in db.llm_calls_of(record.id):
        calls.append({
            "id": call.id, "purpose": call.purpose, "model": call.model,
            "prompt": [{"role": m.get("role", ""), "content": _cut(m.get("content", ""))} for m in call.prompt],
            "response": _cut(call.response), "reasoning": _cut(call.reasoning),
            "tokens_in": call.tokens_in, "tokens_out": call.tokens_out, "cost_usd": call.cost_usd,
            "latency_s": call.latency_s, "attempts": call.attempts, "failure": call.failure, "error": _cut(call.error),
        })
    children = []
    with db.connection() as conn:
        children = [r[0] for r in conn.execute(
            sa.select(programs.c.id).where(programs.c.run_id == run.id, programs.c.parent_id == record.id)
            .order_by(programs.c.seq)
        )]
    return {
        "id": record.id, "seq": record.seq, "status": record.status, "island": record.island,
        "generation": record.generation, "patch_kind": record.patch_kind, "model": record.model,
        "language": record.language, "score": _finite(record.score), "correct": record.correct,
        "valid": record.valid, "failure": record.failure, "error": _cut(record.error),
        "metrics": record.metrics, "feedback": _cut(record.feedback),
        "artifacts": {k: _cut(v) for k, v in (record.artifacts or {}).items()},
        "timings": record.timings,
        "parent_id": record.parent_id, "second_parent_id": record.second_parent_id,
        "inspiration_ids": record.inspiration_ids, "children": children,
        "parent_score": _finite(parent.score) if parent else None,
        "code": code, "code_html": code_html(code, record.language),
        "diff": diff, "diff_html": diff_html(diff),
        "evaluation": None if evaluation is None else {
            "backend": evaluation.backend, "ok": evaluation.ok, "build_seconds": evaluation.build_seconds,
            "eval_seconds": evaluation.eval_seconds, "total_seconds": evaluation.total_seconds,
        },
        "llm_calls": calls,
    }


# -- failures, models, strategy ---------------------------------------------------------


def failures(db: Database, run_id: str) -> dict[str, Any]:
    """Programs by failure reason, and failed LLM calls by reason."""
    totals = db.totals(run_id)
    with db.connection() as conn:
        llm = conn.execute(
            sa.select(llm_calls.c.failure, sa.func.count())
            .where(llm_calls.c.run_id == run_id, llm_calls.c.failure.is_not(None))
            .group_by(llm_calls.c.failure)
        ).all()
    by_reason = sorted(totals.failures.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "programs": [{"reason": reason, "count": count} for reason, count in by_reason],
        "finished": totals.programs - totals.pending,
        "llm_calls": [{"reason": reason, "count": count} for reason, count in sorted(llm, key=lambda r: -r[1])],
    }


def models(db: Database, run: RunRecord) -> dict[str, Any]:
    """Per model: calls, tokens, cost, latency, and what its programs gave; plus the bandit's preferences."""
    with db.connection() as conn:
        usage = conn.execute(
            sa.select(
                llm_calls.c.model, sa.func.count(), sa.func.sum(llm_calls.c.tokens_in), sa.func.sum(llm_calls.c.tokens_out),
                sa.func.sum(llm_calls.c.cost_usd), sa.func.avg(llm_calls.c.latency_s),
                sa.func.sum(sa.case((llm_calls.c.failure.is_not(None), 1), else_=0)),
            ).where(llm_calls.c.run_id == run.id).group_by(llm_calls.c.model)
        ).all()
        produced = conn.execute(
            sa.select(programs.c.model, sa.func.count(),
                      sa.func.sum(sa.case((sa.and_(programs.c.failure.is_(None), programs.c.correct.is_(True),
                                                   programs.c.score.is_not(None)), 1), else_=0)))
            .where(programs.c.run_id == run.id, programs.c.status == "done", programs.c.model.is_not(None))
            .group_by(programs.c.model)
        ).all()
    programs_by_model = {m: (n, int(v or 0)) for m, n, v in produced}
    rows = []
    for model, calls, tin, tout, cost, latency, failed in usage:
        made, valid = programs_by_model.get(model, (0, 0))
        rows.append({
            "model": model, "calls": calls, "tokens_in": int(tin or 0), "tokens_out": int(tout or 0),
            "cost_usd": float(cost or 0.0), "mean_latency_s": float(latency or 0.0), "failed_calls": int(failed or 0),
            "programs": made, "valid_programs": valid,
        })
    rows.sort(key=lambda r: -r["calls"])
    return {"usage": rows, "selector": selector_preferences(run)}


def _find_selector(state: Any) -> dict[str, Any] | None:
    """The model selector's saved state (`{"kind", "arms"}`) wherever the run's state keeps it."""
    if isinstance(state, dict):
        if "kind" in state and isinstance(state.get("arms"), dict):
            return state
        for key in ("llm", "selector", "llm_client"):
            found = _find_selector(state.get(key))
            if found is not None:
                return found
    return None


def selector_preferences(run: RunRecord) -> dict[str, Any] | None:
    """How the model selector currently leans, from the state saved with the run (None before there is one).

    For the bandits a model's preference is its estimated improvement rate
    (Beta(1+improvements, 1+misses) mean) per relative cost, the quantity
    they rank models by; for fixed weights it is the configured weight.
    Both are normalised to sum to 1.
    """
    state = _find_selector(run.state or {})
    if state is None:
        return None
    from genesis_core.ensemble import Arm

    arms = {m: Arm(int(a.get("pulls", 0)), int(a.get("improvements", 0)), float(a.get("cost_usd", 0.0)))
            for m, a in state["arms"].items()}
    kind = state.get("kind", "")
    if kind == "fixed":
        weights = _configured_weights(run) or {m: 1.0 for m in arms}
        raw = {m: float(weights.get(m, 0.0)) for m in arms}
    else:
        known = [a.cost_per_call for a in arms.values() if a.pulls and a.cost_per_call > 0]
        cheapest = min(known) if known else None
        raw = {}
        for model, arm in arms.items():
            relative = arm.cost_per_call / cheapest if cheapest and arm.pulls and arm.cost_per_call > 0 else 1.0
            raw[model] = (1 + arm.improvements) / (2 + arm.pulls) / relative
    total = sum(raw.values()) or 1.0
    return {
        "kind": kind,
        "models": [
            {"model": m, "pulls": a.pulls, "improvements": a.improvements, "cost_usd": a.cost_usd,
             "improvement_rate": a.rate, "preference": raw[m] / total}
            for m, a in sorted(arms.items(), key=lambda kv: -raw[kv[0]])
        ],
    }


def _configured_weights(run: RunRecord) -> dict[str, float]:
    llm = (run.config or {}).get("llm") or {}
    out: dict[str, float] = {}
    for entry in llm.get("models") or []:
        if isinstance(entry, str):
            out[entry] = 1.0
        elif isinstance(entry, dict) and entry.get("model"):
            out[str(entry["model"])] = float(entry.get("weight", 1.0))
    return out


def map_elites_grid(run: RunRecord) -> dict[str, Any] | None:
    """The MAP-Elites archive saved with the run (the strategy's `grid()`), or None for strategies without one.

    Strategies see scores as 'higher is better' (the engine negates those of
    minimised tasks); the grid shows the task's own scores.
    """
    sign = -1.0 if run.objective == "minimize" else 1.0
    state = getattr(run, "strategy_state", None) or (run.state or {}).get("strategy")
    if not isinstance(state, dict) or not isinstance(state.get("cells"), list) or not state.get("features"):
        return None
    cells = [
        {"cell": list(c.get("cell") or []), "program_id": c.get("program_id"),
         "score": None if _finite(c.get("score")) is None else sign * c["score"],
         "features": c.get("features") or {}}
        for c in state["cells"] if isinstance(c, dict)
    ]
    return {
        "features": list(state["features"]),
        "bins": list(state.get("bins") or []),
        "ranges": list(state.get("ranges") or []),
        "cells": cells,
    }
