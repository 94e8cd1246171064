"""Pipeline utilisation: how close the engine comes to the rate its in-flight limits allow.

The mock LLM answers after `LLM_DELAY_S`, every evaluation takes `EVAL_DELAY_S`
(bench/backends.py: `DelayBackend`, wall time without CPU, like a remote
machine), and the engine may have `IN_FLIGHT` proposals and `IN_FLIGHT`
evaluations under way. A perfect pipeline then finishes
min(IN_FLIGHT / LLM_DELAY_S, IN_FLIGHT / EVAL_DELAY_S) candidates per second.
The achieved rate is counted over the candidates that settle after the
first `warmup` (the first program is evaluated alone, then the pipeline fills).
Meta-recommendation calls are off here, so every LLM call is a proposal.
"""

from __future__ import annotations

from pathlib import Path

from genesis_core.testing.mock_llm import MockLLMServer

from bench.child import run_engine_child
from bench.report import Row, Target
from bench.stats import median
from bench.task import edit_responder, write_task

LLM_DELAY_S = 0.2
EVAL_DELAY_S = 0.2
IN_FLIGHT = 4
UTILISATION_TARGET = 0.9


def run(workdir: Path, candidates: int, warmup: int, profile_dir: Path | None = None) -> list[Row]:
    with MockLLMServer(responder=edit_responder(seed=5), delay_s=LLM_DELAY_S) as server:
        task = write_task(workdir / "task", llm_base_url=server.openai_base_url)
        results = workdir / "results"
        overrides = [
            f"run.max_evaluations={1 + warmup + candidates}",
            f"run.max_proposals_in_flight={IN_FLIGHT}",
            f"run.max_evaluations_in_flight={IN_FLIGHT}",
            "prompts.meta_every=0",
        ]
        spec = {"task_dir": str(task), "results_dir": str(results), "backend": "delay", "delay_s": EVAL_DELAY_S,
                "capacity": IN_FLIGHT, "overrides": overrides}
        if profile_dir is not None:
            spec["profile"] = str(profile_dir / "pipeline.prof")
        measured = run_engine_child(spec, results)
        in_flight_seen = server.max_in_flight
    settled = measured["settled"][1 + warmup:]  # the first program, then the pipeline filling up
    cpu = measured["settled_cpu"][1 + warmup:]
    achieved = (len(settled) - 1) / (settled[-1] - settled[0])
    busy = (cpu[-1] - cpu[0]) / (settled[-1] - settled[0])  # the engine process's CPU seconds per second
    ideal = min(IN_FLIGHT / LLM_DELAY_S, IN_FLIGHT / EVAL_DELAY_S)
    details = {"candidates_measured": len(settled), "outcomes": measured["outcomes"], "llm_requests_in_flight_max": in_flight_seen,
               "llm_call_median_ms": round(median(measured["llm_latency_s"]) * 1000, 3),
               "engine_cpu_per_second": round(busy, 3), "engine_cpu_ms_per_candidate": round(busy / achieved * 1000, 3)}
    return [
        Row("pipeline.utilisation", f"pipeline utilisation ({IN_FLIGHT}+{IN_FLIGHT} in flight, LLM and evaluation "
            f"{LLM_DELAY_S * 1000:.0f} ms each)", achieved / ideal, "", Target(">=", UTILISATION_TARGET), details=details),
        Row("pipeline.achieved_per_s", "  achieved candidates per second", achieved, "/s"),
        Row("pipeline.ideal_per_s", "  ideal candidates per second", ideal, "/s"),
    ]
