"""The task folder as one archive, uploaded once per sandbox.

A sandbox cannot see the user's files, so the evaluator and its data travel
as a gzipped tar; its digest names the folder it is unpacked into, so a
sandbox that already holds this version of the task skips the upload.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from genesis_core.errors import TaskError

MAX_ARCHIVE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class TaskArchive:
    digest: str
    data: bytes


def build_archive(task_dir: Path, exclude: list[str], skip: Path | None = None) -> TaskArchive:
    """Tar and gzip `task_dir`, leaving out names in `exclude` and the folder `skip` (the results)."""
    task_dir = task_dir.resolve()
    if not task_dir.is_dir():
        raise TaskError(f"The task folder {task_dir} does not exist; the job's task_dir must name the folder holding the evaluator.")
    skip = skip.resolve() if skip is not None else None
    excluded = set(exclude)

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        if any(part in excluded for part in parts[1:]):
            return None
        if skip is not None and (task_dir.parent / info.name).resolve() == skip:
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0  # the same files give the same digest
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(task_dir, arcname="task", recursive=True, filter=keep)
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()[:16]
    data = gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0)
    if len(data) > MAX_ARCHIVE_BYTES:
        raise TaskError(
            f"The task folder {task_dir} packs to {len(data) // 2**20} MiB, more than {MAX_ARCHIVE_BYTES // 2**20} MiB to upload "
            f"to every sandbox. Leave large data out ([backend.e2b] task_exclude) or bake it into the template."
        )
    return TaskArchive(digest, data)
