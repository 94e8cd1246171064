"""The runs the UI may show: those in the results folders it was started with.

A results folder is one with a `run.json` (see genesis_core.results); a
folder of them (the default `results/`, one subfolder per task) is searched
below. Each folder's database may hold several runs; every one is listed,
once per database. Folders that appear after the server started (a run begun
later in the same `results/`) are found on the next listing.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from genesis_core.database import Database
from genesis_core.errors import GenesisError
from genesis_core.results import RUN_JSON, open_results

# How deep below a given folder results folders are looked for.
MAX_DEPTH = 3
# What `genesis compare` writes beside the results folders of its runs.
COMPARISON_JSON = "comparison.json"


@dataclass(frozen=True)
class RunRef:
    """One run the UI can show: where it is and under which key the URLs name it."""

    key: str
    run_id: str
    folder: Path
    database_url: str


def run_key(database_url: str, run_id: str) -> str:
    """A short key, stable across restarts, that names a run in URLs."""
    return hashlib.blake2b(f"{database_url}\n{run_id}".encode(), digest_size=6).hexdigest()


def find_comparisons(root: Path, depth: int = MAX_DEPTH) -> list[Path]:
    """Folders written by `genesis compare` (holding comparison.json) at or below `root`."""
    if (root / COMPARISON_JSON).is_file():
        return [root]
    if depth == 0 or not root.is_dir() or (root / RUN_JSON).is_file():
        return []
    found: list[Path] = []
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found.extend(find_comparisons(child, depth - 1))
    return found


def find_results_folders(root: Path, depth: int = MAX_DEPTH) -> list[Path]:
    """`root` itself when it is a results folder, else the results folders below it."""
    if (root / RUN_JSON).is_file():
        return [root]
    if depth == 0 or not root.is_dir():
        return []
    found: list[Path] = []
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found.extend(find_results_folders(child, depth - 1))
    return found


class RunCatalog:
    """Opens the databases of the given folders (once each) and lists their runs."""

    def __init__(self, roots: list[Path], *, database_url: str | None = None) -> None:
        missing = [str(r) for r in roots if not r.exists()]
        if missing:
            raise GenesisError(
                f"Expected results folders to show, but {', '.join(missing)} does not exist. Give the folder a run "
                f"writes to (by default results/<task name>) or a folder of them such as results/."
            )
        self.roots = [r.resolve() for r in roots]
        self.database_url = database_url
        self._databases: dict[str, Database] = {}
        self._runs: dict[str, RunRef] = {}
        self._problems: dict[Path, str] = {}
        self._folders: dict[Path, tuple[str, str | None]] = {}
        self._db_locks: dict[str, threading.Lock] = {}  # folder -> (database URL, only this run or None)
        self._lock = threading.Lock()

    @contextmanager
    def reading(self, ref: RunRef) -> Iterator[Database]:
        """The run's database, for this thread alone until the block ends.

        A `Database` keeps one connection for all its calls, and the server
        answers requests on several threads: they take turns per database.
        """
        with self._db_locks[ref.database_url]:
            yield self._databases[ref.database_url]

    def refresh(self) -> list[RunRef]:
        """Look for results folders and runs again; returns every run, oldest first per folder."""
        with self._lock:
            for root in self.roots:
                for folder in find_results_folders(root):
                    self._scan(folder)
            return list(self._runs.values())

    def _scan(self, folder: Path) -> None:
        known = self._folders.get(folder)
        if known is None:
            try:
                opened = open_results(folder, database_url=self.database_url)
            except GenesisError as exc:  # e.g. a run that has written run.json but not its first row yet
                self._problems[folder] = str(exc)
                return
            self._problems.pop(folder, None)
            url = opened.db.url
            if url in self._databases:
                opened.db.close()
            else:
                self._databases[url] = opened.db
                self._db_locks[url] = threading.Lock()
            # A database inside the folder is the folder's own: all its runs are shown. A shared
            # database (run.database_url) may hold other people's runs: only this folder's is.
            in_folder = opened.meta.get("database_url") is None and self.database_url is None
            known = self._folders[folder] = (url, None if in_folder else opened.run_id)
        url, only_run = known
        with self._db_locks[url]:
            found = self._databases[url].list_runs()
        for run in found:
            if only_run is not None and run.id != only_run:
                continue
            key = run_key(url, run.id)
            if key not in self._runs:
                self._runs[key] = RunRef(key=key, run_id=run.id, folder=folder, database_url=url)

    def comparisons(self) -> list[dict]:
        """Each `genesis compare` output found: its comparison.json and the keys of its runs shown here."""
        out = []
        runs = self.refresh()
        for root in self.roots:
            for folder in find_comparisons(root):
                try:
                    data = json.loads((folder / COMPARISON_JSON).read_text())
                except (OSError, ValueError):
                    continue
                if not isinstance(data, dict):
                    continue
                keys = [r.key for r in runs if r.folder.parent == folder]
                out.append({"folder": str(folder), "comparison": data, "run_keys": keys})
        return out

    @property
    def problems(self) -> dict[str, str]:
        """Results folders that could not be opened, with the reason."""
        return {str(k): v for k, v in self._problems.items()}

    def get(self, key: str) -> RunRef | None:
        ref = self._runs.get(key)
        if ref is None:
            self.refresh()
            ref = self._runs.get(key)
        return ref

    def close(self) -> None:
        for db in self._databases.values():
            db.close()
        self._databases.clear()
