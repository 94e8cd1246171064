"""Cargo target folders shared by the candidates of one run.

Candidates of one run differ by a few lines, so they share compiled
dependencies: each build takes one of a few target folders under the run's
shared build folder, holds it (a file lock) while cargo runs and its
executables are copied out, and leaves the compiled dependencies behind for
the next candidate. Several slots let builds of one run proceed side by side
without waiting on cargo's own lock of a single folder.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
