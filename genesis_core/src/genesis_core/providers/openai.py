"""OpenAI-compatible providers: Chat Completions and embeddings on the official `openai` SDK.

One provider serves every server that speaks the OpenAI wire format: OpenAI
itself, DeepSeek, Google Gemini's OpenAI-compatible endpoint, OpenRouter, and
local servers (vLLM, Ollama, llama.cpp server, an OptiLLM proxy with its
technique-prefixed model names such as `moa-gpt-4o-mini`) through a named
endpoint in `[llm.endpoints]`. The `deepseek`, `google` and `openrouter`
providers are the same with their own default URL and key variable.

Reasoning models (o-series, gpt-5) get `max_completion_tokens` and
`reasoning_effort` instead of `max_tokens` and sampling settings, which they
refuse. The SDK's own retries are off: the LLM client retries, so that it can
honour Retry-After and count attempts.
"""

from __future__ import annotations

import re
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

# Model names (after any "vendor/" part) that take reasoning parameters.
_REASONING = re.compile(r"^(o\d|gpt-5(?!-chat))")


class OpenAISettings(ProviderSettings):
    base_url: str | None = Field(None, description="Server root ending in /v1; default: the provider's own.")
    api_key: SecretStr | None = Field(None, description="Filled by the LLM client from the key variable; never written to disk.")
    timeout_s: float = Field(120.0, gt=0, description="Seconds to wait for an answer.")


def is_reasoning_model(model: str) -> bool:
    """o1/o3/o4 and gpt-5 models (not gpt-5-chat) take max_completion_tokens and reasoning_effort."""
    return bool(_REASONING.match(model.rsplit("/", 1)[-1]))


class OpenAIProvider(LLMProvider):
    """Any OpenAI-compatible Chat Completions server."""

    name: ClassVar[str] = "openai"
    description: ClassVar[str] = "OpenAI and every OpenAI-compatible server (Chat Completions, embeddings)"
    Settings: ClassVar[type[ProviderSettings]] = OpenAISettings
    api_key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    default_base_url: ClassVar[str | None] = None  # None: the SDK's own (OPENAI_BASE_URL or api.openai.com)

    def __init__(self, settings: ProviderSettings | dict | None = None) -> None:
        super().__init__(settings)
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The `openai.AsyncOpenAI` client, made on first use (importing the SDK is slow)."""
        if self._client is None:
            import openai

            settings: OpenAISettings = self.settings  # type: ignore[assignment]
            key = settings.api_key.get_secret_value() if settings.api_key else None
            self._client = openai.AsyncOpenAI(
                # Local servers without auth still need a non-empty key for the SDK; they ignore it.
                api_key=key or "no-key-needed",
                base_url=settings.base_url or self.default_base_url,
                timeout=settings.timeout_s,
                max_retries=0,
            )
        return self._client

    def request_fields(self, request: CompletionRequest) -> dict[str, Any]:
        """The Chat Completions fields for a request, reasoning models included."""
        fields: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if is_reasoning_model(request.model):
            if request.max_tokens is not None:
                fields["max_completion_tokens"] = request.max_tokens
            if request.reasoning_effort:
                fields["reasoning_effort"] = request.reasoning_effort
        else:
            if request.max_tokens is not None:
                fields["max_tokens"] = request.max_tokens
            if request.temperature is not None:
                fields["temperature"] = request.temperature
            if request.top_p is not None:
                fields["top_p"] = request.top_p
            if request.reasoning_effort and self.name == "google":
                fields["reasoning_effort"] = request.reasoning_effort  # Gemini 2.5's thinking level
        if request.seed is not None:
            fields["seed"] = request.seed
        return fields

    async def complete(self, request: CompletionRequest) -> Completion:
        fields = self.request_fields(request)
        try:
            response = await self.client.chat.completions.create(**fields, extra_body=request.extra or None)
        except Exception as exc:
            raise translate_error(exc) from None
        if not getattr(response, "choices", None):
            raise ProviderError("bad_response", f"the answer holds no choices (model {request.model})")
        choice = response.choices[0]
        message = choice.message
        usage = response.usage
        tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
        tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
        text = message.content or ""
        if not text:
            why = "the answer was cut off by [llm] max_tokens before any text" if choice.finish_reason == "length" else "the answer has no text"
            raise ProviderError(
                "bad_response",
                f"{why} (finish_reason={choice.finish_reason}, model {request.model})",
                retryable=choice.finish_reason != "length",
                tokens_in=tokens_in,
                tokens_out=tokens_out,
            )
        # DeepSeek and vLLM send `reasoning_content`, OpenRouter `reasoning`: fields the SDK keeps as extras.
        reasoning = getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None) or ""
        return Completion(
            text=text,
            reasoning=reasoning if isinstance(reasoning, str) else str(reasoning),
            model=response.model or request.model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
        )

    async def embed(self, texts: list[str], model: str) -> list[list[float]]:
        try:
            response = await self.client.embeddings.create(model=model, input=texts)
        except Exception as exc:
            raise translate_error(exc) from None
        data = sorted(response.data, key=lambda d: d.index)
        if len(data) != len(texts):
            raise ProviderError("bad_response", f"asked for {len(texts)} embeddings, got {len(data)} (model {model})")
        return [list(d.embedding) for d in data]

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def translate_error(exc: Exception) -> Exception:
    """An `openai` SDK exception as a classified `ProviderError`; other exceptions unchanged."""
    import openai

    return translate(exc, openai)


class DeepSeekProvider(OpenAIProvider):
    """DeepSeek's OpenAI-compatible API (deepseek-chat, deepseek-reasoner)."""

    name: ClassVar[str] = "deepseek"
    description: ClassVar[str] = "DeepSeek through its OpenAI-compatible API"
    api_key_env: ClassVar[str | None] = "DEEPSEEK_API_KEY"
    default_base_url: ClassVar[str | None] = "https://api.deepseek.com/v1"


class GoogleProvider(OpenAIProvider):
    """Google Gemini through its OpenAI-compatible endpoint."""

    name: ClassVar[str] = "google"
    description: ClassVar[str] = "Google Gemini through its OpenAI-compatible endpoint"
    api_key_env: ClassVar[str | None] = "GEMINI_API_KEY"
    default_base_url: ClassVar[str | None] = "https://generativelanguage.googleapis.com/v1beta/openai/"


class OpenRouterProvider(OpenAIProvider):
    """OpenRouter: many vendors' models as `openrouter:vendor/model`."""

    name: ClassVar[str] = "openrouter"
    description: ClassVar[str] = "OpenRouter (models named vendor/model)"
    api_key_env: ClassVar[str | None] = "OPENROUTER_API_KEY"
    default_base_url: ClassVar[str | None] = "https://openrouter.ai/api/v1"


@hookimpl
def register_llm_providers(register):
    register(OpenAIProvider)
    register(DeepSeekProvider)
    register(GoogleProvider)
    register(OpenRouterProvider)
