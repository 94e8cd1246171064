"""What a Slurm job state (as `sacct` prints it) means for a candidate."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from genesis_core.job import FailureReason


class Phase(Enum):
    WAITING = "waiting"  # queued, running, or about to be requeued
    DONE = "done"  # ended: the worker's result file, if any, tells how
    FAILED = "failed"  # ended without a usable result, for a reason Slurm gives
    LOST = "lost"  # the job's node failed: submit it again


@dataclass(frozen=True)
class Verdict:
    phase: Phase
    failure: FailureReason | None = None
    explanation: str = ""


_WAITING = {
    "PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED",
    "COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING", "STOPPED", "RESV_DEL_HOLD", "UNKNOWN", "READY",
}

# Lines slurmstepd writes into a job's error log when it kills the job for memory
# (jobacct_gather's OverMemoryKill) or the kernel's OOM killer hits its cgroup.
MEMORY_KILL = re.compile(r"exceeded (job )?memory limit|oom[-_ ]kill", re.IGNORECASE)


def judge(state: str, stderr_tail: str = "") -> Verdict:
    """The verdict for a job in `state` (e.g. 'CANCELLED by 1000') with the end of its error log."""
    word = state.split()[0].upper().rstrip("+") if state.strip() else "UNKNOWN"
    if word in _WAITING:
        return Verdict(Phase.WAITING)
    if word == "COMPLETED":
        return Verdict(Phase.DONE)
    if word == "OUT_OF_MEMORY" or MEMORY_KILL.search(stderr_tail):
        return Verdict(Phase.FAILED, FailureReason.MEMORY, f"Slurm killed the job for using more memory than it asked for ({state}).")
    if word in {"TIMEOUT", "DEADLINE"}:
        return Verdict(Phase.FAILED, FailureReason.TIMEOUT, f"Slurm stopped the job at its time limit ({state}).")
    if word == "PREEMPTED":
        return Verdict(Phase.FAILED, FailureReason.PREEMPTED, "Slurm preempted the job for a higher-priority one.")
    if word == "CANCELLED":
        return Verdict(Phase.FAILED, FailureReason.CANCELLED, f"The job was cancelled in Slurm ({state}).")
    if word in {"NODE_FAIL", "BOOT_FAIL", "LAUNCH_FAILED"}:
        return Verdict(Phase.LOST, FailureReason.LOST, f"The job's node failed ({state}).")
    if word == "FAILED":
        return Verdict(Phase.DONE)  # the worker's result or its error log says why
    return Verdict(Phase.FAILED, FailureReason.BACKEND_ERROR, f"Slurm ended the job in state {state}.")
