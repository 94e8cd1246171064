"""CUDA candidates on the local backend: they take one GPU slot each, so two never share a GPU."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cuda_machine import CUDA_ADDRESS_SPACE_MB, require_nvcc
from genesis_core.backends.local import LocalBackend
from genesis_core.job import Job, Limits

KERNEL = """
#include <cstdio>
// EVOLVE-BLOCK-START
__global__ void twice(float* x) { x[threadIdx.x] *= 2.0f; }
// EVOLVE-BLOCK-END
int main() { std::printf("built\\n"); return 0; }
"""

EVALUATOR = """
def evaluate(candidate):
    out = candidate.run(timeout=60)
    return {"score": 1.0, "correct": out.returncode == 0, "feedback": out.stdout}
"""


def test_gpu_jobs_run_one_at_a_time_while_cpu_slots_are_free(tmp_path: Path):
    require_nvcc()
    task = tmp_path / "task"
    task.mkdir()
    (task / "evaluate.py").write_text(EVALUATOR)
    jobs = [
        Job(id=f"gpu-{i}", language="cuda", files={"main.cu": KERNEL.replace("2.0f", f"{i + 2}.0f")}, main_file="main.cu",
            task_dir=str(task), limits=Limits(wall_time_s=120, memory_mb=CUDA_ADDRESS_SPACE_MB))
        for i in range(3)
    ]

    async def run_all():
        backend = LocalBackend({"max_jobs": 3, "gpu_jobs": 1})
        await backend.start()
        try:
            started = time.monotonic()
            results = await asyncio.gather(*(backend.run(job) for job in jobs))
            return results, time.monotonic() - started
        finally:
            await backend.close()

    results, wall = asyncio.run(run_all())
    # Built (and run where a GPU is, else failed as needs_gpu), each measured inside its worker.
    assert all(r.build_seconds > 0 for r in results), [(r.failure, r.error) for r in results]
    # One at a time: the three jobs' own durations fit end to end in the time all three took.
    # Run side by side (three CPU slots were free) they would add up to more than that.
    assert sum(r.total_seconds for r in results) <= wall
