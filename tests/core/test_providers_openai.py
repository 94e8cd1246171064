"""The OpenAI-compatible providers against a loopback server: Genesis's lean HTTP client, and the real `openai` SDK."""

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
    assert provider.base_url == url.rstrip("/")


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


class TestOpenAIProviderThroughTheSDK(ProviderPluginTests):
    """The same checks with `[llm] http_client = "sdk"`: the official SDK's path reads the same answers the same way."""

    provider_class = OpenAIProvider
    plugin_module = openai_plugin
    wire = "openai"

    def make_provider(self, server, **settings):
        return super().make_provider(server, http_client="sdk", **settings)


def test_calls_share_one_kept_alive_connection(server):
    async def run():
        provider = OpenAIProvider({"base_url": server.openai_base_url, "api_key": API_KEY})
        try:
            return [await provider.complete(_request("gpt-4o-mini")) for _ in range(5)]
        finally:
            await provider.close()

    completions = asyncio.run(run())
    assert [c.text for c in completions] == ["Mock answer from gpt-4o-mini."] * 5
    assert len(server.requests) == 5
    assert server.connections_opened == 1


def test_a_connection_the_server_closed_while_idle_is_replaced(server):
    async def run():
        provider = OpenAIProvider({"base_url": server.openai_base_url, "api_key": API_KEY})
        try:
            first = await provider.complete(_request("gpt-4o-mini"))
            server.close_connections()  # as a server does with idle kept-alive connections
            await asyncio.sleep(0.05)
            second = await provider.complete(_request("gpt-4o-mini"))
            return first, second
        finally:
            await provider.close()

    first, second = asyncio.run(run())
    assert first.text == second.text == "Mock answer from gpt-4o-mini."
    assert server.connections_opened == 2
    assert len(server.requests) == 2  # sent once each: the closed connection was noticed before sending


def test_the_services_error_message_and_status_reach_the_caller(server):
    from genesis_core.llm import ProviderError

    async def run():
        provider = OpenAIProvider({"base_url": server.openai_base_url, "api_key": "sk-wrong"})
        try:
            return await provider.complete(_request("gpt-4o-mini"))
        finally:
            await provider.close()

    with pytest.raises(ProviderError) as caught:
        asyncio.run(run())
    assert caught.value.reason == "auth"
    assert "HTTP 401: Incorrect API key provided: sk-wrong." in str(caught.value)


def test_a_proxy_variable_sends_requests_through_the_sdk_and_the_proxy(server, monkeypatch):
    # The mock answers absolute-form requests too, so it can stand in for the proxy of a server that does not exist.
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.base_url)
    monkeypatch.setenv("http_proxy", server.base_url)

    async def run():
        provider = OpenAIProvider({"base_url": "http://llm.invalid/v1", "api_key": API_KEY})
        try:
            return provider.uses_sdk, await provider.complete(_request("gpt-4o-mini"))
        finally:
            await provider.close()

    uses_sdk, completion = asyncio.run(run())
    assert uses_sdk
    assert completion.text == "Mock answer from gpt-4o-mini."
    assert server.requests[0].path == "http://llm.invalid/v1/chat/completions"


def test_without_a_proxy_the_lean_client_is_used(server):
    provider = OpenAIProvider({"base_url": server.openai_base_url})
    assert not provider.uses_sdk
    assert OpenAIProvider({"base_url": server.openai_base_url, "http_client": "sdk"}).uses_sdk


@pytest.mark.parametrize(("http_client", "agent"), [("genesis", "genesis"), ("sdk", "AsyncOpenAI/Python")])
def test_llm_section_http_client_picks_the_client_that_sends(server, http_client, agent):
    from genesis_core.config import GenesisConfig
    from genesis_core.llm_client import LLMClient

    config = GenesisConfig.model_validate({"llm": {
        "models": ["mock:gpt-4o-mini"], "http_client": http_client,
        "prices": {"mock:gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}},
        "endpoints": {"mock": {"base_url": server.openai_base_url, "api_key_env": "GENESIS_TEST_MOCK_KEY"}},
    }})

    async def run():
        client = LLMClient(config, environ={"GENESIS_TEST_MOCK_KEY": API_KEY})
        try:
            return await client.complete("mock:gpt-4o-mini", [Message(role="user", content="Improve it.")])
        finally:
            await client.close()

    result = asyncio.run(run())
    assert result.ok and result.completion.text == "Mock answer from gpt-4o-mini."
    assert server.requests[0].headers["user-agent"].startswith(agent)
