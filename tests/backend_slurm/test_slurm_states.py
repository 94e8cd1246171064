"""What each Slurm job state, as sacct prints it, means for a candidate."""

from __future__ import annotations

import pytest
from genesis_backend_slurm.states import Phase, judge
from genesis_core.job import FailureReason

OVER_MEMORY_LOG = (
    "slurmstepd-node7: error: StepId=41.0 exceeded memory limit (323485696 > 104857600), being killed\n"
    "slurmstepd-node7: error: Exceeded job memory limit\n"
)


@pytest.mark.parametrize("state", ["PENDING", "RUNNING", "REQUEUED", "COMPLETING", "SUSPENDED", "UNKNOWN", ""])
def test_jobs_in_the_queue_are_waited_for(state):
    assert judge(state).phase is Phase.WAITING


@pytest.mark.parametrize(
    ("state", "log", "failure"),
    [
        ("CANCELLED by 1000", "", FailureReason.CANCELLED),
        ("CANCELLED+", "", FailureReason.CANCELLED),
        ("PREEMPTED", "", FailureReason.PREEMPTED),
        ("TIMEOUT", "", FailureReason.TIMEOUT),
        ("DEADLINE", "", FailureReason.TIMEOUT),
        ("OUT_OF_MEMORY", "", FailureReason.MEMORY),
        # jobacct_gather's OverMemoryKill (no cgroups): the job FAILED, its log says why.
        ("FAILED", OVER_MEMORY_LOG, FailureReason.MEMORY),
        ("CANCELLED by 0", OVER_MEMORY_LOG, FailureReason.MEMORY),
    ],
)
def test_slurm_faults_become_failures_with_their_reason(state, log, failure):
    verdict = judge(state, log)
    assert verdict.phase is Phase.FAILED
    assert verdict.failure is failure
    assert verdict.explanation


@pytest.mark.parametrize("state", ["NODE_FAIL", "BOOT_FAIL"])
def test_node_failures_are_lost_jobs(state):
    assert judge(state).phase is Phase.LOST


def test_completed_and_failed_jobs_are_judged_by_their_result():
    assert judge("COMPLETED").phase is Phase.DONE
    assert judge("FAILED", "Traceback: ValueError").phase is Phase.DONE
    assert judge("COMPLETED", OVER_MEMORY_LOG).phase is Phase.DONE
