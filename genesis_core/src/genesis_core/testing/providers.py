"""Conformance tests for LLM provider plugins.

A provider's tests subclass `ProviderPluginTests`, name the class, and say
which wire format it speaks; the suite points it at a `MockLLMServer` on
127.0.0.1 and checks registration, a completion with usage, and that every
kind of fault comes back as the right `ProviderError` reason::

    from genesis_core.testing import ProviderPluginTests

    class TestMyProvider(ProviderPluginTests):
        provider_class = MyProvider
        plugin_module = my_plugin          # holds its register_llm_providers hook
        wire = "openai"                    # or "anthropic"; None for a provider without network

A provider whose Settings differ from (base_url, api_key, timeout_s)
overrides `make_provider`; one that needs a particular request overrides
`make_request`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from types import ModuleType
from typing import Any, ClassVar, TypeVar

import pytest

from genesis_core.llm import Completion, CompletionRequest, LLMProvider, Message, ProviderError
from genesis_core.registry import KINDS, NAME_RE, Registry, Source
from genesis_core.testing.mock_llm import Fault, MockLLMServer, Reply

API_KEY = "sk-conformance-test-key-0123456789"
T = TypeVar("T")

# The reason each injected fault must be reported as.
FAULT_REASONS = {
    Fault.RATE_LIMIT: "rate_limited",
    Fault.SERVER_ERROR: "server_error",
    Fault.UNAVAILABLE: "server_error",
    Fault.STALL: "timeout",
    Fault.DROP: "connection",
    Fault.TRUNCATED: "connection",
    Fault.MALFORMED: "bad_response",
}


class ProviderPluginTests:
    """The checks every LLM provider passes; subclass it and set the class attributes."""

    provider_class: ClassVar[type[LLMProvider]]
    plugin_module: ClassVar[ModuleType | None] = None
    wire: ClassVar[str | None] = "openai"
    model: ClassVar[str] = "mock-model"
    timeout_s: ClassVar[float] = 0.5

    # -- what subclasses may override --------------------------------------------

    def make_provider(self, server: MockLLMServer | None, **settings: Any) -> LLMProvider:
        """The provider under test, pointed at the mock server (None for providers without network)."""
        if server is None or self.wire is None:
            return self.provider_class(settings or None)
        base_url = server.openai_base_url if self.wire == "openai" else server.anthropic_base_url
        return self.provider_class({"base_url": base_url, "api_key": API_KEY, "timeout_s": self.timeout_s, **settings})

    def make_request(self) -> CompletionRequest:
        """A request the provider can answer."""
        return CompletionRequest(
            model=self.model,
            messages=[
                Message(role="system", content="You improve programs."),
                Message(role="user", content="Say something."),
            ],
            max_tokens=256,
        )

    # -- fixtures and helpers --------------------------------------------------------

    @pytest.fixture
    def mock_server(self) -> Iterator[MockLLMServer]:
        with MockLLMServer(api_key=API_KEY, stall_s=self.timeout_s * 10, retry_after=0.25) as server:
            yield server

    def call(self, server: MockLLMServer | None, use: Callable[[LLMProvider], Awaitable[T]], **settings: Any) -> T:
        """Run `use(provider)` on a fresh event loop, closing the provider after."""

        async def run() -> T:
            provider = self.make_provider(server, **settings)
            try:
                return await use(provider)
            finally:
                await provider.close()

        return asyncio.run(run())

    def _needs_network(self) -> None:
        if self.wire is None:
            pytest.skip("this provider makes no network calls")

    # -- the checks --------------------------------------------------------------------

    def test_registration_is_valid(self) -> None:
        cls = self.provider_class
        assert isinstance(cls.name, str) and NAME_RE.match(cls.name), f"invalid provider name {cls.name!r}"
        if cls.api_key_env is not None:
            assert cls.api_key_env.isupper() and cls.api_key_env.replace("_", "").isalnum(), cls.api_key_env
        Registry().add(KINDS["llm_providers"], cls, Source("conformance-test", "test"))
        if self.plugin_module is not None:
            registered: list[type] = []
            self.plugin_module.register_llm_providers(register=registered.append)
            assert cls in registered, f"{self.plugin_module.__name__}.register_llm_providers does not register {cls.__name__}"

    def test_completion_has_text_and_usage(self, mock_server: MockLLMServer) -> None:
        if self.wire is None:
            completion = self.call(None, lambda p: p.complete(self.make_request()))
            assert isinstance(completion, Completion) and completion.text.strip()
            assert completion.tokens_in >= 0 and completion.tokens_out >= 0
            return
        mock_server.script(Reply("The scripted answer.", tokens_in=123, tokens_out=45))
        completion = self.call(mock_server, lambda p: p.complete(self.make_request()))
        assert completion.text == "The scripted answer."
        assert (completion.tokens_in, completion.tokens_out) == (123, 45)
        assert completion.model
        [record] = mock_server.requests
        assert record.model == self.model
        assert "Say something." in str(record.body)

    @pytest.mark.parametrize("fault", list(FAULT_REASONS), ids=lambda f: f.value)
    def test_fault_is_classified(self, mock_server: MockLLMServer, fault: Fault) -> None:
        self._needs_network()
        mock_server.script(fault)
        with pytest.raises(ProviderError) as caught:
            self.call(mock_server, lambda p: p.complete(self.make_request()))
        assert caught.value.reason == FAULT_REASONS[fault], str(caught.value)
        assert caught.value.retryable
        if fault is Fault.RATE_LIMIT:
            assert caught.value.retry_after == pytest.approx(mock_server.retry_after)

    def test_wrong_key_is_an_auth_failure(self, mock_server: MockLLMServer) -> None:
        self._needs_network()
        with pytest.raises(ProviderError) as caught:
            self.call(mock_server, lambda p: p.complete(self.make_request()), api_key="sk-wrong-key-for-this-test-999")
        assert caught.value.reason == "auth"
        assert not caught.value.retryable

    def test_close_twice(self, mock_server: MockLLMServer) -> None:
        async def use(provider: LLMProvider) -> None:
            await provider.close()

        self.call(mock_server if self.wire else None, use)
