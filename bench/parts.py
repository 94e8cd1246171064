"""The CPU one candidate costs in each part of the engine, each part timed alone.

The overhead benchmark gives the whole: the time and CPU between two settled
candidates. This gives the split, for deciding what to make cheaper: each
step a candidate goes through, run on its own in a loop on the benchmark's
own program (bench/task.py), with the same inputs the engine gives it, and
timed in CPU time of its thread (the mock LLM server answers from threads
of its own). The parts add up to roughly the engine's
CPU per candidate; what they leave out is the event loop's own work (tasks,
futures, wake-ups) and the job's model.

    python -m bench.parts [REPEATS]    (default 300)
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genesis_core.testing.mock_llm import MockLLMServer

from bench.task import edit_responder, program


def _cpu_ms(step: Callable[[], Any], repeats: int) -> float:
    for _ in range(10):
        step()
    started = time.thread_time()
    for _ in range(repeats):
        step()
    return (time.thread_time() - started) / repeats * 1000


def measure(repeats: int) -> list[tuple[str, float, str]]:
    from genesis_core.config import GenesisConfig
    from genesis_core.database import Database, call_key, prompt_text, sqlite_url
    from genesis_core.events import EventLog
    from genesis_core.languages.python import PythonLanguage
    from genesis_core.llm_client import LLMClient
    from genesis_core.novelty import NoveltyFilter
    from genesis_core.patches import apply_response, code_hash
    from genesis_core.prompts import ProgramView, PromptBuilder
    from genesis_core.strategies.islands import IslandStrategy
    from genesis_core.strategy import ProgramSummary

    rng = random.Random(5)
    codes = [program(rng) for _ in range(200)]
    child = codes[1]
    config = GenesisConfig()
    language = PythonLanguage()
    builder = PromptBuilder(config.task, language, config.prompts)
    views = [ProgramView(id=i, code=codes[i], score=1.0, correct=True, metrics={"value": 1.0}) for i in range(4)]
    messages = builder.build("diff", views[0], views[1:])
    parts: list[tuple[str, float, str]] = []

    strategy = IslandStrategy(seed=1)
    for i in range(1000):
        strategy.add(ProgramSummary(id=i + 1, score=rng.random(), correct=True, island=i % 4, generation=1, parent_id=None))
    parts.append(("parent and inspirations (islands, 1,000 programs)", _cpu_ms(strategy.select, repeats), "strategies/islands.py select"))
    parts.append(("prompt (a parent, three inspirations)", _cpu_ms(lambda: builder.build("diff", views[0], views[1:]), repeats),
                  "prompts.py PromptBuilder.build"))

    with MockLLMServer(responder=edit_responder(seed=3)) as server:
        llm_config = GenesisConfig.model_validate({"llm": {"models": ["mock:bench-model"],
                                                           "endpoints": {"mock": {"base_url": server.openai_base_url}}}})

        async def calls() -> tuple[float, str]:
            client = LLMClient(llm_config)
            try:
                answer = ""
                for _ in range(10):
                    answer = (await client.complete("mock:bench-model", messages, seed=1)).completion.text
                started = time.thread_time()
                for _ in range(repeats):
                    await client.complete("mock:bench-model", messages, seed=1)
                return (time.thread_time() - started) / repeats * 1000, answer
            finally:
                await client.close()

        llm_ms, answer = asyncio.run(calls())
    parts.append(("LLM call (lean HTTP client, answer parsed)", llm_ms, "llm_client.py, providers/openai.py, providers/http_client.py"))
    parts.append(("patch (SEARCH/REPLACE applied inside the EVOLVE-BLOCK)", _cpu_ms(lambda: apply_response(views[0].code, answer, "#", "diff"), repeats),
                  "patches.py apply_response"))
    parts.append(("syntax check (CPython compile of the 60-line program)",
                  _cpu_ms(lambda: language.check_syntax({"main.py": child}, "main.py"), repeats), "languages/python.py check_syntax"))
    parts.append(("code hash (normalised, for de-duplication)", _cpu_ms(lambda: code_hash(child), repeats), "patches.py code_hash"))

    novelty = NoveltyFilter(0.98, comment="#")
    for i, code in enumerate(codes[2:102]):
        novelty.add(i, 0, code)

    def novel() -> None:
        entry = novelty.entry(vector=novelty.embed(child))
        novelty.check(child, 0, entry=entry)

    parts.append(("novelty (embedding, comparison with the island's 100)", _cpu_ms(novel, repeats), "novelty.py"))

    with tempfile.TemporaryDirectory() as folder:
        db = Database(sqlite_url(Path(folder) / "genesis.db"))
        db.create_run("parts", task_name="parts", seed=1, objective="maximize", language="python", strategy="islands",
                      genesis_version="0", config={})
        ids: list[int] = []
        seq = iter(range(10**9))

        def pending() -> None:
            ids.append(db.add_pending("parts", seq=next(seq), parent_id=1, second_parent_id=None, inspiration_ids=[2, 3, 4],
                                      island=0, generation=1, patch_kind="diff", model="mock:bench-model", language="python"))

        for_calls, for_results = iter(ids), iter(ids)  # list iterators: they see the ids appended later

        def llm_row() -> None:
            prompt = prompt_text(messages)
            db.add_llm_call("parts", program_id=next(for_calls), purpose="proposal", model="mock:bench-model", request_seed=1,
                            prompt=prompt, prompt_hash=call_key("mock:bench-model", 1, prompt), response=answer,
                            program_code=(child, code_hash(child)))

        def finish() -> None:
            db.finish_program(next(for_results), run_id="parts", result={
                "score": 1.0, "correct": True, "failure": None, "error": "", "metrics": {"value": 1.0}, "feedback": "",
                "artifacts": {}, "timings": {"llm_seconds": 0.001}, "duplicate_of": None, "embedding": None,
            }, evaluation={"backend": "instant", "ok": True, "score": 1.0, "correct": True, "failure": None, "error": "",
                           "metrics": {"value": 1.0}, "build_seconds": 0.0, "eval_seconds": 0.0, "total_seconds": 0.0,
                           "started_at": 0.0, "finished_at": 0.0})

        parts.append(("database: pending row", _cpu_ms(pending, repeats + 20), "database.py add_pending"))
        parts.append(("database: LLM call with prompt, answer and code", _cpu_ms(llm_row, repeats), "database.py add_llm_call"))
        parts.append(("database: result and evaluation row", _cpu_ms(finish, repeats), "database.py finish_program"))
        db.close()

        events = EventLog(Path(folder) / "events.jsonl", "parts")

        def five_events() -> None:
            events.emit("proposal_started", 1, program_id=1, seq=1, patch_kind="diff", parent_id=1, inspiration_ids=[2, 3, 4], island=0,
                        model="mock:bench-model")
            events.emit("llm_call", 1, program_id=1, purpose="proposal", model="mock:bench-model", tokens_in=3000, tokens_out=200,
                        cost_usd=0.0, latency_s=0.001, attempts=1, failure=None, error=None, reasoning=None)
            events.emit("evaluation_started", 1, program_id=1, seq=1)
            events.emit("evaluation_finished", 1, program_id=1, seq=1, score=1.0, correct=True, failure=None, error=None,
                        metrics={"value": 1.0}, seconds=0.0, evaluations=1)
            events.emit("new_best", 1, program_id=1, score=1.0, seq=1)

        parts.append(("events (five lines of events.jsonl)", _cpu_ms(five_events, repeats), "events.py EventLog.emit"))
        events.close()
    return parts


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    parts = measure(repeats)
    width = max(len(name) for name, _, _ in parts)
    for name, ms, where in parts:
        print(f"{name:<{width}}  {ms:7.3f} ms  {where}")
    print(f"{'sum':<{width}}  {sum(ms for _, ms, _ in parts):7.3f} ms")


if __name__ == "__main__":
    main()
