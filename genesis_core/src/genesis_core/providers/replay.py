"""The replay provider: answers with the LLM calls recorded in an earlier run's database.

With `[llm] replay_from` set (the earlier run's results folder, or its
database URL with `#RUN_ID` when the database holds several runs), every
model string is routed here by the LLM client. A call is matched to a
recorded one by its model, its seed and its exact prompt; calls that match
the same recording are answered in the order they were recorded. A replayed
run therefore reproduces the original programs exactly, with no API call and
no cost, as long as it asks the same questions; the first question the
earlier run never asked is an error that says where the runs diverged.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from genesis_core.errors import ConfigError
from genesis_core.hookspecs import hookimpl
from genesis_core.llm import (
    FAILURE_REASONS,
    Completion,
    CompletionRequest,
    LLMProvider,
    ProviderError,
    ProviderSettings,
)


class ReplaySettings(ProviderSettings):
    replay_from: str = Field(description="The earlier run: its results folder, or a database URL (with #RUN_ID when it holds several runs).")


@dataclass(slots=True)
class Recorded:
    id: int
    response: str | None
    reasoning: str
    tokens_in: int
    tokens_out: int
    latency_s: float
    failure: str | None
    error: str


def locate_run(replay_from: str) -> tuple[str, str | None]:
    """(database URL, run id or None) of the run named by `replay_from`."""
    from genesis_core.results import ResultsFolder

    if "://" in replay_from:
        url, _, run_id = replay_from.partition("#")
        return url, run_id or None
    folder = ResultsFolder(Path(replay_from).expanduser())
    if not folder.root.is_dir():
        raise ConfigError(
            f"[llm] replay_from = '{replay_from}' is neither a results folder nor a database URL. Give the results folder "
            f"of the run to replay (it holds run.json), or its database URL (sqlite:///..., postgresql://...#RUN_ID)."
        )
    meta = folder.check_compatible()
    if meta is None:
        raise ConfigError(f"[llm] replay_from = '{replay_from}': the folder holds no run.json, so it is not a Genesis results folder.")
    stored = meta.get("database_url")
    if stored and "***" in stored:
        raise ConfigError(
            f"The run in {folder.root} keeps its calls in {stored}, whose password is not stored. Set [llm] replay_from to "
            f"the full database URL followed by #{meta.get('run_id')}."
        )
    return (stored or folder.database_url(None)), meta.get("run_id")


def recorded_models(replay_from: str) -> list[str]:
    """The model strings the earlier run used (to replay a run that left [llm] models empty)."""
    from genesis_core.database import Database

    url, run_id = locate_run(replay_from)
    with Database(url, create=False) as db:
        run_id = _pick_run(db, run_id, replay_from)
        run = db.get_run(run_id)
        models: list[str] = []
        for call in db.iter_llm_calls(run_id):
            if call.model not in models:
                models.append(call.model)
        if not models and run is not None:
            configured = (run.config.get("llm") or {}).get("models") or []
            models = list(configured)
    return models


def _pick_run(db: Any, run_id: str | None, replay_from: str) -> str:
    if run_id is not None:
        if db.get_run(run_id) is None:
            known = ", ".join(r.id for r in db.list_runs()) or "none"
            raise ConfigError(f"[llm] replay_from = '{replay_from}': the database holds no run '{run_id}' (runs: {known}).")
        return run_id
    runs = db.list_runs()
    if len(runs) != 1:
        known = ", ".join(r.id for r in runs) or "none"
        raise ConfigError(
            f"[llm] replay_from = '{replay_from}': the database holds {len(runs)} runs ({known}); add #RUN_ID to the URL "
            f"to say which to replay."
        )
    return runs[0].id


class ReplayProvider(LLMProvider):
    """Answers from the recorded calls of an earlier run; never touches the network."""

    name: ClassVar[str] = "replay"
    description: ClassVar[str] = "Replays the LLM calls recorded in an earlier run's database ([llm] replay_from)"
    api_key_env: ClassVar[str | None] = None
    Settings = ReplaySettings

    def __init__(self, settings: ReplaySettings | dict | None = None) -> None:
        super().__init__(settings)
        from genesis_core.database import Database

        self.source = self.settings.replay_from  # type: ignore[attr-defined]
        url, run_id = locate_run(self.source)
        self._calls: dict[str, deque[Recorded]] = {}
        self.total = 0
        self.replayed = 0
        with Database(url, create=False) as db:
            self.run_id = _pick_run(db, run_id, self.source)
            for call in db.iter_llm_calls(self.run_id):
                self._calls.setdefault(call.prompt_hash, deque()).append(
                    Recorded(call.id, call.response, call.reasoning, call.tokens_in, call.tokens_out, call.latency_s, call.failure, call.error)
                )
                self.total += 1

    async def complete(self, request: CompletionRequest) -> Completion:
        from genesis_core.database import call_key, prompt_text

        key = call_key(request.model, request.seed, prompt_text(request.messages))
        queue = self._calls.get(key)
        if not queue:
            raise ProviderError(
                "error",
                f"The replayed run asked a question run '{self.run_id}' never asked (model {request.model}, seed {request.seed}, "
                f"after {self.replayed} of its {self.total} calls were replayed): the runs diverged here. Replay with the same "
                f"task, configuration and seed as the recorded run.",
                retryable=False,
            )
        recorded = queue.popleft()
        self.replayed += 1
        if recorded.response is None:
            reason = recorded.failure if recorded.failure in FAILURE_REASONS else "error"
            raise ProviderError(reason, f"(replayed) {recorded.error or 'the recorded call failed'}", retryable=False)
        return Completion(
            text=recorded.response, reasoning=recorded.reasoning, model=request.model, tokens_in=recorded.tokens_in,
            tokens_out=recorded.tokens_out, cost_usd=0.0, latency_s=recorded.latency_s,
        )


@hookimpl
def register_llm_providers(register):
    register(ReplayProvider)
