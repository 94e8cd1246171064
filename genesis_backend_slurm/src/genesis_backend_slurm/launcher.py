"""What a Slurm job runs: the worker's command line in the chosen environment.

submitit pickles a `Launch` and calls it on the node. It runs
`python -m genesis_core.worker JOB.json RESULT.json` (wrapped by the
environment: conda, docker, apptainer) as a command, not `run_job` in this
process, because a container or a Conda environment can only be entered by a
command, and one form for all keeps a result meaning the same everywhere.
The launcher's own Python is the interpreter that submitted the job (submitit
requires it to be reachable from the nodes); the worker's Python is the
environment's.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genesis_backend_slurm.environments import Mount, Resources, worker_command


class WorkerFailed(RuntimeError):
    """The worker ended without writing a result."""


@dataclass(frozen=True)
class Launch:
    """One worker run inside a Slurm job; called by submitit on the node."""

    environment: Any  # one of the environment models
    job_file: str
    result_file: str
    mounts: tuple[Mount, ...] = ()
    resources: Resources = Resources()
    default_python: str = sys.executable

    def argv(self) -> list[str]:
        slurm_id = os.environ.get("SLURM_JOB_ID", str(os.getpid()))
        return worker_command(
            self.environment,
            self.job_file,
            self.result_file,
            mounts=self.mounts,
            default_python=self.default_python,
            uid=os.getuid(),
            gid=os.getgid(),
            resources=self.resources,
            container_name=f"genesis-{slurm_id}-{Path(self.job_file).parent.name}",
        )

    def __call__(self) -> dict:
        result = Path(self.result_file)
        result.unlink(missing_ok=True)
        argv = self.argv()
        print(f"genesis: running {' '.join(argv)}", file=sys.stderr, flush=True)
        tail: collections.deque[str] = collections.deque(maxlen=40)
        with subprocess.Popen(argv, stdout=sys.stdout.fileno(), stderr=subprocess.PIPE, text=True, errors="replace") as proc:
            assert proc.stderr is not None
            for line in proc.stderr:
                sys.stderr.write(line)
                tail.append(line)
            code = proc.wait()
        sys.stderr.flush()
        if result.is_file():
            return json.loads(result.read_text())
        raise WorkerFailed(
            f"The worker ({argv[0]}) exited with code {code} without writing {result.name}. "
            f"Its last error output:\n{''.join(tail).strip() or '(none)'}"
        )
