"""What `genesis run` shows while it works.

On a terminal: a live two-line display, redrawn in place (evaluations done of
the budget, best score, money spent, proposals and evaluations in flight,
throughput, failures by reason), with notable events (a new best, a notice,
the stop) printed above it. When the output is not a terminal (CI, a log
file): plain, timestamped log lines, one per notable event and one progress
line every `every` evaluations.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, TextIO

from genesis_core.engine import RunStats

CLEAR_LINE = "\x1b[2K"
UP = "\x1b[1A"


def fmt_score(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def fmt_duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    """An event listener that keeps the user informed; `close()` leaves the terminal tidy."""

    def __init__(self, stats: RunStats, stream: TextIO | None = None, *, live: bool | None = None, every: int = 10,
                 quiet: bool = False) -> None:
        self.stats = stats
        self.stream = stream or sys.stderr
        self.live = (self.stream.isatty() if hasattr(self.stream, "isatty") else False) if live is None else live
        self.every = max(1, every)
        self.quiet = quiet
        self._drawn = 0  # lines of the live display currently on screen
        self._last_draw = 0.0
        self._ticker: asyncio.TimerHandle | None = None
        self._closed = False

    # -- the listener -------------------------------------------------------------

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "run_started":
            self._start_ticker()
            verb = "Resuming" if event.get("resumed") else "Starting"
            self._log(
                f"{verb} run '{event.get('run_id')}' of task {event.get('task')}: {event.get('language')} on "
                f"{event.get('backend')}, strategy {event.get('strategy')}, models {', '.join(event.get('models') or [])}; "
                f"{event.get('proposals_in_flight')} proposals and {event.get('evaluations_in_flight')} evaluations in flight. "
                f"Results: {event.get('results')}"
            )
            if event.get("notice"):
                self._log(f"Note: {event['notice']}")
        elif kind == "run_resumed":
            self._log(
                f"Resumed: {event.get('evaluations')} evaluations and {event.get('programs')} programs already done, "
                f"{event.get('pending')} unfinished proposals to redo, ${event.get('cost_usd', 0):.4f} spent so far."
            )
        elif kind == "new_best":
            self._log(f"New best: {fmt_score(event.get('score'))} (program {event.get('program_id')}, "
                      f"{self.stats.evaluations} evaluations)")
        elif kind == "meta_recommendation":
            self._log(f"Meta-recommendation after {event.get('at_evaluations')} evaluations updated.")
        elif kind == "run_stopped":
            self._stop_ticker()
            if event.get("status") == "failed":  # the error itself is reported by the command
                self.close()
                return
            self._log(
                f"Stopped ({event.get('reason')}): {event.get('evaluations')} evaluations, best "
                f"{fmt_score(event.get('best_score'))}, ${event.get('cost_usd', 0):.4f} spent, "
                f"{fmt_duration(event.get('wall_seconds') or 0)} in all."
            )
            self.close()
            return
        elif kind == "evaluation_finished" and not self.live:
            done = event.get("evaluations") or self.stats.evaluations
            if done % self.every == 0:
                self._log(self._status_text())
        if self.live:
            self._draw()

    # -- output ---------------------------------------------------------------------

    def _status_text(self) -> str:
        s = self.stats
        budget = f"/{s.max_evaluations}" if s.max_evaluations else ""
        cost = f"${s.cost_usd:.4f}" + (f"/${s.max_cost_usd:g}" if s.max_cost_usd else "")
        elapsed = time.monotonic() - s.started
        rate = s.session_evaluations / elapsed if elapsed > 0 else 0.0
        return (
            f"evaluations {s.evaluations}{budget} | best {fmt_score(s.best_score)} | {cost} | in flight: "
            f"{s.proposals_in_flight} proposals, {s.evaluations_in_flight} evaluations | {rate:.2f}/s | {fmt_duration(elapsed)}"
        )

    def _failures_text(self) -> str:
        if not self.stats.failures:
            return "failures: none"
        parts = ", ".join(f"{reason} {count}" for reason, count in self.stats.failures.most_common())
        return f"failures: {parts}"

    def _log(self, text: str) -> None:
        if self.quiet:
            return
        if self.live:
            self._erase()
            self.stream.write(text + "\n")
            self._draw(force=True)
        else:
            self.stream.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")
        self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        if self._closed or self.quiet:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        self._erase()
        width = 200
        lines = [self._status_text()[:width], self._failures_text()[:width]]
        self.stream.write("\n".join(lines) + "\n")
        self._drawn = len(lines)
        self.stream.flush()

    def _erase(self) -> None:
        if self._drawn:
            self.stream.write((UP + CLEAR_LINE) * self._drawn + "\r")
            self._drawn = 0

    # -- a once-a-second redraw, so the clock moves during long evaluations ----------------

    def _start_ticker(self) -> None:
        if not self.live or self._ticker is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        def tick() -> None:
            self._draw(force=True)
            self._ticker = loop.call_later(1.0, tick)

        self._ticker = loop.call_later(1.0, tick)

    def _stop_ticker(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def close(self) -> None:
        self._stop_ticker()
        if self.live and not self._closed and not self.quiet:
            self._erase()
            self.stream.write(self._status_text() + "\n" + self._failures_text() + "\n")
            self.stream.flush()
        self._closed = True
