"""Engine overhead per candidate at growing populations, and the engine's peak memory.

For each population size the run's database is seeded with that many
finished programs (bench/seed.py) and the engine resumes the run in a
process of its own (bench/engine_child.py) with one proposal and one
evaluation in flight, the instant mock LLM and an instant evaluation. The
time between two settled candidates is one candidate's whole cost; the first
`warmup` are left out (imports, the HTTP connection, caches).
"""

from __future__ import annotations

from pathlib import Path

from genesis_core.testing.mock_llm import MockLLMServer

from bench.child import run_engine_child, run_llm_floor
from bench.report import Row, Target
from bench.seed import seed_database
from bench.stats import gaps, median, percentile
from bench.task import edit_responder, write_task

MEDIAN_TARGET_MS = 2.0
GROWTH_TARGET = 1.5
MEMORY_TARGET_MB = 500.0


def run(workdir: Path, populations: list[int], candidates: int, warmup: int, profile_dir: Path | None = None) -> list[Row]:
    rows: list[Row] = []
    medians: dict[int, float] = {}
    cpu_medians: dict[int, float] = {}
    peak: tuple[int, float] | None = None
    with MockLLMServer(responder=edit_responder(seed=11)) as server:
        task = write_task(workdir / "task", llm_base_url=server.openai_base_url)
        for population in populations:
            results = workdir / f"results-{population}"
            seed_seconds = seed_database(task, results, population)
            overrides = [
                f"run.max_evaluations={population + warmup + candidates + 1}",
                "run.max_proposals_in_flight=1",
                "run.max_evaluations_in_flight=1",
            ]
            spec = {"task_dir": str(task), "results_dir": str(results), "backend": "instant", "overrides": overrides}
            if profile_dir is not None:
                spec["profile"] = str(profile_dir / f"overhead-{population}.prof")
            server.reset()
            measured = run_engine_child(spec, results)
            served = [(r.finished - r.started) * 1000 for r in server.requests if r.path.endswith("/chat/completions")]
            per_candidate = [g * 1000 for g in gaps(measured["settled"])][warmup:]
            llm = [s * 1000 for s in measured["llm_latency_s"]][warmup:]
            cpu = [g * 1000 for g in gaps(measured["settled_cpu"])][warmup:]
            mid = median(per_candidate)
            medians[population] = mid
            cpu_medians[population] = median(cpu)
            label = f"{population:,} programs"
            details = {
                "population": population,
                "candidates_measured": len(per_candidate),
                "outcomes": measured["outcomes"],
                "llm_round_trip_median_ms": round(median(llm), 3) if llm else None,
                "mock_server_answer_median_ms": round(median(served), 3) if served else None,
                "engine_without_llm_median_ms": round(mid - median(llm), 3) if llm else None,
                "resume_seconds": round(measured["startup_s"], 3),
                "seed_seconds": round(seed_seconds, 1),
                "peak_rss_mb": round(measured["peak_rss_mb"], 1),
            }
            rows.append(Row(f"overhead.median_ms.{population}", f"engine overhead per candidate, median, {label}", mid, "ms",
                            Target("<=", MEDIAN_TARGET_MS), details=details))
            rows.append(Row(f"overhead.p99_ms.{population}", f"engine overhead per candidate, p99, {label}",
                            percentile(per_candidate, 99), "ms"))
            rows.append(Row(f"overhead.cpu_ms.{population}", f"  engine CPU per candidate, median, {label}", median(cpu), "ms"))
            if llm:
                rows.append(Row(f"overhead.llm_ms.{population}", f"  of which LLM client round trip, median, {label}",
                                median(llm), "ms"))
            rows.append(Row(f"overhead.resume_s.{population}", f"engine start (resume) with {label}", measured["startup_s"], "s"))
            if peak is None or population >= peak[0]:
                peak = (population, measured["peak_rss_mb"])
        floor = run_llm_floor(server.openai_base_url, max(50, candidates))
    for key, measure in (
        ("genesis_llm_client", "LLM call to the instant mock, CPU of the caller: Genesis LLM client (lean HTTP client)"),
        ("genesis_llm_client_sdk", "  the same with [llm] http_client = \"sdk\" (the openai SDK)"),
        ("openai_sdk_create", "  the OpenAI SDK alone (chat.completions.create)"),
        ("bare_http", "  bare HTTP/1.1 on asyncio with json.loads (the floor)"),
    ):
        rows.append(Row(f"llm.{key}_cpu_ms", measure, floor[key]["cpu_ms"], "ms", details={"wall_ms": round(floor[key]["wall_ms"], 3)}))
    smallest, largest = min(populations), max(populations)
    rows.append(Row("overhead.growth", f"engine overhead growth, median at {largest:,} / at {smallest:,}",
                    medians[largest] / medians[smallest], "x", Target("<=", GROWTH_TARGET)))
    rows.append(Row("overhead.cpu_growth", f"  the same in engine CPU, at {largest:,} / at {smallest:,}",
                    cpu_medians[largest] / cpu_medians[smallest], "x"))
    assert peak is not None
    rows.append(Row("memory.peak_mb", f"peak engine memory (RSS) at {peak[0]:,} programs", peak[1], "MB",
                    Target("<", MEMORY_TARGET_MB)))
    return rows
