"""Cargo target folders shared by the candidates of one run.

Candidates of one run differ by a few lines, so they share compiled
dependencies: each build takes one of a few target folders under the run's
shared build folder, holds it (a file lock) while cargo runs and its
executables are copied out, and leaves the compiled dependencies behind for
the next candidate. Several slots let builds of one run proceed side by side
without waiting on cargo's own lock of a single folder.

When the harness runs as root, each job's processes run under their own
user id and a per-job group that owns the job folder; a slot is handed to
the group of the job that holds it (`share_with`), so the compiler of the
next candidate can write where the previous one left its files.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def share_with(folder: Path, workdir: Path) -> None:
    """Give the slot `folder` to the group that owns the job folder `workdir` (as root only).

    Files become group-readable and -writable, folders also setgid, so what
    the compiler creates stays in the group.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return
    for parent in (folder.parent, folder.parent.parent):  # the slots' folder and the run's cache: traversable
        os.chmod(parent, parent.stat().st_mode | 0o111)
    gid = workdir.stat().st_gid
    for path in (folder, *folder.rglob("*")):
        if path.is_symlink():
            os.lchown(path, 0, gid)
            continue
        mode = path.stat().st_mode
        os.chown(path, 0, gid)
        group = (mode & 0o700) >> 3
        os.chmod(path, (mode & 0o7700) | group | (0o2000 if path.is_dir() else 0))


@contextmanager
def claim_slot(root: Path, slots: int) -> Iterator[Path]:
    """Hold a free target folder under `root`; wait for one when all are busy."""
    root.mkdir(parents=True, exist_ok=True)
    handles = []
    try:
        for index in range(slots):
            handle = open(root / f"target-{index}.lock", "a+")  # noqa: SIM115 - held until the build ends
            handles.append(handle)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            yield root / f"target-{index}"
            return
        # Every slot is busy: queue on one, chosen by process so waiters spread out.
        index = os.getpid() % slots
        fcntl.flock(handles[index], fcntl.LOCK_EX)
        yield root / f"target-{index}"
    finally:
        for handle in handles:
            handle.close()
