"""The Anthropic provider: the Messages API on the official `anthropic` SDK.

System messages become the `system` prompt; consecutive messages of one role
are merged, since the API wants user and assistant turns to alternate. With
`[llm] thinking_budget` set, extended thinking is on and the thinking text
is kept as the call's `reasoning`; `[llm] reasoning_effort` becomes the
output effort. The Messages API of the installed SDK takes no sampling
settings, so `[llm] temperature` and `top_p` do not apply to Claude models.
The SDK's own retries are off: the LLM client retries, honouring Retry-After.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, SecretStr

from genesis_core.hookspecs import hookimpl
from genesis_core.llm import (
    Completion,
    CompletionRequest,
    LLMProvider,
    ProviderError,
    ProviderSettings,
)
from genesis_core.providers.sdk_errors import translate

DEFAULT_MAX_TOKENS = 8192


class AnthropicSettings(ProviderSettings):
    base_url: str | None = Field(None, description="Server root; default: the SDK's own (ANTHROPIC_BASE_URL or api.anthropic.com).")
    api_key: SecretStr | None = Field(None, description="Filled by the LLM client from the key variable; never written to disk.")
    timeout_s: float = Field(120.0, gt=0, description="Seconds to wait for an answer.")
    thinking_budget: int | None = Field(None, ge=1024, description="Extended thinking budget in tokens; None: no extended thinking.")


class AnthropicProvider(LLMProvider):
    """Claude models through the Messages API."""

    name: ClassVar[str] = "anthropic"
    description: ClassVar[str] = "Anthropic Claude through the Messages API (extended thinking kept as reasoning)"
    Settings: ClassVar[type[ProviderSettings]] = AnthropicSettings
    api_key_env: ClassVar[str | None] = "ANTHROPIC_API_KEY"

    def __init__(self, settings: ProviderSettings | dict | None = None) -> None:
        super().__init__(settings)
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The `anthropic.AsyncAnthropic` client, made on first use (importing the SDK is slow)."""
        if self._client is None:
            import anthropic

            settings: AnthropicSettings = self.settings  # type: ignore[assignment]
            key = settings.api_key.get_secret_value() if settings.api_key else None
            self._client = anthropic.AsyncAnthropic(
                # A server without auth (a local proxy) still gets a key: the SDK then reads no credentials of its own.
                api_key=key or "no-key-needed",
                base_url=settings.base_url,
                timeout=settings.timeout_s,
                max_retries=0,
            )
        return self._client

    def request_fields(self, request: CompletionRequest) -> dict[str, Any]:
        """The Messages API fields for a request."""
        settings: AnthropicSettings = self.settings  # type: ignore[assignment]
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        turns: list[dict[str, Any]] = []
        for message in request.messages:
            if message.role == "system":
                continue
            if turns and turns[-1]["role"] == message.role:
                turns[-1]["content"] += "\n\n" + message.content
            else:
                turns.append({"role": message.role, "content": message.content})
        if not turns or turns[0]["role"] != "user":
            turns.insert(0, {"role": "user", "content": "Continue."})
        max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
        fields: dict[str, Any] = {"model": request.model, "messages": turns, "max_tokens": max_tokens}
        if system:
            fields["system"] = system
        if settings.thinking_budget:
            # Thinking tokens count toward max_tokens: keep max_tokens of room for the answer itself.
            fields["thinking"] = {"type": "enabled", "budget_tokens": settings.thinking_budget}
            fields["max_tokens"] = settings.thinking_budget + max_tokens
        extra = dict(request.extra)
        if request.reasoning_effort:  # sent as a body field: SDK versions before output_config accept it too
            extra["output_config"] = {"effort": request.reasoning_effort}
        if extra:
            fields["extra_body"] = extra
        return fields

    async def complete(self, request: CompletionRequest) -> Completion:
        fields = self.request_fields(request)
        try:
            response = await self.client.messages.create(**fields)
        except Exception as exc:
            raise translate_error(exc) from None
        texts: list[str] = []
        thoughts: list[str] = []
        for block in response.content or []:
            kind = getattr(block, "type", None)
            if kind == "text":
                texts.append(block.text)
            elif kind == "thinking":
                thoughts.append(block.thinking)
        usage = response.usage
        tokens_in = int(usage.input_tokens or 0) + int(getattr(usage, "cache_creation_input_tokens", 0) or 0) + int(
            getattr(usage, "cache_read_input_tokens", 0) or 0
        )
        tokens_out = int(usage.output_tokens or 0)
        text = "".join(texts)
        if not text:
            cut = response.stop_reason == "max_tokens"
            why = "the answer was cut off by [llm] max_tokens before any text" if cut else "the answer has no text"
            raise ProviderError(
                "bad_response",
                f"{why} (stop_reason={response.stop_reason}, model {request.model})",
                retryable=not cut,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
            )
        return Completion(
            text=text,
            reasoning="\n\n".join(thoughts),
            model=response.model or request.model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def translate_error(exc: Exception) -> Exception:
    """An `anthropic` SDK exception as a classified `ProviderError`; other exceptions unchanged."""
    import anthropic

    return translate(exc, anthropic)


@hookimpl
def register_llm_providers(register):
    register(AnthropicProvider)
