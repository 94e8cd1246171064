"""The results folder of a run: where its database, events, best program and run.json live.

    results/<task>/
        genesis.db       the program database (unless run.database_url points elsewhere)
        events.jsonl     one structured event per line
        best.<ext>       the best program so far, rewritten on every new best
        run.json         resolved configuration, versions of Genesis and of every plugin in use

`run.json` carries the schema version; a folder written by an incompatible
Genesis is refused with a clear error before anything in it is touched.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from genesis_core import __version__
from genesis_core.database import DEFAULT_DB_NAME, SCHEMA_VERSION, Database, display_url, sqlite_url
from genesis_core.errors import GenesisError

RUN_JSON = "run.json"
LOCK = ".lock"
EVENTS = "events.jsonl"
BEST_STEM = "best"


class IncompatibleResults(GenesisError):
    """The results folder was written by an incompatible version of Genesis."""


@dataclass
class ResultsFolder:
    """Paths of one run's results, and the checks made before using them."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root).expanduser().resolve()

    @property
    def run_json(self) -> Path:
        return self.root / RUN_JSON

    @property
    def events(self) -> Path:
        return self.root / EVENTS

    @property
    def default_db(self) -> Path:
        return self.root / DEFAULT_DB_NAME

    def best_path(self, extension: str) -> Path:
        return self.root / f"{BEST_STEM}{extension}"

    def database_url(self, configured: str | None) -> str:
        """The run's SQLAlchemy URL: the configured one, or SQLite inside this folder."""
        return configured or sqlite_url(self.default_db)

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def lock(self) -> TextIO:
        """Hold the folder for one run at a time (released by the OS even after kill -9); keep the handle open."""
        import fcntl

        handle = open(self.root / LOCK, "a+")  # noqa: SIM115 - held for the whole run
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise GenesisError(
                f"The results folder {self.root} is in use by a running `genesis run` ({holder}). Wait for it to finish "
                f"or stop it, or give this run another folder (--results NEW_DIR)."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        return handle

    # -- run.json ---------------------------------------------------------------

    def read_run_json(self) -> dict[str, Any] | None:
        if not self.run_json.is_file():
            return None
        try:
            data = json.loads(self.run_json.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IncompatibleResults(
                f"{self.run_json} is not valid JSON ({exc}). It was not written by this Genesis or was damaged: "
                f"use another results folder (--results), or remove the file to start over."
            ) from None
        if not isinstance(data, dict):
            raise IncompatibleResults(f"{self.run_json} does not hold a JSON object; use another results folder (--results).")
        return data

    def check_compatible(self) -> dict[str, Any] | None:
        """The run.json of an earlier run here (or None); an error when another schema wrote it."""
        data = self.read_run_json()
        if data is None:
            return None
        found = data.get("schema_version")
        if found != SCHEMA_VERSION:
            written_by = data.get("genesis_version", "an unknown version")
            raise IncompatibleResults(
                f"The results folder {self.root} was written by Genesis {written_by} (results schema {found}); this is "
                f"Genesis {__version__}, which reads schema {SCHEMA_VERSION}. Resume it with the Genesis that wrote it, or "
                f"start over in a new folder (--results NEW_DIR)."
            )
        return data

    def write_run_json(self, data: dict[str, Any]) -> None:
        """Write run.json atomically (a kill never leaves half a file)."""
        tmp = self.run_json.with_name(f".{RUN_JSON}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
        os.replace(tmp, self.run_json)

    def write_best(self, extension: str, code: str) -> Path:
        path = self.best_path(extension)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(code)
        os.replace(tmp, path)
        return path


def run_metadata(*, run_id: str, task_dir: Path, config: dict[str, Any], database_url: str, results: ResultsFolder,
                 host: Any, in_use: dict[str, str | list[str]]) -> dict[str, Any]:
    """What run.json holds: versions of everything in use, the resolved configuration, where the data is."""
    in_folder = database_url == sqlite_url(results.default_db)
    plugins = []
    for info in getattr(host, "plugins", []):
        plugins.append({"dist": info.dist, "version": info.version, "entry_point": info.entry_point, "status": info.status})
    registry = host.registry if host is not None else None
    used: dict[str, Any] = {}
    for kind, names in in_use.items():
        entries = []
        for name in [names] if isinstance(names, str) else names:
            source = registry.source_of(kind, name) if registry is not None else None
            version = next((p["version"] for p in plugins if source and p["dist"] == source.dist), None)
            entries.append({"name": name, "dist": source.dist if source else None, "version": version})
        used[kind] = entries[0] if isinstance(names, str) else entries
    return {
        "schema_version": SCHEMA_VERSION,
        "genesis_version": __version__,
        "run_id": run_id,
        "task_dir": str(task_dir.resolve()),
        "database_url": None if in_folder else display_url(database_url),
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "in_use": used,
        "plugins": plugins,
        "config": config,
    }


@dataclass
class OpenedResults:
    """A results folder opened for reading (status, show, export)."""

    folder: ResultsFolder
    meta: dict[str, Any]
    db: Database
    run_id: str


def open_results(path: Path, *, database_url: str | None = None, run_id: str | None = None) -> OpenedResults:
    """Open a finished or running results folder for reading, with clear errors for what is wrong."""
    folder = ResultsFolder(Path(path))
    if not folder.root.is_dir():
        raise GenesisError(
            f"No results folder at {folder.root}. Give the folder a run writes its results to "
            f"(by default results/<task name>, or the --results of `genesis run`)."
        )
    meta = folder.check_compatible()
    if meta is None:
        raise GenesisError(
            f"{folder.root} holds no {RUN_JSON}, so it is not a Genesis results folder (or its run never started). "
            f"Give the folder `genesis run` printed at its start."
        )
    url = database_url
    if url is None:
        stored = meta.get("database_url")
        if stored is None:
            url = sqlite_url(folder.default_db)
            if not folder.default_db.is_file():
                raise GenesisError(f"The database {folder.default_db} of this results folder is missing; the run's programs are gone.")
        elif "***" in stored:
            raise GenesisError(
                f"The run's database is {stored}, whose password is not stored in {RUN_JSON}. "
                f"Pass the full URL with --database-url."
            )
        else:
            url = stored
    db = Database(url, create=False)
    rid = run_id or meta.get("run_id")
    if not rid or db.get_run(rid) is None:
        known = ", ".join(r.id for r in db.list_runs()) or "none"
        db.close()
        raise GenesisError(f"The database holds no run '{rid}' (runs: {known}). Pass --run-id with one of them.")
    return OpenedResults(folder, meta, db, rid)
