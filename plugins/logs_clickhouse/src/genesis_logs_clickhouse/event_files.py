"""Finding the `events.jsonl` files of the results folders a user names.

A results folder holds one `events.jsonl`; a folder of results folders (the
default `results/`, one subfolder per task) holds several, found below it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from genesis_core.errors import GenesisError

EVENTS_FILE = "events.jsonl"


def find_event_files(paths: Iterable[str | Path]) -> list[Path]:
    """The events files of each path: the file itself, the folder's own, or those below it."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_file():
            found.append(path.resolve())
        elif (path / EVENTS_FILE).is_file():
            found.append((path / EVENTS_FILE).resolve())
        elif path.is_dir():
            below = sorted(p.resolve() for p in path.rglob(EVENTS_FILE) if p.is_file())
            if not below:
                raise GenesisError(
                    f"Expected a results folder holding {EVENTS_FILE} (or a folder of them), but found none in "
                    f"'{path}'. Give the results folder of a run (by default results/<task name>), or start "
                    f"a run with `genesis run TASK` first."
                )
            found.extend(below)
        else:
            raise GenesisError(
                f"Expected a results folder or an {EVENTS_FILE} file, but '{path}' does not exist. "
                f"Check the path; results go to results/<task name> unless run.results_dir says otherwise."
            )
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique
