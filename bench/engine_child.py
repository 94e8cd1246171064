"""One engine run in a process of its own, timed from the inside.

    python -m bench.engine_child SPEC.json RESULT.json

The parent (bench/overhead.py, bench/pipeline.py) writes the task, seeds the
database and runs the mock LLM server; this process runs nothing but the
engine, so its peak resident memory is the engine's. An event listener (the
same hook the progress display uses) notes the time each candidate settles:
evaluated, or rejected before evaluation. With one proposal in flight and an
instant evaluation, the gap between two settlements is the whole cost of
one candidate: selection, prompt, LLM round trip, patch, checks, storage.
The process's CPU time at the same moments gives the engine's own CPU per
candidate, which a busy machine inflates less than wall time.

With "profile": PATH in the spec, the run is profiled with cProfile (CPU
clock) and the statistics written to PATH (`python -m bench --profile DIR`).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

SETTLED = ("evaluation_finished", "candidate_rejected")


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM), in MB (10^6 bytes)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def run(spec: dict[str, Any]) -> dict[str, Any]:
    from genesis_core.config import load_config
    from genesis_core.engine import Engine
    from genesis_core.results import ResultsFolder

    from bench.backends import DelayBackend, InstantBackend

    task_dir = Path(spec["task_dir"])
    config = load_config(task_dir, spec.get("overrides", []))
    if spec["backend"] == "instant":
        backend = InstantBackend()
    else:
        backend = DelayBackend(spec["delay_s"], spec["capacity"])

    settled: list[float] = []
    settled_cpu: list[float] = []
    outcomes: dict[str, int] = {}
    llm_latency: list[float] = []
    marks: dict[str, float] = {}

    def listen(event: dict[str, Any]) -> None:
        kind = event["kind"]
        if kind in SETTLED:
            settled.append(time.perf_counter())
            settled_cpu.append(time.process_time())
            reason = event.get("reason") or event.get("failure") or "evaluated"
            outcomes[reason] = outcomes.get(reason, 0) + 1
        elif kind == "llm_call" and event.get("purpose") == "proposal":
            llm_latency.append(float(event.get("latency_s") or 0.0))
        elif kind == "run_started":
            marks["started"] = time.perf_counter()

    engine = Engine(task_dir, config, ResultsFolder(Path(spec["results_dir"])), backend=backend, listeners=[listen])
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU time: what the engine spends, not what it waits
        profiler.enable()
    began = time.perf_counter()
    stats = asyncio.run(engine.run())
    ended = time.perf_counter()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(spec["profile"])
    return {
        "settled": [t - began for t in settled],
        "settled_cpu": settled_cpu,
        "outcomes": outcomes,
        "llm_latency_s": llm_latency,
        "startup_s": marks.get("started", began) - began,
        "total_s": ended - began,
        "evaluations": stats.evaluations,
        "stop_reason": stats.stop_reason,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    result = run(spec)
    Path(sys.argv[2]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
