"""The evolution engine: one asyncio loop with many proposals and evaluations in flight.

One proposal goes: the strategy picks a parent and inspirations -> the
prompt is built -> the LLM answers (patch errors go back to it a bounded
number of times) -> de-duplication and novelty check -> an evaluation job on
the backend -> the result is stored -> the strategy learns from it.

Concurrency. Up to `max_proposals_in_flight` proposals wait on the LLM and up
to `max_evaluations_in_flight` (default: the backend's capacity) candidates
are evaluated at once. Nothing polls: every step that waits awaits a future,
an event or a semaphore, and a change of state wakes the producer.

Determinism. Proposal `i` draws its randomness (patch kind, LLM seed) from
(seed, i). The strategy sees results in proposal order only, with a fixed
lag: before choosing for proposal `i` it learns exactly the results of
proposals `0 .. i - lag - 1` (lag = proposals + evaluations in flight,
fixed when the run starts). Candidates pass de-duplication and the novelty
check in proposal order too. So with a fixed seed, the offline provider and
a deterministic evaluator, two runs make the same programs in the same
order, however the timings fall.

Exactly once. A program row is written when its proposal starts (pending),
gets its code in the transaction that records the LLM's answer, and is
finished in one transaction with its evaluation row. On resume the pending
rows are redone (evaluated when they have code, re-proposed with the same
parent otherwise); nothing finished is evaluated again. A clean stop
(Ctrl-C, a time limit) cancels what is in flight and removes its pending rows.

Resume reads only the database: finished programs are streamed (summaries,
never code) into the strategy, the model bandit, the de-duplication index and
the novelty sets in proposal order; costs are summed from the recorded calls;
the strategy's own state (saved at most once a second) and the
meta-recommendation come from the run's row.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import signal
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genesis_core import __version__
from genesis_core.blocks import find_blocks
from genesis_core.config import GenesisConfig, plugin_settings
from genesis_core.database import Database, ProgramRecord, call_key, display_url, prompt_text
from genesis_core.errors import ConfigError, GenesisError, TaskError
from genesis_core.events import EventLog
from genesis_core.job import FailureReason, Job, JobResult
from genesis_core.results import ResultsFolder, run_metadata
from genesis_core.strategy import ProgramSummary

# Failures decided before any evaluation: such a program has no evaluation row, and its code
# never joined the de-duplication index or the novelty sets.
NOT_EVALUATED = frozenset({"llm_error", "patch_error", "syntax_error", "not_novel", "duplicate"})
# Stop reasons. Those in DRAIN let what is in flight finish; the others cancel it.
DRAIN = frozenset({"max_evaluations", "max_cost"})
INITIAL_ATTEMPTS = 5  # LLM-written first programs tried before giving up
LLM_FAILURE_STREAK = 10  # consecutive failed LLM calls (nothing else working) that stop the run
NO_PROGRESS_LIMIT = 200  # consecutive settled proposals without one evaluation that stop the run
STRATEGY_SAVE_INTERVAL_S = 1.0  # the strategy's state (its random generator: kilobytes) is saved at most this often
PROGRAM_CACHE = 2048  # finished programs kept in memory by id (parents are drawn again and again)


def proposal_seed(seed: int, seq: int) -> int:
    """The seed of proposal `seq`: independent of timing and of the other proposals."""
    digest = hashlib.sha256(f"genesis:{seed}:{seq}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass
class Proposal:
    """One candidate on its way through the pipeline."""

    seq: int
    program_id: int
    kind: str
    model: str | None
    parent_id: int | None
    second_parent_id: int | None
    inspiration_ids: list[int]
    island: int
    generation: int
    seed: int
    parent_fitness: float | None = None
    parent_code: str = ""
    messages: list[Any] = field(default_factory=list)
    context: Any = None
    code: str | None = None
    code_hash: str | None = None
    embedding: list[float] | None = None
    failure: str | None = None
    error: str = ""
    llm_cost: float = 0.0
    llm_seconds: float = 0.0
    ready: asyncio.Future | None = None  # done when the LLM stage is over (code or failure)


@dataclass
class Outcome:
    """What a settled proposal teaches the strategy and the model bandit, applied in proposal order."""

    seq: int
    summary: ProgramSummary
    model: str | None
    improved: bool
    cost_usd: float
    evaluated: bool
    failure: str | None


@dataclass
class RunStats:
    """Live numbers of a run, for the progress display and the final summary."""

    run_id: str = ""
    max_evaluations: int | None = None
    evaluations: int = 0
    session_evaluations: int = 0
    programs: int = 0
    best_score: float | None = None
    best_program_id: int | None = None
    cost_usd: float = 0.0
    max_cost_usd: float | None = None
    proposals_in_flight: int = 0
    evaluations_in_flight: int = 0
    failures: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    stop_reason: str | None = None
    resumed: bool = False
    last_llm_error: str = ""


class _Stopped(Exception):
    """Raised inside the producer when a stop was requested while it waited."""


class Engine:
    """Runs one task to a stop condition, resuming the run when its database already holds it.

    `backend` and `llm` may be given ready-made (tests, the benchmark); by
    default they are built from the configuration and the installed plugins.
    """

    def __init__(
        self,
        task_dir: Path,
        config: GenesisConfig,
        results: ResultsFolder,
        *,
        host: Any = None,
        backend: Any = None,
        llm: Any = None,
        listeners: list[Callable[[dict[str, Any]], None]] | None = None,
        handle_signals: bool = False,
    ) -> None:
        from genesis_core.plugins import get_host

        self.task_dir = Path(task_dir).resolve()
        self.config = config
        self.results = results
        self.host = host if host is not None else get_host()
        self._backend = backend
        self._llm = llm
        self.listeners = listeners or []
        self._handle_signals = handle_signals
        self.stats = RunStats()
        self.run_id = config.run.run_id or _default_run_id(config.task.name or self.task_dir.name)
        self.stats.run_id = self.run_id

    # ==========================================================================
    # setting up
    # ==========================================================================

    def _prepare(self) -> None:
        """Everything that can fail on bad input, before any work starts."""
        config = self.config
        host = self.host
        host.raise_for_registration_errors()
        language_cls = host.get("languages", config.task.language)
        self.language = language_cls(plugin_settings(config, "language", config.task.language, language_cls.Settings))
        self.comment = language_cls.comment
        self._read_task()
        self.results.check_compatible()

        strategy_cls = host.get("strategies", config.strategy.name)
        self.strategy = strategy_cls(plugin_settings(config, "strategy", config.strategy.name, strategy_cls.Settings), seed=config.run.seed)

        if self._backend is None:
            backend_cls = host.get("backends", config.backend.name)
            settings = plugin_settings(config, "backend", config.backend.name, backend_cls.Settings)
            self._backend = backend_cls(settings, run_dir=self.results.root)
        self.backend = self._backend
        self.backend_name = getattr(self.backend, "name", config.backend.name)
        self.max_evals_in_flight = config.run.max_evaluations_in_flight or max(1, int(self.backend.capacity() or 1))
        self.max_proposals_in_flight = config.run.max_proposals_in_flight

        if self._llm is None:
            from genesis_core.llm_client import LLMClient

            if config.llm.replay_from and not config.llm.models:
                from genesis_core.providers.replay import recorded_models

                config.llm.models = recorded_models(config.llm.replay_from)  # replay what the earlier run used

            self._llm = LLMClient(config, host, seed=config.run.seed)
        self.llm = self._llm

        from genesis_core.prompts import PromptBuilder

        template_dir = None
        if config.prompts.template_dir:
            template_dir = Path(config.prompts.template_dir)
            if not template_dir.is_absolute():
                template_dir = self.task_dir / template_dir
        self.prompts = PromptBuilder(config.task, self.language, config.prompts, template_dir=template_dir)
        self.novelty = None
        if config.novelty.enabled:
            from genesis_core.novelty import NoveltyFilter

            self.novelty = NoveltyFilter(config.novelty.threshold, comment=self.comment)

    def _open_results(self) -> None:
        """The results folder and the database: created only once the configuration proved valid."""
        self.results.create()
        self._lock = self.results.lock()
        self.build_cache = self.results.root / "build-cache"
        self.build_cache.mkdir(exist_ok=True)
        self.db_url = self.results.database_url(self.config.run.database_url)
        self.db = Database(self.db_url)

    def _read_task(self) -> None:
        task = self.config.task
        if not self.task_dir.is_dir():
            raise TaskError(f"No task folder at {self.task_dir}. `genesis init DIR --language python` writes a working one.")
        evaluator = self.task_dir / task.evaluator
        if not evaluator.is_file():
            raise TaskError(
                f"The evaluator {evaluator} does not exist ([task] evaluator = '{task.evaluator}' in genesis.toml). "
                f"Write it (a function `{task.evaluator_function}(candidate)` returning a score), or point [task] evaluator at it."
            )
        self.initial_code: str | None = None
        ext = self.language.extensions[0]
        if task.initial_program:
            path = self.task_dir / task.initial_program
            if not path.is_file():
                raise TaskError(
                    f"The initial program {path} does not exist ([task] initial_program = '{task.initial_program}'). "
                    f"Create it with EVOLVE-BLOCK-START / EVOLVE-BLOCK-END around the code that may change, or set "
                    f"[task] initial_program = \"\" to have the LLM write the first program from the task description."
                )
            try:
                self.initial_code = path.read_text()
            except UnicodeDecodeError:
                raise TaskError(f"The initial program {path} is not UTF-8 text; save it as UTF-8.") from None
            find_blocks(self.initial_code, self.language.comment, filename=str(path))
            self.main_file = task.initial_program
        else:
            if not task.description.strip():
                raise TaskError(
                    "The task has no initial program and no description, so there is nothing to start from. Set "
                    "[task] initial_program to a program with EVOLVE-BLOCK regions, or write [task] description for "
                    "the LLM to write the first program from."
                )
            self.main_file = f"program{ext}"
        self.extra_files: dict[str, str] = {}
        for name in task.files:
            path = self.task_dir / name
            if not path.is_file():
                raise TaskError(f"The candidate file {path} listed in [task] files does not exist. Create it or remove it from the list.")
            self.extra_files[name] = path.read_text()

    def _open_run(self) -> None:
        """Create the run row, or pick up the run the database already holds."""
        config = self.config
        run = self.db.get_run(self.run_id)
        config_json = config.model_dump(mode="json")
        self.resumed = run is not None
        if run is None:
            run = self.db.create_run(
                self.run_id, task_name=config.task.name, seed=config.run.seed, objective=config.task.objective,
                language=config.task.language, strategy=config.strategy.name, genesis_version=__version__, config=config_json,
            )
        else:
            _check_same_run(run.config, config_json, self.run_id, self.results.root)
            elsewhere = (run.state or {}).get("results")
            if elsewhere and elsewhere != str(self.results.root) and self.results.read_run_json() is None:
                raise ConfigError(
                    f"The database {display_url(self.db_url)} already holds a run '{self.run_id}' whose results folder is "
                    f"{elsewhere}. To continue that run, use --results {elsewhere}; to start another run in the same "
                    f"database, give it its own name with -s run.run_id=NAME."
                )
            self.db.update_run(self.run_id, status="running", stop_reason=None, finished_at=None, config=config_json)
        self.run_record = run
        self.stats.resumed = self.resumed
        self.previous_wall = run.wall_seconds or 0.0
        self.saved_state: dict[str, Any] = dict(run.state or {})
        # The strategy's lag is fixed for the whole run (also across resumes) so results apply at the same points.
        self.lag = int(self.saved_state.get("lag") or (self.max_proposals_in_flight + self.max_evals_in_flight))
        if self.saved_state.get("lag") != self.lag or self.saved_state.get("results") != str(self.results.root):
            self.saved_state.update(lag=self.lag, results=str(self.results.root))
            self.db.update_run(self.run_id, state=self.saved_state)

    # ==========================================================================
    # the run
    # ==========================================================================

    async def run(self) -> RunStats:
        """Run until a stop condition; returns the final numbers. Raises GenesisError on bad input."""
        self._prepare()
        self._init_state()
        loop = asyncio.get_running_loop()
        failed: BaseException | None = None
        try:
            self._open_results()
            self._open_run()
            self.events = EventLog(self.results.events, self.run_id, host=self.host)
            self.events.listeners.extend(self.listeners)
            self._install_signals(loop)
            self._write_run_json()
            self._restore()
            await self.backend.start()
            self._announce()
            await self._pipeline()
        except BaseException as exc:
            failed = exc
            raise
        finally:
            await self._finish(failed)
            self._remove_signals(loop)
        if self._crash is not None:
            raise self._crash
        return self.stats

    def _init_state(self) -> None:
        config = self.config
        self.objective_sign = 1.0 if config.task.objective == "maximize" else -1.0
        self.stats.max_evaluations = config.run.max_evaluations
        self.stats.max_cost_usd = config.run.max_cost_usd
        self._wake = asyncio.Event()
        self._stop_reason: str | None = None
        self._crash: BaseException | None = None
        self._tasks: set[asyncio.Task] = set()
        self._proposal_slots = self.max_proposals_in_flight
        self._eval_slots = asyncio.Semaphore(self.max_evals_in_flight)
        self._dispatch_queue: asyncio.Queue[Proposal] = asyncio.Queue()
        self._apply_queue: deque[int] = deque()  # seqs whose outcome the strategy has not learned, in order
        self._outcomes: dict[int, Outcome] = {}
        self._unsettled: dict[int, Proposal] = {}  # seq -> proposal not yet settled
        self._redo: deque[Proposal] = deque()
        self._done_hashes: dict[str, int] = {}  # code hash -> program id with an evaluation
        self._inflight_hashes: dict[str, asyncio.Future] = {}
        self._cache: dict[int, ProgramRecord] = {}
        self._fitness: dict[int, float | None] = {}  # program id -> fitness (None: not a valid program)
        self._generation: dict[int, int] = {}
        self._parents_with_failures: set[int] = set()  # only these need the query for their children's errors
        self._next_seq = 0
        self._apply_floor = 0  # proposals wait for the outcomes of every seq below this (the first programs)
        self._valid = 0
        self._best_fitness: float | None = None
        self._evals_since_best = 0
        self._llm_failure_streak = 0
        self._no_eval_streak = 0
        self._initial_attempts = 0
        self._initial_failures: list[str] = []
        self._meta_text: str = ""
        self._meta_at = 0
        self._applied_evaluations = 0
        self._applied_best: tuple[float, int] | None = None
        self._applied_failures: deque[int] = deque(maxlen=10)
        self._session_start = time.monotonic()
        self._strategy_saved_at = 0.0
        self._wall_timer: asyncio.TimerHandle | None = None

    # -- resume -------------------------------------------------------------------

    def _restore(self) -> None:
        """Rebuild the in-memory indexes from the database, streaming summaries (never code).

        Every finished program is taught to the strategy and the model bandit in
        proposal order, as the run did; then the strategy's saved state (its
        random generator) is put back. Costs are summed from the recorded calls.
        """
        state = self.saved_state
        count = 0
        recent_by_island: dict[int, deque[int]] = {}
        costs = self.db.cost_by_program(self.run_id)
        for row in self.db.iter_summaries(self.run_id):
            count += 1
            valid = _is_valid(row.failure, row.correct, row.score)
            fitness = self._to_fitness(row.score) if valid else None
            evaluated = row.failure not in NOT_EVALUATED
            parent_fitness = self._fitness.get(row.parent_id) if row.parent_id is not None else None
            self._fitness[row.id] = fitness
            self._generation[row.id] = row.generation
            if row.failure is not None and row.parent_id is not None:
                self._parents_with_failures.add(row.parent_id)
            summary = ProgramSummary(id=row.id, score=fitness, correct=valid, island=row.island, generation=row.generation,
                                     parent_id=row.parent_id, features=_features(row.metrics))
            improved = fitness is not None and (parent_fitness is None or fitness > parent_fitness)
            self._apply(Outcome(row.seq, summary, row.model, improved, costs.get(row.id, 0.0), evaluated, row.failure))
            if row.code_hash and evaluated and row.duplicate_of is None:
                self._done_hashes.setdefault(row.code_hash, row.id)
            if self.novelty is not None and row.failure not in NOT_EVALUATED:
                recent_by_island.setdefault(row.island, deque(maxlen=self.novelty.per_island_limit)).append(row.id)
            if evaluated:
                self._evals_since_best += 1
            if fitness is not None:
                self._valid += 1
                if self._best_fitness is None or fitness > self._best_fitness:
                    self._best_fitness = fitness
                    self.stats.best_score = row.score
                    self.stats.best_program_id = row.id
                    self._evals_since_best = 0
            self._next_seq = max(self._next_seq, row.seq + 1)
        if self.novelty is not None:  # the novelty check compares with each island's latest accepted programs
            wanted = sorted(i for ids in recent_by_island.values() for i in ids)
            for program_id, island, code, vector in self.db.embeddings(self.run_id, wanted):
                self.novelty.add(program_id, island, code=code if vector is None else None, vector=vector)
        totals = self.db.totals(self.run_id)
        self.stats.programs = count
        self.stats.evaluations = totals.evaluations
        self.stats.failures.update(totals.failures)
        if self.run_record.strategy_state:
            self.strategy.restore(self.run_record.strategy_state)
        self._restore_llm_totals()
        meta = state.get("meta") or {}
        self._meta_text = meta.get("text", "")
        self._meta_at = int(meta.get("at", 0))
        for record in self.db.pending_programs(self.run_id):
            self._next_seq = max(self._next_seq, record.seq + 1)
            proposal = Proposal(
                seq=record.seq, program_id=record.id, kind=record.patch_kind, model=record.model, parent_id=record.parent_id,
                second_parent_id=record.second_parent_id, inspiration_ids=list(record.inspiration_ids or []),
                island=record.island, generation=record.generation, seed=proposal_seed(self.config.run.seed, record.seq),
                code=record.code, code_hash=record.code_hash,
                parent_fitness=self._fitness.get(record.parent_id) if record.parent_id is not None else None,
            )
            self._redo.append(proposal)
        self._next_seq = max(self._next_seq, self.db.max_seq(self.run_id) + 1)
        if self.resumed:
            self._resume_info = dict(
                programs=count, evaluations=totals.evaluations, pending=len(self._redo),
                cost_usd=round(self.llm.spent_usd, 6), best_score=self.stats.best_score,
                meta_recommendation=self._meta_text or None, meta_at_evaluations=self._meta_at,
            )

    def _restore_llm_totals(self) -> None:
        """Costs come from the recorded calls (the saved state may predate the last calls)."""
        totals = getattr(self.llm, "totals", None)
        if totals is not None:
            for model, recorded in self.db.llm_totals_by_model(self.run_id).items():
                totals[model] = recorded
        self.stats.cost_usd = self.llm.spent_usd

    # -- pipeline -------------------------------------------------------------------

    async def _pipeline(self) -> None:
        limit = self.config.run.max_wall_seconds
        if limit is not None:
            remaining = limit - self.previous_wall
            if remaining <= 0:
                self.request_stop("max_wall_seconds")
            else:
                self._wall_timer = asyncio.get_running_loop().call_later(remaining, self.request_stop, "max_wall_seconds")
        dispatcher = self._spawn(self._dispatch(), "genesis-dispatch")  # a failure there stops the run like any other
        try:
            await self._produce()
        finally:
            dispatcher.cancel()
            await asyncio.gather(dispatcher, return_exceptions=True)

    async def _produce(self) -> None:
        """Start proposals while the budgets allow; returns when the run is over."""
        while True:
            self._wake.clear()
            self._check_budgets()
            if self._stop_reason is not None:
                if self._stop_reason in DRAIN and self._in_flight():
                    await self._wake.wait()
                    continue
                return
            if self._redo:
                if self._proposal_slots > 0 or self._redo[0].code is not None:
                    self._start(self._redo.popleft())
                    continue
                await self._wake.wait()
                continue
            if self._valid == 0:
                if self._in_flight():
                    await self._wake.wait()
                    continue
                self._start_initial()
                # Nothing else is in flight: the next proposals may wait for this one without losing determinism.
                self._apply_floor = self._next_seq
                continue
            if self._proposal_slots <= 0 or not self._room_for_more():
                await self._wake.wait()
                continue
            try:
                await self._new_proposal()
            except _Stopped:
                continue

    def _in_flight(self) -> bool:
        return bool(self._unsettled)

    def _room_for_more(self) -> bool:
        """Whether another proposal could still be evaluated within the evaluation budget."""
        limit = self.config.run.max_evaluations
        if limit is None:
            return True
        might_evaluate = sum(1 for p in self._unsettled.values() if p.failure is None)
        return self.stats.evaluations + might_evaluate < limit

    def _check_budgets(self) -> None:
        run = self.config.run
        if run.max_evaluations is not None and self.stats.evaluations >= run.max_evaluations:
            self.request_stop("max_evaluations")
        elif run.max_cost_usd is not None and not self.llm.budget_allows():
            self.request_stop("max_cost")
        elif self._no_eval_streak >= NO_PROGRESS_LIMIT:
            self.request_stop("no_progress")

    def request_stop(self, reason: str) -> None:
        """Stop the run: budgets let the work in flight finish, everything else cancels it."""
        if self._stop_reason is not None and not (self._stop_reason in DRAIN and reason not in DRAIN):
            return  # already stopping, at least as firmly
        self._stop_reason = reason
        self.stats.stop_reason = reason
        if reason not in DRAIN:
            for task in list(self._tasks):
                task.cancel()
        self._wake.set()

    def _spawn(self, coro: Any, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and self._crash is None:
            self._crash = exc
            self.request_stop("error")
        self._wake.set()

    # -- starting proposals -----------------------------------------------------------

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def _start(self, proposal: Proposal) -> None:
        """Hand a proposal to the pipeline: the LLM stage when it has no code yet, else straight to dispatch.

        The prompt is built here, synchronously, so that it shows exactly what the
        strategy had learned when the proposal was chosen (determinism).
        """
        loop = asyncio.get_running_loop()
        proposal.ready = loop.create_future()
        self._unsettled[proposal.seq] = proposal
        self._apply_queue.append(proposal.seq)
        self._dispatch_queue.put_nowait(proposal)
        if proposal.code is None and proposal.failure is None:
            self._build_prompt(proposal)
            self._proposal_slots -= 1
            self.stats.proposals_in_flight += 1
            self._spawn(self._llm_stage(proposal), f"genesis-propose-{proposal.seq}")
        else:
            proposal.ready.set_result(None)

    def _start_initial(self) -> None:
        """The first program: the task's initial program, or one the LLM writes from the description."""
        if self.initial_code is not None:
            if self._initial_attempts >= 1:
                raise TaskError(
                    f"The initial program {self.config.task.initial_program} could not be scored, so there is nothing to "
                    f"evolve: {_sentence(self._initial_failures[-1])} Fix the program or the evaluator and run the command again."
                )
            self._initial_attempts += 1
            seq = self._take_seq()
            from genesis_core.patches import code_hash

            program_id = self.db.add_pending(
                self.run_id, seq=seq, parent_id=None, second_parent_id=None, inspiration_ids=[], island=0, generation=0,
                patch_kind="initial", model=None, language=self.config.task.language, code=self.initial_code,
                code_hash=code_hash(self.initial_code),
            )
            proposal = Proposal(seq=seq, program_id=program_id, kind="initial", model=None, parent_id=None, second_parent_id=None,
                                inspiration_ids=[], island=0, generation=0, seed=proposal_seed(self.config.run.seed, seq),
                                code=self.initial_code, code_hash=code_hash(self.initial_code))
            self.events.emit("proposal_started", 0, program_id=program_id, seq=seq, patch_kind="initial", parent_id=None,
                             inspiration_ids=[], island=0, model=None)
            self._start(proposal)
            return
        if self._initial_attempts >= INITIAL_ATTEMPTS:
            reasons = " ".join(f"({i + 1}) {_sentence(r)}" for i, r in enumerate(self._initial_failures[-3:]))
            raise TaskError(
                f"The LLM did not write a working first program in {INITIAL_ATTEMPTS} attempts. Last failures: {reasons} "
                f"Give the task an initial program ([task] initial_program), or improve [task] description."
            )
        if self._offline_only():
            raise TaskError(
                "The task has no initial program, and the offline provider (used because no model and no API key are set) "
                "cannot write one. Give the task an initial program ([task] initial_program), or configure a model in "
                "[llm] models and its API key."
            )
        self._initial_attempts += 1
        seq = self._take_seq()
        self._launch(seq, parent_id=None, second_parent_id=None, inspiration_ids=[], island=0, kind="initial", generation=0)

    async def _new_proposal(self) -> None:
        seq = self._take_seq()
        await self._apply_until(max(seq - self.lag, self._apply_floor))
        await self._maybe_meta()
        if self._stop_reason is not None:
            raise _Stopped
        selection = self.strategy.select()
        rng = random.Random(proposal_seed(self.config.run.seed, seq))
        kind = self._choose_kind(rng, getattr(selection, "second_parent_id", None))
        parent_id = selection.parent_id
        if parent_id is None:
            kind = "initial"
        generation = self._generation.get(parent_id, 0) + 1 if parent_id is not None else 0
        self._launch(
            seq, parent_id=parent_id, second_parent_id=getattr(selection, "second_parent_id", None) if kind == "crossover" else None,
            inspiration_ids=list(selection.inspiration_ids), island=selection.island, kind=kind, generation=generation,
        )

    def _launch(self, seq: int, *, parent_id: int | None, second_parent_id: int | None, inspiration_ids: list[int], island: int,
                kind: str, generation: int) -> None:
        model = self.llm.choose_model()
        program_id = self.db.add_pending(
            self.run_id, seq=seq, parent_id=parent_id, second_parent_id=second_parent_id, inspiration_ids=inspiration_ids,
            island=island, generation=generation, patch_kind=kind, model=model, language=self.config.task.language,
        )
        proposal = Proposal(seq=seq, program_id=program_id, kind=kind, model=model, parent_id=parent_id,
                            second_parent_id=second_parent_id, inspiration_ids=inspiration_ids, island=island,
                            generation=generation, seed=proposal_seed(self.config.run.seed, seq))
        self.events.emit("proposal_started", generation, program_id=program_id, seq=seq, patch_kind=kind, parent_id=parent_id,
                         second_parent_id=second_parent_id, inspiration_ids=inspiration_ids, island=island, model=model)
        self._start(proposal)

    def _choose_kind(self, rng: random.Random, second_parent_id: int | None) -> str:
        weights = self.config.patch
        kinds = [("diff", weights.diff), ("rewrite", weights.rewrite)]
        if second_parent_id is not None:
            kinds.append(("crossover", weights.crossover))
        total = sum(w for _, w in kinds)
        if total <= 0:
            return "diff"
        pick = rng.random() * total
        for kind, weight in kinds:
            pick -= weight
            if pick < 0:
                return kind
        return kinds[-1][0]

    # -- the LLM stage -----------------------------------------------------------------

    def _program(self, program_id: int) -> ProgramRecord:
        """A program by id: from the cache of finished ones (least recently used goes first), else the database."""
        record = self._cache.pop(program_id, None)
        if record is not None:
            self._cache[program_id] = record  # now the most recently used
        else:
            record = self.db.get_program(program_id, self.run_id)
            if record is None:
                raise RuntimeError(f"program {program_id} of run {self.run_id} is not in the database")
            if record.status == "done":  # a finished program never changes again
                if len(self._cache) >= PROGRAM_CACHE:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[program_id] = record
        return record

    def _view(self, record: ProgramRecord, errors: list[str] | None = None) -> Any:
        from genesis_core.prompts import ProgramView

        return ProgramView(id=record.id, code=record.code or "", score=record.score, correct=bool(record.correct),
                           metrics=dict(record.metrics or {}), feedback=record.feedback or "", errors=errors or [])

    def _build_prompt(self, p: Proposal) -> None:
        from genesis_core.llm import ProposalContext

        parent = self._program(p.parent_id) if p.parent_id is not None else None
        second = self._program(p.second_parent_id) if p.second_parent_id is not None else None
        inspirations = [self._program(i) for i in p.inspiration_ids]
        errors: list[str] = []
        if parent is not None:
            p.parent_fitness = self._fitness.get(parent.id)
            p.parent_code = parent.code or ""
            # Only children the strategy has learned about: the same errors whatever the timings.
            if parent.id in self._parents_with_failures:
                errors = self.db.child_errors(self.run_id, parent.id, before_seq=p.seq - self.lag)
        p.messages = self.prompts.build(
            p.kind, self._view(parent, errors) if parent is not None else None, [self._view(i) for i in inspirations],
            second_parent=self._view(second) if second is not None else None, meta=self._meta_text or None,
        )
        shown = ([second.code or ""] if second is not None else []) + [i.code or "" for i in inspirations]
        p.context = ProposalContext(parent_code=p.parent_code, inspirations=shown, comment=self.comment,
                                    language=self.config.task.language, patch_kind=p.kind)

    async def _llm_stage(self, p: Proposal) -> None:
        from genesis_core.patches import PatchError, code_hash

        try:
            messages = p.messages
            for attempt in range(self.config.patch.max_retries + 1):
                seed = p.seed if attempt == 0 else proposal_seed(p.seed, attempt)
                purpose = "proposal" if attempt == 0 else "retry"
                result = await self.llm.complete(p.model, messages, context=p.context, seed=seed)
                if not result.ok:
                    self._record_call(p, purpose, messages, result, seed)
                    p.failure = FailureReason.LLM_ERROR.value
                    p.error = f"{result.failure}: {result.error}"
                    break
                text = result.completion.text
                try:
                    code = self._apply_answer(p, text)
                    problem = self.language.check_syntax({**self.extra_files, self.main_file: code}, self.main_file)
                    if problem:
                        raise PatchError(f"The patched program does not pass the {self.config.task.language} syntax check: {problem}")
                except PatchError as exc:
                    self._record_call(p, purpose, messages, result, seed)
                    self.events.emit("patch_failed", p.generation, program_id=p.program_id, attempt=attempt + 1, error=str(exc))
                    if attempt == self.config.patch.max_retries:
                        p.failure = FailureReason.PATCH_ERROR.value
                        p.error = str(exc)
                        break
                    messages = self.prompts.retry(messages, text, str(exc))
                    continue
                p.code = code
                p.code_hash = code_hash(code)
                self._record_call(p, purpose, messages, result, seed, code=(code, p.code_hash))  # one transaction with the code
                break
        finally:
            self._proposal_slots += 1
            self.stats.proposals_in_flight -= 1
            if p.ready is not None and not p.ready.done():
                p.ready.set_result(None)
            self._wake.set()
        if p.failure is not None:
            self._settle(p, result=None, evaluation=None, failure=p.failure, error=p.error)

    def _apply_answer(self, p: Proposal, text: str) -> str:
        from genesis_core.patches import PatchError, apply_response

        if p.parent_id is None:
            code = program_from_answer(text, self.comment)
            try:
                find_blocks(code, self.comment, filename="your program")
            except TaskError as exc:
                raise PatchError(f"{exc} Answer with the whole program in one fenced code block.") from None
            return code
        return apply_response(p.parent_code, text, self.comment, p.kind)

    def _record_call(self, p: Proposal | None, purpose: str, messages: list[Any], result: Any, seed: int | None,
                     code: tuple[str, str] | None = None) -> None:
        prompt = prompt_text(messages)
        completion = result.completion
        cost = completion.cost_usd if completion is not None else 0.0
        self.db.add_llm_call(
            self.run_id, program_id=p.program_id if p else None, purpose=purpose, model=result.model, request_seed=seed,
            prompt=prompt, prompt_hash=call_key(result.model, seed, prompt),
            response=completion.text if completion is not None else None,
            reasoning=completion.reasoning if completion is not None else "",
            tokens_in=completion.tokens_in if completion is not None else 0,
            tokens_out=completion.tokens_out if completion is not None else 0,
            cost_usd=cost, latency_s=result.latency_s, attempts=result.attempts, failure=result.failure, error=result.error,
            program_code=code,
        )
        if p is not None:
            p.llm_cost += cost
            p.llm_seconds += result.latency_s
        self.stats.cost_usd = self.llm.spent_usd
        if result.ok:
            self._llm_failure_streak = 0
        else:
            self._llm_failure_streak += 1
            self.stats.last_llm_error = f"{result.failure}: {result.error}"
        self.events.emit(
            "llm_call", p.generation if p else None, program_id=p.program_id if p else None, purpose=purpose, model=result.model,
            tokens_in=completion.tokens_in if completion else 0, tokens_out=completion.tokens_out if completion else 0,
            cost_usd=cost, latency_s=round(result.latency_s, 4), attempts=result.attempts, failure=result.failure,
            error=result.error or None, reasoning=(completion.reasoning or None) if completion else None,
        )
        if self._llm_failure_streak >= LLM_FAILURE_STREAK and self._stop_reason is None:
            if result.failure == "budget":
                self.request_stop("max_cost")
            else:
                self.request_stop("llm_failing")

    # -- ordered dispatch: de-duplication, novelty, evaluation -----------------------------

    async def _dispatch(self) -> None:
        """Takes candidates in proposal order: duplicates and near-duplicates are settled, the rest evaluated."""
        while True:
            p = await self._dispatch_queue.get()
            await p.ready
            if p.failure is not None or p.code is None or p.code_hash is None or p.seq not in self._unsettled:
                continue  # settled in the LLM stage, or cancelled
            if p.kind != "initial":  # a first program is always evaluated (the evaluator may have been fixed since)
                earlier = self._done_hashes.get(p.code_hash)
                if earlier is not None:
                    self._settle_duplicate(p, earlier)
                    continue
                pending = self._inflight_hashes.get(p.code_hash)
                if pending is not None:
                    self._spawn(self._await_duplicate(p, pending), f"genesis-duplicate-{p.seq}")
                    continue
            if self.novelty is not None:
                if not await self._novel(p):
                    continue
            self._inflight_hashes.setdefault(p.code_hash, asyncio.get_running_loop().create_future())
            await self._eval_slots.acquire()
            if p.seq not in self._unsettled:  # cancelled while it waited for a slot
                self._eval_slots.release()
                continue
            self.stats.evaluations_in_flight += 1
            self._spawn(self._evaluate(p), f"genesis-evaluate-{p.seq}")

    async def _novel(self, p: Proposal) -> bool:
        """The novelty check, in proposal order: accepted candidates join their island's set at once."""
        assert self.novelty is not None and p.code is not None
        vector = await self._embed(p.code)
        entry = self.novelty.entry(vector=vector)
        if p.kind != "initial":
            verdict = self.novelty.check(p.code, p.island, entry=entry)
            if not verdict.novel and self.config.novelty.judge and verdict.nearest_id is not None:
                verdict.novel = await self._judged_novel(p, verdict.nearest_id)
            if not verdict.novel:
                self._settle(p, result=None, evaluation=None, failure=FailureReason.NOT_NOVEL.value,
                             error=f"{verdict.similarity:.4f} similar to program {verdict.nearest_id} of island {p.island} "
                                   f"(novelty.threshold {self.novelty.threshold})",
                             duplicate_of=verdict.nearest_id)
                return False
        self.novelty.add(p.program_id, p.island, entry=entry)
        if self.config.novelty.embedding != "shingles":
            p.embedding = list(vector)  # a model's embedding cost a call: kept; the built-in one is recomputed from the code
        return True

    async def _judged_novel(self, p: Proposal, nearest_id: int) -> bool:
        """Let an LLM judge whether a near-duplicate is meaningfully different (a failed call keeps it)."""
        assert self.novelty is not None and p.code is not None
        nearest = self._program(nearest_id)
        messages = self.prompts.novelty_judge(p.code, nearest.code or "")
        model = self.config.novelty.judge_model or p.model or self.llm.choose_model()
        seed = proposal_seed(p.seed, 1000)

        async def ask(question: list[Any]) -> str:
            result = await self.llm.complete(model, question, seed=seed)
            self._record_call(p, "judge", question, result, seed)
            return result.completion.text if result.ok else ""

        judgement = await self.novelty.judge(messages, ask)
        self.events.emit("novelty_judged", p.generation, program_id=p.program_id, nearest_id=nearest_id, novel=judgement.novel,
                         reason=judgement.reason[:500])
        return judgement.novel

    async def _embed(self, code: str) -> Any:
        model = self.config.novelty.embedding
        if model == "shingles":
            return self.novelty.embed(code)
        from genesis_core.blocks import block_texts

        try:
            text = "\n".join(block_texts(code, self.comment))
        except TaskError:
            text = code
        try:
            return (await self.llm.embed([text], model))[0]
        except GenesisError as exc:
            raise GenesisError(f"The novelty check needs embeddings from '{model}' (novelty.embedding), which failed: {exc}") from None

    async def _await_duplicate(self, p: Proposal, pending: asyncio.Future) -> None:
        earlier = await asyncio.shield(pending)
        if earlier is None:  # the earlier one was cancelled: this one is settled as a duplicate of nothing
            raise asyncio.CancelledError
        self._settle_duplicate(p, earlier)

    def _settle_duplicate(self, p: Proposal, earlier_id: int) -> None:
        earlier = self._program(earlier_id)
        self._settle(
            p, result=None, evaluation=None, failure=FailureReason.DUPLICATE.value,
            error=f"the same code (after normalisation) as program {earlier_id}; its result is reused",
            duplicate_of=earlier_id, reused=earlier,
        )

    async def _evaluate(self, p: Proposal) -> None:
        assert p.code is not None
        self.events.emit("evaluation_started", p.generation, program_id=p.program_id, seq=p.seq)
        job = Job(
            id=f"{self.run_id}-{p.seq}", run_id=self.run_id, language=self.config.task.language,
            language_settings=self.language.settings.model_dump(mode="json"),
            files={**self.extra_files, self.main_file: p.code}, main_file=self.main_file, task_dir=str(self.task_dir),
            evaluator=self.config.task.evaluator, evaluator_function=self.config.task.evaluator_function,
            limits=self.config.limits, scrub_env=list(self.config.sandbox.scrub_env), sandbox=self.config.sandbox.enabled,
            shared_build_dir=str(self.build_cache),
        )
        started = time.time()
        try:
            try:
                result = await self.backend.run(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a backend must not raise, but one that does fails this candidate, not the run
                result = JobResult.failed(job.id, FailureReason.BACKEND_ERROR, f"the backend raised {type(exc).__name__}: {exc}")
        finally:
            self._eval_slots.release()
            self.stats.evaluations_in_flight -= 1
        evaluation = {
            "backend": self.backend_name, "ok": result.ok, "score": _finite(result.score), "correct": bool(result.correct),
            "failure": result.failure.value if result.failure else None, "error": result.error, "metrics": _features(result.metrics),
            "build_seconds": result.build_seconds, "eval_seconds": result.eval_seconds, "total_seconds": result.total_seconds,
            "started_at": started, "finished_at": time.time(),
        }
        self._settle(p, result=result, evaluation=evaluation)

    # -- settling ----------------------------------------------------------------------

    def _settle(self, p: Proposal, *, result: JobResult | None, evaluation: dict[str, Any] | None, failure: str | None = None,
                error: str = "", duplicate_of: int | None = None, reused: ProgramRecord | None = None) -> None:
        """Store a finished proposal (one transaction), update counters and indexes, tell the story."""
        if p.seq not in self._unsettled:
            return
        if result is not None:
            score = _finite(result.score)
            correct = bool(result.correct)
            failure = result.failure.value if result.failure else None
            if failure is None and not result.ok:
                failure = FailureReason.INVALID_RESULT.value
            if failure is None and result.score is not None and score is None:
                failure, error = FailureReason.INVALID_RESULT.value, f"the evaluator returned a non-finite score ({result.score})"
            error = error or result.error
            metrics, feedback, artifacts = _features(result.metrics), result.feedback, dict(result.artifacts)
            timings = {"build_seconds": result.build_seconds, "eval_seconds": result.eval_seconds, "total_seconds": result.total_seconds}
        elif reused is not None:
            score, correct = reused.score, reused.correct
            metrics, feedback, artifacts, timings = dict(reused.metrics), reused.feedback, dict(reused.artifacts), {}
        else:
            score, correct, metrics, feedback, artifacts, timings = None, False, {}, "", {}, {}
        timings["llm_seconds"] = round(p.llm_seconds, 6)
        valid = failure is None and correct and score is not None
        fitness = self._to_fitness(score) if valid else None
        improved = fitness is not None and (p.parent_fitness is None or fitness > p.parent_fitness)
        new_best = fitness is not None and (self._best_fitness is None or fitness > self._best_fitness)
        evaluated = evaluation is not None

        embedding = p.embedding
        # counters first, so the saved state is the state after this program
        del self._unsettled[p.seq]
        self.stats.programs += 1
        if evaluated:
            self.stats.evaluations += 1
            self.stats.session_evaluations += 1
            self._no_eval_streak = 0
            self._evals_since_best = 0 if new_best else self._evals_since_best + 1
        else:
            self._no_eval_streak += 1
        if failure is not None:
            self.stats.failures[failure] += 1
            if p.parent_id is not None:
                self._parents_with_failures.add(p.parent_id)
        if new_best:
            self._best_fitness = fitness
            self.stats.best_score = score
            self.stats.best_program_id = p.program_id
        if valid:
            self._valid += 1
        if p.kind == "initial" and not valid:
            self._initial_failures.append(_one_paragraph(f"{failure or 'incorrect'}: {error or feedback or 'the evaluator marked it incorrect'}"))
        self._fitness[p.program_id] = fitness
        self._generation[p.program_id] = p.generation

        values = {
            "score": score, "correct": correct, "failure": failure, "error": error or "", "metrics": metrics, "feedback": feedback or "",
            "artifacts": artifacts, "timings": timings, "duplicate_of": duplicate_of, "embedding": embedding,
        }
        # The code itself was stored when it became known (the pending row of a first program, else with its LLM call).
        run_values = None
        if time.monotonic() - self._strategy_saved_at >= STRATEGY_SAVE_INTERVAL_S:
            run_values = {"strategy_state": self.strategy.state(), "wall_seconds": self._wall()}
            self._strategy_saved_at = time.monotonic()
        self.db.finish_program(p.program_id, run_id=self.run_id, result=values, evaluation=evaluation, run_values=run_values)
        if evaluated and p.code_hash is not None:
            self._done_hashes.setdefault(p.code_hash, p.program_id)
            future = self._inflight_hashes.pop(p.code_hash, None)
            if future is not None and not future.done():
                future.set_result(p.program_id)

        summary = ProgramSummary(id=p.program_id, score=fitness, correct=valid, island=p.island, generation=p.generation,
                                 parent_id=p.parent_id, features=metrics)
        self._outcomes[p.seq] = Outcome(p.seq, summary, p.model, improved, p.llm_cost, evaluated, failure)

        if evaluated:
            self.events.emit(
                "evaluation_finished", p.generation, program_id=p.program_id, seq=p.seq, score=score, correct=correct,
                failure=failure, error=_one_paragraph(error)[:500] if error else None, metrics=metrics,
                seconds=round(evaluation["total_seconds"], 4), evaluations=self.stats.evaluations,
            )
        else:
            self.events.emit("candidate_rejected", p.generation, program_id=p.program_id, seq=p.seq, reason=failure,
                             detail=_one_paragraph(error)[:500], duplicate_of=duplicate_of)
        if new_best:
            self.events.emit("new_best", p.generation, program_id=p.program_id, score=score, seq=p.seq)
            if p.code is not None:
                self.results.write_best(self.language.extensions[0], p.code)
        self._check_targets()
        self._wake.set()

    def _check_targets(self) -> None:
        run = self.config.run
        if run.target_score is not None and self._best_fitness is not None:
            if self._best_fitness >= self._to_fitness(run.target_score):
                self.request_stop("target_score")
        if run.stagnation is not None and self._evals_since_best >= run.stagnation:
            self.request_stop("stagnation")

    # -- ordered learning: strategy, bandit, meta-recommendations -----------------------------

    async def _apply_until(self, end_seq: int) -> None:
        """Teach the strategy every outcome of proposals before `end_seq`, in proposal order."""
        while self._apply_queue and self._apply_queue[0] < end_seq:
            seq = self._apply_queue[0]
            outcome = self._outcomes.get(seq)
            if self._stop_reason is not None:
                raise _Stopped
            if outcome is None:
                self._wake.clear()
                if seq not in self._unsettled and seq not in self._outcomes:
                    self._apply_queue.popleft()  # cancelled and removed: nothing to learn
                    continue
                await self._wake.wait()
                continue
            self._apply_queue.popleft()
            del self._outcomes[seq]
            self._apply(outcome)

    def _apply(self, outcome: Outcome) -> None:
        self.strategy.add(outcome.summary)
        if outcome.model is not None:
            self.llm.record_outcome(outcome.model, outcome.improved, outcome.cost_usd)
        if outcome.evaluated:
            self._applied_evaluations += 1
        fitness = outcome.summary.score
        if fitness is not None and (self._applied_best is None or fitness > self._applied_best[0]):
            self._applied_best = (fitness, outcome.summary.id)
        if outcome.failure is not None and outcome.failure not in ("duplicate", "not_novel"):
            self._applied_failures.append(outcome.summary.id)

    def _apply_all_settled(self) -> None:
        """At the end: learn whatever settled, in order (for the saved state)."""
        while self._apply_queue:
            seq = self._apply_queue.popleft()
            outcome = self._outcomes.pop(seq, None)
            if outcome is not None:
                self._apply(outcome)

    async def _maybe_meta(self) -> None:
        """Every `meta_every` applied evaluations, ask the LLM what worked and show it in later prompts."""
        every = self.config.prompts.meta_every
        if not every or self._offline_only():
            return  # the offline provider edits programs; it cannot summarise
        applied = self._applied_evaluations
        if applied < self._meta_at + every or self._applied_best is None:
            return
        self._meta_at = applied
        best = self._view(self._program(self._applied_best[1]))
        failures = []
        for program_id in self._applied_failures:
            record = self._program(program_id)
            failures.append(f"{record.failure}: {record.error}")
        messages = self.prompts.meta_request([best], failures)
        model = self.llm.choose_model()
        seed = proposal_seed(self.config.run.seed, -applied)
        result = await self.llm.complete(model, messages, seed=seed)
        self._record_call(None, "meta", messages, result, seed)
        if result.ok and result.completion.text.strip():
            self._meta_text = result.completion.text.strip()
            self.db.update_run(self.run_id, state=self._state())
            self.events.emit("meta_recommendation", None, text=self._meta_text, at_evaluations=applied, model=model)

    def _offline_only(self) -> bool:
        models = list(getattr(self.llm, "models", []) or [])
        return bool(getattr(self.llm, "offline", False)) or (bool(models) and all(m.startswith("offline:") for m in models))

    # -- state ---------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        """What the run row keeps beyond what the programs and calls tell (saved when it changes)."""
        return {"lag": self.lag, "results": str(self.results.root), "meta": {"text": self._meta_text, "at": self._meta_at},
                "llm": self.llm.state()}

    def _wall(self) -> float:
        return self.previous_wall + (time.monotonic() - self._session_start)

    def _to_fitness(self, score: float | None) -> float:
        return self.objective_sign * float(score)  # type: ignore[arg-type]

    # -- start and finish ----------------------------------------------------------------

    def _write_run_json(self) -> None:
        in_use: dict[str, Any] = {
            "languages": self.config.task.language,
            "backends": self.config.backend.name,
            "strategies": self.config.strategy.name,
            "llm_providers": sorted({m.partition(":")[0] for m in getattr(self.llm, "models", [])} | ({"replay"} if self.config.llm.replay_from else set())),
        }
        registry = self.host.registry
        in_use["llm_providers"] = [n for n in in_use["llm_providers"] if n in registry.items["llm_providers"]]
        meta = run_metadata(run_id=self.run_id, task_dir=self.task_dir, config=self.config.model_dump(mode="json"),
                            database_url=self.db_url, results=self.results, host=self.host, in_use=in_use)
        meta["models"] = list(getattr(self.llm, "models", []))
        meta["lag"] = self.lag
        meta["max_evaluations_in_flight"] = self.max_evals_in_flight
        meta["max_proposals_in_flight"] = self.max_proposals_in_flight
        self.results.write_run_json(meta)

    def _announce(self) -> None:
        notice = getattr(self.llm, "notice", None)
        self.events.emit(
            "run_started", None, resumed=self.resumed, task=self.config.task.name, language=self.config.task.language,
            strategy=self.config.strategy.name, backend=self.backend_name, models=list(getattr(self.llm, "models", [])),
            notice=notice, results=str(self.results.root), max_evaluations=self.config.run.max_evaluations,
            proposals_in_flight=self.max_proposals_in_flight, evaluations_in_flight=self.max_evals_in_flight, seed=self.config.run.seed,
        )
        if self.resumed:
            self.events.emit("run_resumed", None, **self._resume_info)

    async def _finish(self, failed: BaseException | None) -> None:
        """Cancel what is in flight, settle the database, save the state, close everything."""
        if self._wall_timer is not None:
            self._wall_timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for future in self._inflight_hashes.values():
            if not future.done():
                future.set_result(None)
        if hasattr(self, "run_record"):
            status, reason = self._outcome(failed)
            self._apply_all_settled()
            for p in self._unsettled.values():
                # After Ctrl-C a candidate whose answer was paid for stays, to be evaluated on resume; the rest goes.
                if not (status == "interrupted" and p.code is not None):
                    self.db.drop_pending(p.program_id)
            self._unsettled.clear()
            self.db.update_run(self.run_id, status=status, stop_reason=reason, state=self._state(), wall_seconds=self._wall(),
                               strategy_state=self.strategy.state(), finished_at=time.time() if status == "finished" else None)
            self.stats.stop_reason = reason
            if status == "failed":
                self.events.emit("run_failed", None, error=reason)
            self.events.emit("run_stopped", None, reason=reason, status=status, evaluations=self.stats.evaluations,
                             best_score=self.stats.best_score, best_program_id=self.stats.best_program_id,
                             cost_usd=round(self.llm.spent_usd, 6), wall_seconds=round(self._wall(), 3))
        for closer in (getattr(self, "backend", None), getattr(self, "llm", None)):
            if closer is not None:
                try:
                    await closer.close()
                except Exception:  # closing must not hide the run's own outcome
                    pass
        if hasattr(self, "events"):
            self.events.close()
        if hasattr(self, "db"):
            self.db.close()
        if hasattr(self, "_lock"):
            self._lock.close()

    def _outcome(self, failed: BaseException | None) -> tuple[str, str | None]:
        """The run's status (finished, interrupted, failed) and stop reason."""
        error = self._crash or failed
        if error is None:
            return ("interrupted" if self._stop_reason == "interrupted" else "finished"), self._stop_reason
        if isinstance(error, (KeyboardInterrupt, asyncio.CancelledError)):
            return "interrupted", "interrupted"
        return "failed", f"error: {_one_paragraph(str(error))[:300]}"

    # -- signals -----------------------------------------------------------------------

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        self._signals: list[int] = []
        if not self._handle_signals:
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal)
                self._signals.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass

    def _on_signal(self) -> None:
        if self._stop_reason == "interrupted":  # a second Ctrl-C: stop waiting for the clean-up
            raise KeyboardInterrupt
        self.request_stop("interrupted")

    def _remove_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in getattr(self, "_signals", []):
            loop.remove_signal_handler(sig)


# -- helpers -----------------------------------------------------------------------------


def program_from_answer(text: str, comment: str) -> str:
    """The program in an answer that writes one from scratch: the fenced block holding
    the EVOLVE-BLOCK markers (else the longest fenced block, else the whole answer)."""
    blocks: list[str] = []
    current: list[str] | None = None
    fence = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if current is None:
            if stripped.startswith(("```", "~~~")):
                current, fence = [], stripped[:3]
        elif stripped.startswith(fence) and stripped.strip("`~") == "":
            blocks.append("\n".join(current))
            current = None
        else:
            current.append(line)
    if not blocks:
        return text.strip() + "\n"
    marked = [b for b in blocks if "EVOLVE-BLOCK-START" in b]
    chosen = marked[-1] if marked else max(blocks, key=len)
    return chosen.rstrip() + "\n"


def _default_run_id(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-")
    return cleaned or "run"


def _is_valid(failure: str | None, correct: bool, score: float | None) -> bool:
    return failure is None and bool(correct) and score is not None


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _features(metrics: dict[str, Any] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        number = _finite(value) if not isinstance(value, bool) else float(value)
        if number is not None:
            out[str(key)] = number
    return out


def _one_paragraph(text: str) -> str:
    return " ".join((text or "").split())


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


# Settings whose change makes a stored run a different experiment: resuming across them is refused.
_IDENTITY_KEYS = (("task",), ("strategy",), ("run", "seed"))


def _check_same_run(stored: dict[str, Any], current: dict[str, Any], run_id: str, root: Path) -> None:
    changed = []
    for path in _IDENTITY_KEYS:
        a, b = stored, current
        for part in path:
            a = a.get(part, {}) if isinstance(a, dict) else None
            b = b.get(part, {}) if isinstance(b, dict) else None
        if a != b:
            changed.append(".".join(path))
    if changed:
        raise ConfigError(
            f"The results folder {root} holds run '{run_id}', started with different settings for {', '.join(changed)}. "
            f"Resuming would mix two experiments. Run it with the settings it started with, or start a new run in another "
            f"folder (--results NEW_DIR) or under another name (-s run.run_id=NAME)."
        )
