"""The run's story: one structured event per line of `events.jsonl`, through structlog.

Every event carries `ts` (ISO 8601, UTC), `run_id`, `generation` and `kind`,
then the fields of that kind (a proposal's parent and model, an LLM call's
tokens, cost and the provider's reasoning text, an evaluation's score and
failure reason...). The same dict goes to the plugins' `on_event` hooks
(web UI, log shippers) and to in-process listeners such as the progress
display. The database holds state; events hold the story.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import structlog

Listener = Callable[[dict[str, Any]], None]

# The kinds of event the engine writes; plugins may rely on these names.
KINDS = (
    "run_started",  # config, resumed, plugins
    "run_resumed",  # programs, evaluations, pending
    "proposal_started",  # program_id, seq, parent_id, inspiration_ids, island, patch_kind, model
    "llm_call",  # program_id, purpose, model, tokens_in, tokens_out, cost_usd, latency_s, reasoning, failure
    "patch_failed",  # program_id, attempt, error
    "novelty_judged",  # program_id, nearest_id, novel, reason (the LLM judge of near-duplicates)
    "candidate_rejected",  # program_id, reason (duplicate | not_novel | llm_error | patch_error), detail
    "evaluation_started",  # program_id, seq
    "evaluation_finished",  # program_id, score, correct, failure, metrics, seconds
    "new_best",  # program_id, score
    "meta_recommendation",  # text, at_evaluations
    "run_stopped",  # reason, evaluations, best_score, cost_usd
    "run_failed",  # error
)


def _timestamp(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    event["ts"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return event


class EventLog:
    """Writes a run's events to `events.jsonl` and hands each one to observers.

    `host` is the plugin host (its `emit` fans out to `on_event` hooks);
    `listeners` are in-process callbacks (the progress display). A listener's
    error is reported once on stderr and never stops the run.
    """

    def __init__(self, path: Path | None, run_id: str, *, host: Any = None) -> None:
        self.path = path
        self.run_id = run_id
        self.host = host
        self.listeners: list[Listener] = []
        self._file: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torn = path.is_file() and path.stat().st_size > 0 and not _ends_with_newline(path)
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the run
            if torn:  # a killed run left half a line: end it, so the next event starts on a line of its own
                self._file.write("\n")
        self._logger = structlog.wrap_logger(
            structlog.WriteLogger(self._file) if self._file else structlog.ReturnLogger(),
            processors=[self._fan_out, structlog.processors.JSONRenderer(default=str, ensure_ascii=False)],
            wrapper_class=structlog.BoundLogger,
        )

    def emit(self, kind: str, generation: int | None = None, **fields: Any) -> dict[str, Any]:
        """Record one event; returns the dict that was written."""
        event: dict[str, Any] = {"ts": None, "run_id": self.run_id, "generation": generation, "kind": kind}
        event.update(fields)
        _timestamp(None, "", event)
        self._logger.msg(**event)
        return event

    def _fan_out(self, _logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        if self.host is not None:
            self.host.emit(event)
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception as exc:  # a display must never stop the run
                self.listeners.remove(listener)
                import sys

                print(f"genesis: event listener failed and was removed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return event

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) == b"\n"


def read_events(path: Path, kinds: set[str] | None = None) -> list[dict[str, Any]]:
    """The events of an `events.jsonl` (a torn last line, from a killed run, is skipped)."""
    import json

    out: list[dict[str, Any]] = []
    if not path.is_file():
        return out
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if kinds is None or event.get("kind") in kinds:
                out.append(event)
    return out
