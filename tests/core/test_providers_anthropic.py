"""The Anthropic provider, on the real `anthropic` SDK against a loopback Messages server."""

from __future__ import annotations

import asyncio

import pytest
from genesis_core.llm import CompletionRequest, Message
from genesis_core.providers import anthropic as anthropic_plugin
from genesis_core.providers.anthropic import AnthropicProvider
from genesis_core.testing.mock_llm import MockLLMServer, Reply, headers_key
from genesis_core.testing.providers import API_KEY, ProviderPluginTests


class TestAnthropicProvider(ProviderPluginTests):
    provider_class = AnthropicProvider
    plugin_module = anthropic_plugin
    wire = "anthropic"
    model = "claude-test"


@pytest.fixture
def server():
    with MockLLMServer(api_key=API_KEY) as s:
        yield s


def _complete(server: MockLLMServer, request: CompletionRequest, **settings):
    async def run():
        provider = AnthropicProvider({"base_url": server.anthropic_base_url, "api_key": API_KEY, **settings})
        try:
            return await provider.complete(request)
        finally:
            await provider.close()

    return asyncio.run(run())


MESSAGES = [
    Message(role="system", content="You improve programs."),
    Message(role="system", content="Answer with SEARCH/REPLACE blocks."),
    Message(role="user", content="Here is the program."),
    Message(role="user", content="Make it faster."),
]


def test_system_prompt_and_alternating_turns(server):
    _complete(server, CompletionRequest(model="claude-test", messages=MESSAGES, max_tokens=500))
    record = server.requests[0]
    assert record.path == "/v1/messages"
    body = record.body
    assert body["system"] == "You improve programs.\n\nAnswer with SEARCH/REPLACE blocks."
    assert body["messages"] == [{"role": "user", "content": "Here is the program.\n\nMake it faster."}]
    assert body["max_tokens"] == 500
    assert "thinking" not in body
    assert headers_key(record.headers) == API_KEY


def test_extended_thinking_is_requested_and_kept_as_reasoning(server):
    server.script(Reply("the final diff", reasoning="Let me consider the loop first."))
    completion = _complete(
        server, CompletionRequest(model="claude-test", messages=MESSAGES, max_tokens=1000), thinking_budget=2048
    )
    body = server.requests[0].body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 2048 + 1000  # room for the answer beyond the thinking
    assert completion.text == "the final diff"
    assert completion.reasoning == "Let me consider the loop first."


def test_reasoning_effort_becomes_output_effort(server):
    _complete(server, CompletionRequest(model="claude-test", messages=MESSAGES, reasoning_effort="low"))
    assert server.requests[0].body["output_config"] == {"effort": "low"}


def test_a_conversation_starting_with_the_assistant_gets_a_user_turn_first(server):
    messages = [Message(role="assistant", content="Earlier answer."), Message(role="user", content="Again.")]
    _complete(server, CompletionRequest(model="claude-test", messages=messages))
    roles = [m["role"] for m in server.requests[0].body["messages"]]
    assert roles == ["user", "assistant", "user"]


def test_answer_cut_off_before_text_is_a_bad_response(server):
    from genesis_core.llm import ProviderError

    server.script(Reply("", finish_reason="length", tokens_in=10, tokens_out=8192))
    with pytest.raises(ProviderError) as caught:
        _complete(server, CompletionRequest(model="claude-test", messages=MESSAGES))
    assert caught.value.reason == "bad_response" and not caught.value.retryable
    assert caught.value.tokens_out == 8192
