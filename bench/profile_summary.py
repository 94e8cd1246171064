"""Where a profiled engine run spent its CPU, per candidate and per part of the engine.

`python -m bench --profile DIR` runs each engine under cProfile with a CPU
clock and writes DIR/<benchmark>.prof; this module turns one into a short
table: the cumulative CPU of the functions that make up one candidate's
way through the engine, divided by the number of candidates. cProfile adds
a cost to every Python call, so parts made of many small calls (SQLAlchemy,
structlog) look bigger than they are; the shares still say where to look
first.

    python -m bench.profile_summary DIR/overhead-1000.prof CANDIDATES
"""

from __future__ import annotations

import pstats
import sys
from pathlib import Path

# (label, file path fragment, function name): parts of one candidate's way, chosen so that they do not nest,
# except the events, which are also emitted inside the other parts.
PARTS: tuple[tuple[str, str, str], ...] = (
    ("LLM client round trip (HTTP, answer parsing)", "genesis_core/llm_client.py", "complete"),
    ("recording the LLM call and the code (database, event)", "genesis_core/engine.py", "_record_call"),
    ("patch application", "genesis_core/patches.py", "apply_response"),
    ("syntax check of the candidate", "genesis_core/languages/", "check_syntax"),
    ("novelty check (embedding, comparison)", "genesis_core/engine.py", "_novel"),
    ("prompt building (programs, errors, template)", "genesis_core/engine.py", "_build_prompt"),
    ("parent and inspiration selection (strategy)", "genesis_core/strategies/", "select"),
    ("pending program row", "genesis_core/database.py", "add_pending"),
    ("settling (result, evaluation row, event)", "genesis_core/engine.py", "_settle"),
    ("events (events.jsonl, listeners; partly inside the rows above)", "genesis_core/events.py", "emit"),
)


def summarise(path: Path, candidates: int) -> list[tuple[str, float]]:
    """(part, milliseconds of CPU per candidate) for each part found in the profile, then the whole process."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    total = 0.0
    for (filename, _line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.items():
        total += tottime
        for label, fragment, function in PARTS:
            if name == function and fragment in filename:
                found[label] = found.get(label, 0.0) + cumtime * 1000 / candidates
    rows = sorted(found.items(), key=lambda item: -item[1])
    rows.append(("whole engine process (start-up included)", total * 1000 / candidates))
    return rows


def main() -> None:
    path, candidates = Path(sys.argv[1]), int(sys.argv[2])
    for label, ms in summarise(path, candidates):
        print(f"{ms:8.3f} ms  {label}")


if __name__ == "__main__":
    main()
