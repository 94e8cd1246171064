"""The loopback mock LLM server other tests and the benchmark rely on."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from genesis_core.patches import apply_response
from genesis_core.testing.mock_llm import (
    Fault,
    MockLLMServer,
    Reply,
    program_edit_responder,
    program_in_prompt,
)

PROGRAM = "import sys\n# EVOLVE-BLOCK-START\ndef f(x):\n    return x * 3 + 0.5\n# EVOLVE-BLOCK-END\nprint(f(2))\n"


def _post(server: MockLLMServer, path: str, body: dict, key: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(f"{server.base_url}{path}", data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _chat(prompt: str, model: str = "m") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": prompt}]}


def test_chat_completion_shape():
    with MockLLMServer() as server:
        server.script(Reply("hi", tokens_in=3, tokens_out=1))
        status, body = _post(server, "/v1/chat/completions", _chat("hello"))
    assert status == 200
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "hi", "refusal": None}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}


def test_anthropic_message_shape_with_thinking():
    with MockLLMServer() as server:
        server.script(Reply("answer", reasoning="thoughts"))
        status, body = _post(server, "/v1/messages", {**_chat("hello"), "max_tokens": 10, "thinking": {"type": "enabled", "budget_tokens": 1024}})
    assert status == 200 and body["type"] == "message" and body["stop_reason"] == "end_turn"
    assert [block["type"] for block in body["content"]] == ["thinking", "text"]
    assert body["content"][0]["thinking"] == "thoughts"
    assert set(body["usage"]) >= {"input_tokens", "output_tokens"}


def test_errors_use_each_wire_format():
    with MockLLMServer(retry_after=2) as server:
        server.script(Fault.RATE_LIMIT, Fault.SERVER_ERROR)
        status, body = _post(server, "/v1/chat/completions", _chat("x"))
        assert status == 429 and body["error"]["type"] == "rate_limit_error"
        status, body = _post(server, "/v1/messages", {**_chat("x"), "max_tokens": 5})
        assert status == 500 and body["type"] == "error" and body["error"]["type"] == "api_error"
        assert server.faults_served() == {"rate_limit": 1, "server_error": 1}


def test_the_key_is_checked_when_set():
    with MockLLMServer(api_key="sk-right") as server:
        assert _post(server, "/v1/chat/completions", _chat("x"), key="sk-wrong")[0] == 401
        assert _post(server, "/v1/chat/completions", _chat("x"), key="sk-right")[0] == 200


def test_per_model_behaviour_and_queues():
    with MockLLMServer() as server:
        server.on_model("a", lambda body: "from a")
        server.on_model("b", fault_rate=1.0)
        server.script("queued for a", model="a")
        assert _post(server, "/v1/chat/completions", _chat("x", "a"))[1]["choices"][0]["message"]["content"] == "queued for a"
        assert _post(server, "/v1/chat/completions", _chat("x", "a"))[1]["choices"][0]["message"]["content"] == "from a"
        server.faults = (Fault.SERVER_ERROR,)
        assert _post(server, "/v1/chat/completions", _chat("x", "b"))[0] == 500


def test_models_are_listed():
    with MockLLMServer() as server:
        server.on_model("alpha", lambda body: "x")
        with urllib.request.urlopen(f"{server.openai_base_url}/models", timeout=10) as response:
            listing = json.loads(response.read())
    assert [m["id"] for m in listing["data"]] == ["alpha"]


def test_close_ends_a_stalled_request():
    server = MockLLMServer(stall_s=600).start()
    server.script(Fault.STALL)
    outcome: list = []

    def call():
        try:
            outcome.append(_post(server, "/v1/chat/completions", _chat("x")))
        except Exception as exc:  # the answer after close, or the connection closing
            outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    while not server.requests:
        threading.Event().wait(0.01)
    server.close()
    thread.join(timeout=30)
    assert not thread.is_alive()


@pytest.mark.parametrize("kind", ["diff", "rewrite"])
def test_program_edit_responder_answers_like_a_model(kind):
    ask = "Answer with SEARCH/REPLACE blocks." if kind == "diff" else "Answer with the whole program."
    prompt = f"{ask}\n\nThe current program:\n```python\n{PROGRAM}```\n"
    assert program_in_prompt(_chat(prompt)) == (PROGRAM, "#")
    with MockLLMServer(responder=program_edit_responder(seed=1)) as server:
        answers = [_post(server, "/v1/chat/completions", _chat(prompt))[1]["choices"][0]["message"]["content"] for _ in range(10)]
    for answer in answers:
        assert ("<<<<<<< SEARCH" in answer) == (kind == "diff")
        assert apply_response(PROGRAM, answer, "#", kind) != PROGRAM
    assert len(set(answers)) > 1
