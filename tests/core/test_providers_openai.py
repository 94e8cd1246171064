"""The OpenAI-compatible providers, on the real `openai` SDK against a loopback server."""

from __future__ import annotations

import asyncio

import pytest
from genesis_core.llm import CompletionRequest, Message
from genesis_core.providers import openai as openai_plugin
from genesis_core.providers.openai import (
    DeepSeekProvider,
    GoogleProvider,
    OpenAIProvider,
    OpenRouterProvider,
    is_reasoning_model,
)
from genesis_core.testing.mock_llm import MockLLMServer, Reply, text_embedding
from genesis_core.testing.providers import API_KEY, ProviderPluginTests


class TestOpenAIProvider(ProviderPluginTests):
    provider_class = OpenAIProvider
    plugin_module = openai_plugin
    wire = "openai"


class TestDeepSeekProvider(ProviderPluginTests):
    provider_class = DeepSeekProvider
    plugin_module = openai_plugin
    wire = "openai"
    model = "deepseek-reasoner"


class TestGoogleProvider(ProviderPluginTests):
    provider_class = GoogleProvider
    plugin_module = openai_plugin
    wire = "openai"
    model = "gemini-2.5-flash"


class TestOpenRouterProvider(ProviderPluginTests):
    provider_class = OpenRouterProvider
    plugin_module = openai_plugin
    wire = "openai"
    model = "anthropic/claude-sonnet-4.5"


def _request(model: str, **fields) -> CompletionRequest:
    return CompletionRequest(model=model, messages=[Message(role="user", content="Improve it.")], **fields)


def _complete(server: MockLLMServer, request: CompletionRequest, cls: type[OpenAIProvider] = OpenAIProvider):
    async def run():
        provider = cls({"base_url": server.openai_base_url, "api_key": API_KEY})
        try:
            return await provider.complete(request)
        finally:
            await provider.close()

    return asyncio.run(run())


@pytest.fixture
def server():
    with MockLLMServer(api_key=API_KEY) as s:
        yield s


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [("gpt-5-mini", True), ("o4-mini", True), ("o3", True), ("openai/gpt-5", True), ("gpt-5-chat-latest", False), ("gpt-4o-mini", False), ("deepseek-chat", False)],
)
def test_reasoning_models_are_recognised(model, reasoning):
    assert is_reasoning_model(model) is reasoning


def test_reasoning_model_gets_completion_tokens_and_effort_and_no_sampling(server):
    _complete(server, _request("gpt-5-mini", max_tokens=4000, temperature=0.9, top_p=0.5, reasoning_effort="high", seed=7))
    body = server.requests[0].body
    assert body["max_completion_tokens"] == 4000
    assert body["reasoning_effort"] == "high"
    assert "max_tokens" not in body and "temperature" not in body and "top_p" not in body
    assert body["seed"] == 7


def test_chat_model_gets_max_tokens_and_sampling(server):
    _complete(server, _request("gpt-4o-mini", max_tokens=300, temperature=0.9, top_p=0.5, reasoning_effort="high"))
    body = server.requests[0].body
    assert body["max_tokens"] == 300
    assert body["temperature"] == 0.9 and body["top_p"] == 0.5
    assert "reasoning_effort" not in body and "max_completion_tokens" not in body


def test_gemini_gets_reasoning_effort(server):
    _complete(server, _request("gemini-2.5-flash", reasoning_effort="low"), GoogleProvider)
    assert server.requests[0].body["reasoning_effort"] == "low"


def test_reasoning_content_is_kept(server):
    server.script(Reply("final answer", reasoning="first I thought about it"))
    completion = _complete(server, _request("deepseek-reasoner"), DeepSeekProvider)
    assert completion.text == "final answer"
    assert completion.reasoning == "first I thought about it"


def test_key_goes_in_the_authorization_header(server):
    _complete(server, _request("gpt-4o-mini"))
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_answer_cut_off_before_any_text_is_a_bad_response_not_retried(server):
    from genesis_core.llm import ProviderError

    server.script(Reply("", finish_reason="length", tokens_in=10, tokens_out=4000))
    with pytest.raises(ProviderError) as caught:
        _complete(server, _request("gpt-5-mini"))
    assert caught.value.reason == "bad_response"
    assert not caught.value.retryable
    assert "max_tokens" in str(caught.value)
    assert caught.value.tokens_out == 4000  # billed, so the client can count it


def test_embeddings_come_back_in_input_order(server):
    texts = ["def f(): return 1", "def f(): return 2", "something else entirely"]

    async def run():
        provider = OpenAIProvider({"base_url": server.openai_base_url, "api_key": API_KEY})
        try:
            return await provider.embed(texts, "text-embedding-3-small")
        finally:
            await provider.close()

    vectors = asyncio.run(run())
    assert vectors == [pytest.approx(text_embedding(t)) for t in texts]
    assert server.requests[0].path == "/v1/embeddings"


@pytest.mark.parametrize(
    ("cls", "url"),
    [
        (DeepSeekProvider, "https://api.deepseek.com/v1/"),
        (GoogleProvider, "https://generativelanguage.googleapis.com/v1beta/openai/"),
        (OpenRouterProvider, "https://openrouter.ai/api/v1/"),
    ],
)
def test_named_services_default_to_their_own_url(cls, url):
    provider = cls({"api_key": "sk-x"})
    assert str(provider.client.base_url) == url


def test_named_services_read_their_own_key_variable():
    assert (DeepSeekProvider.api_key_env, GoogleProvider.api_key_env, OpenRouterProvider.api_key_env) == (
        "DEEPSEEK_API_KEY",
        "GEMINI_API_KEY",
        "OPENROUTER_API_KEY",
    )


def test_settings_never_show_the_key():
    provider = OpenAIProvider({"api_key": "sk-secret-value-123456789"})
    assert "sk-secret-value" not in repr(provider.settings)
    assert "sk-secret-value" not in str(provider.settings.model_dump())
