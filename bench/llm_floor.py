"""What one LLM call costs the engine's process, against the instant mock, and the floor below it.

Part of every candidate's time is the LLM client. This benchmark sends the
same proposal prompt (about 12 KB, a parent and three inspirations) to the
instant mock server four ways, in a process of its own so that the mock
server (in the parent) does not share its interpreter:

- `LLMClient.complete`: what the engine does (the OpenAI provider on Genesis's
  lean HTTP client, `providers/http_client.py`; retries, budget);
- the same with `[llm] http_client = "sdk"`: the provider on the official
  `openai` SDK (what a proxy setting also selects);
- the SDK alone: `AsyncOpenAI.chat.completions.create` with the same fields;
- a bare HTTP/1.1 request with the same JSON body on a kept-alive asyncio
  connection, the answer parsed with `json.loads` (the floor).

It reports the CPU time and the wall time per call of each: the steps
between them are what each layer of the client stack costs.

    python -m bench.llm_floor BASE_URL CALLS   (prints JSON; the parent is bench/overhead.py)
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

WARMUP = 20


async def _timed(send: Callable[[], Awaitable[Any]], calls: int) -> dict[str, float]:
    for _ in range(WARMUP):
        await send()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await send()
    return {"cpu_ms": (time.process_time() - cpu) / calls * 1000, "wall_ms": (time.perf_counter() - wall) / calls * 1000}


def _messages() -> list[Any]:
    import random

    from genesis_core.config import GenesisConfig
    from genesis_core.languages.python import PythonLanguage
    from genesis_core.prompts import ProgramView, PromptBuilder

    from bench.task import program

    rng = random.Random(3)
    config = GenesisConfig()
    builder = PromptBuilder(config.task, PythonLanguage(), config.prompts)
    views = [ProgramView(id=i, code=program(rng), score=1.0, correct=True, metrics={"value": 1.0}) for i in range(4)]
    return builder.build("diff", views[0], views[1:])


async def measure(base_url: str, calls: int) -> dict[str, dict[str, float]]:
    from genesis_core.config import GenesisConfig
    from genesis_core.llm_client import LLMClient

    messages = _messages()
    body = {"model": "bench-model", "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": 8192, "temperature": 0.7, "seed": 1}
    payload = json.dumps(body).encode()
    out: dict[str, dict[str, float]] = {}

    for key, http_client in (("genesis_llm_client", "genesis"), ("genesis_llm_client_sdk", "sdk")):
        config = GenesisConfig.model_validate({"llm": {"models": ["mock:bench-model"], "http_client": http_client,
                                                        "endpoints": {"mock": {"base_url": base_url}}}})
        client = LLMClient(config)
        try:
            out[key] = await _timed(lambda: client.complete("mock:bench-model", messages, seed=1), calls)  # noqa: B023
        finally:
            await client.close()

    import openai

    sdk = openai.AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0)
    try:
        out["openai_sdk_create"] = await _timed(lambda: sdk.chat.completions.create(**body), calls)
    finally:
        await sdk.close()

    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = (f"POST {url.path}/chat/completions HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode()

    async def bare_http() -> Any:
        writer.write(head + payload)
        await writer.drain()
        headers = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in headers.split(b"\r\n") if line.lower().startswith(b"content-length:"))
        return json.loads(await reader.readexactly(length))

    try:
        out["bare_http"] = await _timed(bare_http, calls)
    finally:
        writer.close()
    return out


def main() -> None:
    print(json.dumps(asyncio.run(measure(sys.argv[1], int(sys.argv[2])))))


if __name__ == "__main__":
    main()
