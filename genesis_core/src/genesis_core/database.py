"""The program database: runs, programs, LLM calls and evaluations (SQLAlchemy 2).

SQLite inside the results folder by default (WAL, one small transaction per
program or LLM call), or any SQLAlchemy URL (PostgreSQL) for runs shared
across machines. Every row carries its `run_id`, so several runs share one
database without seeing each other's programs.

A program row is written when its proposal starts (`status = 'pending'`,
with the parent and inspirations the strategy chose), gets its code when the
LLM's answer has been applied, and is finished in one transaction together
with its evaluation row and the run's saved state. A SIGKILL at any moment
leaves either a pending row (redone on resume: re-proposed, or evaluated
when it already has its code) or a finished one; never an evaluation
without its program, nor a program finished twice.

Selecting a parent never loads programs wholesale: strategies keep
summaries, streamed once from here on resume (`iter_summaries`), and code is
loaded by id.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from genesis_core.errors import GenesisError

# Bump when a table or column changes meaning; an older or newer database is refused.
SCHEMA_VERSION = 1
DEFAULT_DB_NAME = "genesis.db"

metadata = sa.MetaData()

meta_table = sa.Table(
    "genesis_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("task_name", sa.String(200), nullable=False, default=""),
    sa.Column("status", sa.String(20), nullable=False, default="running"),  # running | finished | interrupted | failed
    sa.Column("stop_reason", sa.String(200), nullable=True),
    sa.Column("seed", sa.Integer, nullable=False, default=0),
    sa.Column("objective", sa.String(10), nullable=False, default="maximize"),
    sa.Column("language", sa.String(100), nullable=False, default=""),
    sa.Column("strategy", sa.String(100), nullable=False, default=""),
    sa.Column("genesis_version", sa.String(40), nullable=False, default=""),
    sa.Column("config", sa.JSON, nullable=False, default=dict),
    sa.Column("state", sa.JSON, nullable=False, default=dict),  # counters, LLM client (bandit, totals), meta text
    sa.Column("strategy_state", sa.JSON, nullable=False, default=dict),  # saved at most every second (it can be large)
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("wall_seconds", sa.Float, nullable=False, default=0.0),
)

programs = sa.Table(
    "programs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(200), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),  # proposal index within the run
    sa.Column("status", sa.String(10), nullable=False, default="pending"),  # pending | done
    sa.Column("code", sa.Text, nullable=True),
    sa.Column("code_hash", sa.String(64), nullable=True),
    sa.Column("parent_id", sa.Integer, nullable=True),
    sa.Column("second_parent_id", sa.Integer, nullable=True),
    sa.Column("inspiration_ids", sa.JSON, nullable=False, default=list),
    sa.Column("island", sa.Integer, nullable=False, default=0),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
    sa.Column("patch_kind", sa.String(20), nullable=False, default="diff"),
    sa.Column("model", sa.String(200), nullable=True),
    sa.Column("language", sa.String(100), nullable=False, default=""),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("correct", sa.Boolean, nullable=False, default=False),
    sa.Column("failure", sa.String(40), nullable=True),
    sa.Column("error", sa.Text, nullable=False, default=""),
    sa.Column("metrics", sa.JSON, nullable=False, default=dict),
    sa.Column("feedback", sa.Text, nullable=False, default=""),
    sa.Column("artifacts", sa.JSON, nullable=False, default=dict),
    sa.Column("timings", sa.JSON, nullable=False, default=dict),
    sa.Column("embedding", sa.JSON, nullable=True),  # from an embedding model; NULL for the built-in one (recomputed from code)
    sa.Column("duplicate_of", sa.Integer, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.UniqueConstraint("run_id", "seq", name="uq_programs_run_seq"),
    sa.Index("ix_programs_run_hash", "run_id", "code_hash"),
    sa.Index("ix_programs_run_status", "run_id", "status"),
    sa.Index("ix_programs_run_parent", "run_id", "parent_id", "seq"),
)

llm_calls = sa.Table(
    "llm_calls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(200), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("program_id", sa.Integer, nullable=True),
    sa.Column("purpose", sa.String(20), nullable=False),  # proposal | retry | initial | meta | judge
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("request_seed", sa.BigInteger, nullable=True),
    sa.Column("prompt_hash", sa.String(64), nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),  # the messages as JSON text (written once, hashed as written)
    sa.Column("response", sa.Text, nullable=True),
    sa.Column("reasoning", sa.Text, nullable=False, default=""),
    sa.Column("tokens_in", sa.Integer, nullable=False, default=0),
    sa.Column("tokens_out", sa.Integer, nullable=False, default=0),
    sa.Column("cost_usd", sa.Float, nullable=False, default=0.0),
    sa.Column("latency_s", sa.Float, nullable=False, default=0.0),
    sa.Column("attempts", sa.Integer, nullable=False, default=1),
    sa.Column("failure", sa.String(60), nullable=True),
    sa.Column("error", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_llm_calls_run", "run_id", "id"),
)

evaluations = sa.Table(
    "evaluations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(200), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("program_id", sa.Integer, sa.ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("backend", sa.String(100), nullable=False, default=""),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("correct", sa.Boolean, nullable=False, default=False),
    sa.Column("failure", sa.String(40), nullable=True),
    sa.Column("error", sa.Text, nullable=False, default=""),
    sa.Column("metrics", sa.JSON, nullable=False, default=dict),
    sa.Column("build_seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("eval_seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("total_seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=False),
    sa.Index("ix_evaluations_run", "run_id", "program_id"),
)

# Failures decided before any evaluation: the program row has no evaluation row.
NOT_EVALUATED = ("patch_error", "llm_error", "duplicate", "not_novel", "syntax_error")


class IncompatibleDatabase(GenesisError):
    """The database was written by a Genesis with another schema."""


@dataclass(slots=True)
class ProgramRecord:
    """One row of `programs`, as commands and prompts read it."""

    id: int
    run_id: str
    seq: int
    status: str
    code: str | None
    code_hash: str | None
    parent_id: int | None
    second_parent_id: int | None
    inspiration_ids: list[int]
    island: int
    generation: int
    patch_kind: str
    model: str | None
    language: str
    score: float | None
    correct: bool
    failure: str | None
    error: str
    metrics: dict[str, float]
    feedback: str
    artifacts: dict[str, str]
    timings: dict[str, float]
    duplicate_of: int | None
    created_at: float
    finished_at: float | None
    embedding: list[float] | None = None

    @property
    def valid(self) -> bool:
        """Evaluated, correct and scored: a program that can be the best."""
        return self.status == "done" and self.failure is None and self.correct and self.score is not None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


@dataclass(slots=True)
class SummaryRow:
    """The few columns of a finished program that strategies and indexes need (no code)."""

    id: int
    seq: int
    score: float | None
    correct: bool
    failure: str | None
    island: int
    generation: int
    parent_id: int | None
    code_hash: str | None
    metrics: dict[str, float]
    duplicate_of: int | None
    model: str | None


@dataclass(slots=True)
class LLMCallRecord:
    id: int
    run_id: str
    program_id: int | None
    purpose: str
    model: str
    request_seed: int | None
    prompt_hash: str
    prompt: list[dict[str, str]]
    response: str | None
    reasoning: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_s: float
    attempts: int
    failure: str | None
    error: str
    created_at: float


@dataclass(slots=True)
class RunRecord:
    id: str
    task_name: str
    status: str
    stop_reason: str | None
    seed: int
    objective: str
    language: str
    strategy: str
    genesis_version: str
    config: dict[str, Any]
    state: dict[str, Any]
    strategy_state: dict[str, Any]
    created_at: float
    updated_at: float
    finished_at: float | None
    wall_seconds: float


@dataclass(slots=True)
class RunTotals:
    """Counts and sums over one run, computed by the database (no rows loaded)."""

    programs: int = 0
    pending: int = 0
    evaluations: int = 0
    valid: int = 0
    llm_calls: int = 0
    cost_usd: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    failures: dict[str, int] = field(default_factory=dict)


# Statements of the hot path, built once: parameters are passed at execution, so SQLAlchemy compiles each once.
_INSERT_PROGRAM = programs.insert()
_INSERT_EVALUATION = evaluations.insert()
_INSERT_LLM_CALL = llm_calls.insert()
_UPDATE_PROGRAM = programs.update().where(programs.c.id == sa.bindparam("b_id"))
_FINISH_PROGRAM = programs.update().where(programs.c.id == sa.bindparam("b_id"), programs.c.status == "pending")
_UPDATE_RUN = runs.update().where(runs.c.id == sa.bindparam("b_run"))
_GET_PROGRAM = sa.select(programs).where(programs.c.id == sa.bindparam("b_id"))
_GET_RUN_PROGRAM = sa.select(programs).where(programs.c.id == sa.bindparam("b_id"), programs.c.run_id == sa.bindparam("b_run"))
_CHILD_ERRORS = (
    sa.select(programs.c.failure, programs.c.error)
    .where(programs.c.run_id == sa.bindparam("b_run"), programs.c.parent_id == sa.bindparam("b_parent"),
           programs.c.seq < sa.bindparam("b_before"), programs.c.status == "done", programs.c.failure.is_not(None),
           programs.c.failure.not_in(("duplicate", "not_novel")))
    .order_by(programs.c.seq.desc())
    .limit(sa.bindparam("b_limit"))
)
_SUMMARY_COLUMNS = [
    programs.c.id, programs.c.seq, programs.c.score, programs.c.correct, programs.c.failure, programs.c.island,
    programs.c.generation, programs.c.parent_id, programs.c.code_hash, programs.c.metrics, programs.c.duplicate_of,
    programs.c.model,
]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def normalize_url(url: str) -> str:
    """Plain `postgresql://` URLs use psycopg 3 (the driver genesis-core[postgres] installs)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def display_url(url: str) -> str:
    """The URL with any password hidden, for run.json and messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _record(cls, row) -> Any:
    return cls(**dict(row._mapping))


def _call_record(row) -> LLMCallRecord:
    data = dict(row._mapping)
    data["prompt"] = json.loads(data["prompt"]) if data["prompt"] else []
    return LLMCallRecord(**data)


class Database:
    """One open database: a SQLAlchemy engine and the queries Genesis makes."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = normalize_url(url)
        self.engine: Engine = _make_engine(self.url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._conn: Connection | None = None
        self._check_schema(create)

    # -- opening -----------------------------------------------------------------

    def _check_schema(self, create: bool) -> None:
        try:
            inspector = sa.inspect(self.engine)
            tables = set(inspector.get_table_names())
        except sa.exc.OperationalError as exc:
            raise GenesisError(
                f"Cannot open the database {display_url(self.url)}: {exc.orig}. Check that the server runs and the URL "
                f"(run.database_url) is right, or leave it unset for SQLite in the results folder."
            ) from None
        if "genesis_meta" in tables:
            with self.engine.connect() as conn:
                found = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")).scalar()
            if found is None or int(found) != SCHEMA_VERSION:
                raise IncompatibleDatabase(
                    f"The database {display_url(self.url)} has Genesis schema version {found}, and this Genesis reads "
                    f"version {SCHEMA_VERSION}. It was written by another version of Genesis: open it with that version, "
                    f"or start a new run in another results folder (--results) or database."
                )
            return
        if tables & {"programs", "runs"}:
            raise IncompatibleDatabase(
                f"The database {display_url(self.url)} has tables 'programs'/'runs' but no Genesis schema version: it was "
                f"not written by this version of Genesis. Use another results folder (--results) or database."
            )
        if not create:
            raise GenesisError(f"The database {display_url(self.url)} holds no Genesis run. Check the path or URL.")
        metadata.create_all(self.engine)
        with self.transaction() as conn:
            existing = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")).scalar()
            if existing is None:
                conn.execute(meta_table.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction on the database's own connection.

        One connection is kept open for the life of the object (checking one out of
        the pool per statement costs more than the statement on SQLite); every read
        and write runs in a short transaction, so no snapshot is held between calls.
        """
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            conn = self._conn = self.engine.connect()
        with conn.begin():
            yield conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs ----------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord | None:
        with self.transaction() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
        return _record(RunRecord, row) if row else None

    def list_runs(self) -> list[RunRecord]:
        with self.transaction() as conn:
            rows = conn.execute(sa.select(runs).order_by(runs.c.created_at)).all()
        return [_record(RunRecord, r) for r in rows]

    def create_run(self, run_id: str, *, task_name: str, seed: int, objective: str, language: str, strategy: str,
                   genesis_version: str, config: dict[str, Any]) -> RunRecord:
        now = time.time()
        with self.transaction() as conn:
            conn.execute(runs.insert().values(
                id=run_id, task_name=task_name, status="running", seed=seed, objective=objective, language=language,
                strategy=strategy, genesis_version=genesis_version, config=config, state={}, strategy_state={}, created_at=now,
                updated_at=now, wall_seconds=0.0,
            ))
        run = self.get_run(run_id)
        assert run is not None
        return run

    def update_run(self, run_id: str, **values: Any) -> None:
        values.setdefault("updated_at", time.time())
        with self.transaction() as conn:
            conn.execute(runs.update().where(runs.c.id == run_id).values(**values))

    # -- programs --------------------------------------------------------------------

    def add_pending(self, run_id: str, *, seq: int, parent_id: int | None, second_parent_id: int | None,
                    inspiration_ids: list[int], island: int, generation: int, patch_kind: str, model: str | None,
                    language: str, code: str | None = None, code_hash: str | None = None) -> int:
        """Record a proposal the moment it starts; returns the program id."""
        with self.transaction() as conn:
            result = conn.execute(_INSERT_PROGRAM, dict(
                run_id=run_id, seq=seq, status="pending", parent_id=parent_id, second_parent_id=second_parent_id,
                inspiration_ids=list(inspiration_ids), island=island, generation=generation, patch_kind=patch_kind,
                model=model, language=language, code=code, code_hash=code_hash, created_at=time.time(),
                correct=False, error="", metrics={}, feedback="", artifacts={}, timings={},
            ))
            return int(result.inserted_primary_key[0])

    def set_code(self, program_id: int, code: str, code_hash: str, *, model: str | None = None) -> None:
        """The candidate's code once the answer was applied (resume evaluates it without a new LLM call)."""
        values: dict[str, Any] = {"code": code, "code_hash": code_hash}
        if model is not None:
            values["model"] = model
        with self.transaction() as conn:
            conn.execute(_UPDATE_PROGRAM, {"b_id": program_id, **values})

    def finish_program(self, program_id: int, *, run_id: str, result: dict[str, Any],
                       evaluation: dict[str, Any] | None, run_values: dict[str, Any] | None = None) -> None:
        """Settle a pending program, its evaluation row and (optionally) columns of its run in one transaction.

        Raises RuntimeError when the program was already settled: a program is never finished twice.
        """
        now = time.time()
        with self.transaction() as conn:
            updated = conn.execute(_FINISH_PROGRAM, {"b_id": program_id, "status": "done", "finished_at": now, **result}).rowcount
            if updated != 1:
                raise RuntimeError(f"program {program_id} of run {run_id} was already settled")
            if evaluation is not None:
                conn.execute(_INSERT_EVALUATION, {"run_id": run_id, "program_id": program_id, **evaluation})
            if run_values:
                conn.execute(_UPDATE_RUN, {"b_run": run_id, "updated_at": now, **run_values})

    def get_program(self, program_id: int, run_id: str | None = None) -> ProgramRecord | None:
        with self.transaction() as conn:
            if run_id is None:
                row = conn.execute(_GET_PROGRAM, {"b_id": program_id}).first()
            else:
                row = conn.execute(_GET_RUN_PROGRAM, {"b_id": program_id, "b_run": run_id}).first()
        return _record(ProgramRecord, row) if row else None

    def pending_programs(self, run_id: str) -> list[ProgramRecord]:
        with self.transaction() as conn:
            rows = conn.execute(
                sa.select(programs).where(programs.c.run_id == run_id, programs.c.status == "pending").order_by(programs.c.seq)
            ).all()
        return [_record(ProgramRecord, r) for r in rows]

    def iter_summaries(self, run_id: str, batch: int = 5000) -> Iterator[SummaryRow]:
        """Finished programs in proposal order, without their code, streamed in batches."""
        last = -1
        while True:
            with self.transaction() as conn:
                rows = conn.execute(
                    sa.select(*_SUMMARY_COLUMNS)
                    .where(programs.c.run_id == run_id, programs.c.status == "done", programs.c.seq > last)
                    .order_by(programs.c.seq)
                    .limit(batch)
                ).all()
            if not rows:
                return
            for row in rows:
                yield SummaryRow(*row)
            last = rows[-1].seq

    def iter_programs(self, run_id: str, *, with_code: bool = True, batch: int = 1000) -> Iterator[ProgramRecord]:
        """Every program of a run in proposal order (export), streamed in batches."""
        columns = [programs] if with_code else [c for c in programs.columns if c.name not in ("code", "embedding")]
        last = -1
        while True:
            with self.transaction() as conn:
                rows = conn.execute(
                    sa.select(*columns).where(programs.c.run_id == run_id, programs.c.seq > last).order_by(programs.c.seq).limit(batch)
                ).all()
            if not rows:
                return
            for row in rows:
                data = dict(row._mapping)
                data.setdefault("code", None)
                data.setdefault("embedding", None)
                yield ProgramRecord(**data)
            last = rows[-1].seq

    def child_errors(self, run_id: str, parent_id: int, *, before_seq: int, limit: int = 3) -> list[str]:
        """Errors of the latest failed children of a program among proposals before `before_seq`, oldest first."""
        with self.transaction() as conn:
            rows = conn.execute(_CHILD_ERRORS, {"b_run": run_id, "b_parent": parent_id, "b_before": before_seq, "b_limit": limit}).all()
        return [f"{failure}: {error}" if error else str(failure) for failure, error in reversed(rows)]

    def embeddings(self, run_id: str, program_ids: list[int]) -> Iterator[tuple[int, int, str | None, list[float] | None]]:
        """(id, island, code when no embedding was stored, embedding) of the given programs, by id."""
        for start in range(0, len(program_ids), 500):
            chunk = program_ids[start:start + 500]
            with self.transaction() as conn:
                rows = conn.execute(
                    sa.select(programs.c.id, programs.c.island, programs.c.code, programs.c.embedding)
                    .where(programs.c.run_id == run_id, programs.c.id.in_(chunk)).order_by(programs.c.id)
                ).all()
            for row in rows:
                yield row.id, row.island, (row.code if row.embedding is None else None), row.embedding

    def cost_by_program(self, run_id: str) -> dict[int, float]:
        """Money spent on each program's LLM calls (for the model bandit on resume)."""
        with self.transaction() as conn:
            rows = conn.execute(
                sa.select(llm_calls.c.program_id, sa.func.sum(llm_calls.c.cost_usd))
                .where(llm_calls.c.run_id == run_id, llm_calls.c.program_id.is_not(None))
                .group_by(llm_calls.c.program_id)
            ).all()
        return {int(pid): float(cost or 0.0) for pid, cost in rows}

    def llm_totals_by_model(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Per model: calls, attempts, tokens, cost and failures by reason, as the LLM client counts them."""
        out: dict[str, dict[str, Any]] = {}
        with self.transaction() as conn:
            for model, calls, attempts, tokens_in, tokens_out, cost in conn.execute(
                sa.select(llm_calls.c.model, sa.func.count(), sa.func.sum(llm_calls.c.attempts), sa.func.sum(llm_calls.c.tokens_in),
                          sa.func.sum(llm_calls.c.tokens_out), sa.func.sum(llm_calls.c.cost_usd))
                .where(llm_calls.c.run_id == run_id).group_by(llm_calls.c.model)
            ):
                out[model] = {"calls": int(calls), "attempts": int(attempts or 0), "tokens_in": int(tokens_in or 0),
                              "tokens_out": int(tokens_out or 0), "cost_usd": float(cost or 0.0), "failures": 0,
                              "failure_reasons": {}}
            for model, reason, n in conn.execute(
                sa.select(llm_calls.c.model, llm_calls.c.failure, sa.func.count())
                .where(llm_calls.c.run_id == run_id, llm_calls.c.failure.is_not(None))
                .group_by(llm_calls.c.model, llm_calls.c.failure)
            ):
                out[model]["failures"] += int(n)
                out[model]["failure_reasons"][reason] = int(n)
        return out

    def drop_pending(self, program_id: int) -> None:
        """Remove an unfinished program (its LLM calls stay, unlinked: they were paid for)."""
        with self.transaction() as conn:
            conn.execute(llm_calls.update().where(llm_calls.c.program_id == program_id).values(program_id=None))
            conn.execute(sa.delete(programs).where(programs.c.id == program_id, programs.c.status == "pending"))

    def max_seq(self, run_id: str) -> int:
        with self.transaction() as conn:
            value = conn.execute(sa.select(sa.func.max(programs.c.seq)).where(programs.c.run_id == run_id)).scalar()
        return -1 if value is None else int(value)

    def best_program(self, run_id: str, objective: str = "maximize") -> ProgramRecord | None:
        order = programs.c.score.desc() if objective == "maximize" else programs.c.score.asc()
        with self.transaction() as conn:
            row = conn.execute(
                sa.select(programs)
                .where(programs.c.run_id == run_id, programs.c.status == "done", programs.c.failure.is_(None),
                       programs.c.correct.is_(True), programs.c.score.is_not(None))
                .order_by(order, programs.c.seq)
                .limit(1)
            ).first()
        return _record(ProgramRecord, row) if row else None

    def evaluation_rows(self, run_id: str) -> list[dict[str, Any]]:
        with self.transaction() as conn:
            rows = conn.execute(sa.select(evaluations).where(evaluations.c.run_id == run_id).order_by(evaluations.c.id)).all()
        return [dict(r._mapping) for r in rows]

    def evaluations_of(self, program_id: int) -> list[dict[str, Any]]:
        with self.transaction() as conn:
            rows = conn.execute(sa.select(evaluations).where(evaluations.c.program_id == program_id).order_by(evaluations.c.id)).all()
        return [dict(r._mapping) for r in rows]

    def score_history(self, run_id: str) -> list[tuple[int, float | None, bool, float]]:
        """(seq, score, valid, finished_at) of every evaluated program, in proposal order (plots, compare)."""
        with self.transaction() as conn:
            rows = conn.execute(
                sa.select(programs.c.seq, programs.c.score, programs.c.failure, programs.c.correct, programs.c.finished_at)
                .join(evaluations, evaluations.c.program_id == programs.c.id)
                .where(programs.c.run_id == run_id)
                .order_by(programs.c.seq)
            ).all()
        return [(r.seq, r.score, r.failure is None and bool(r.correct) and r.score is not None, r.finished_at) for r in rows]

    # -- LLM calls -------------------------------------------------------------------

    def add_llm_call(self, run_id: str, *, program_id: int | None, purpose: str, model: str, request_seed: int | None,
                     prompt: str | list[Any], prompt_hash: str, response: str | None, reasoning: str = "",
                     tokens_in: int = 0, tokens_out: int = 0, cost_usd: float = 0.0, latency_s: float = 0.0,
                     attempts: int = 1, failure: str | None = None, error: str = "",
                     program_code: tuple[str, str] | None = None) -> int:
        """Record one LLM call; with `program_code` (code, hash) the program gets its code in the same transaction.

        `prompt` is the JSON text of `prompt_text(messages)`, or the messages themselves.
        """
        if not isinstance(prompt, str):
            prompt = prompt_text(prompt)
        with self.transaction() as conn:
            if program_code is not None and program_id is not None:
                conn.execute(_UPDATE_PROGRAM, {"b_id": program_id, "code": program_code[0], "code_hash": program_code[1]})
            result = conn.execute(_INSERT_LLM_CALL, dict(
                run_id=run_id, program_id=program_id, purpose=purpose, model=model, request_seed=request_seed,
                prompt=prompt, prompt_hash=prompt_hash, response=response, reasoning=reasoning or "",
                tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost_usd, latency_s=latency_s, attempts=attempts,
                failure=failure, error=error or "", created_at=time.time(),
            ))
            return int(result.inserted_primary_key[0])

    def iter_llm_calls(self, run_id: str, batch: int = 1000) -> Iterator[LLMCallRecord]:
        """A run's LLM calls in the order they were recorded."""
        last = 0
        while True:
            with self.transaction() as conn:
                rows = conn.execute(
                    sa.select(llm_calls).where(llm_calls.c.run_id == run_id, llm_calls.c.id > last).order_by(llm_calls.c.id).limit(batch)
                ).all()
            if not rows:
                return
            for row in rows:
                yield _call_record(row)
            last = rows[-1].id

    def llm_calls_of(self, program_id: int) -> list[LLMCallRecord]:
        with self.transaction() as conn:
            rows = conn.execute(sa.select(llm_calls).where(llm_calls.c.program_id == program_id).order_by(llm_calls.c.id)).all()
        return [_call_record(r) for r in rows]

    # -- totals ----------------------------------------------------------------------

    def totals(self, run_id: str) -> RunTotals:
        out = RunTotals()
        with self.transaction() as conn:
            for status, count in conn.execute(
                sa.select(programs.c.status, sa.func.count()).where(programs.c.run_id == run_id).group_by(programs.c.status)
            ):
                out.programs += count
                if status == "pending":
                    out.pending = count
            out.evaluations = conn.execute(
                sa.select(sa.func.count()).select_from(evaluations).where(evaluations.c.run_id == run_id)
            ).scalar() or 0
            out.valid = conn.execute(
                sa.select(sa.func.count()).select_from(programs).where(
                    programs.c.run_id == run_id, programs.c.status == "done", programs.c.failure.is_(None),
                    programs.c.correct.is_(True), programs.c.score.is_not(None))
            ).scalar() or 0
            row = conn.execute(
                sa.select(sa.func.count(), sa.func.sum(llm_calls.c.cost_usd), sa.func.sum(llm_calls.c.tokens_in),
                          sa.func.sum(llm_calls.c.tokens_out)).where(llm_calls.c.run_id == run_id)
            ).one()
            out.llm_calls, out.cost_usd, out.tokens_in, out.tokens_out = row[0] or 0, float(row[1] or 0), int(row[2] or 0), int(row[3] or 0)
            for failure, count in conn.execute(
                sa.select(programs.c.failure, sa.func.count())
                .where(programs.c.run_id == run_id, programs.c.status == "done", programs.c.failure.is_not(None))
                .group_by(programs.c.failure)
            ):
                out.failures[failure] = count
        return out

    def connection(self) -> Connection:
        """A separate connection, for tests and ad-hoc queries (close it when done)."""
        return self.engine.connect()


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    if url.startswith("postgresql+psycopg"):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise GenesisError(
                "A PostgreSQL database needs the psycopg driver, which is not installed. Install it with "
                "`pip install 'genesis-core[postgres]'`."
            ) from None
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise GenesisError(
            f"The database URL {display_url(url)} is not usable: {exc}. Give an SQLAlchemy URL such as "
            f"sqlite:///path/genesis.db or postgresql://user@host/dbname."
        ) from None


def prompt_text(messages: list[Any]) -> str:
    """The messages of a call as the JSON text stored in `llm_calls.prompt`."""
    plain = [m if isinstance(m, dict) else {"role": m.role, "content": m.content} for m in messages]
    return json.dumps(plain, ensure_ascii=False, separators=(",", ":"))


def call_key(model: str, seed: int | None, prompt: str) -> str:
    """Identifies a call for replay: the same model, seed and prompt text."""
    return hashlib.sha256(f"{model}\x00{seed}\x00{prompt}".encode()).hexdigest()


def dumps(value: Any) -> str:
    """Compact JSON for hashes and exports."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
