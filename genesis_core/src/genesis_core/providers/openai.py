"""OpenAI-compatible providers: Chat Completions and embeddings.

One provider serves every server that speaks the OpenAI wire format: OpenAI
itself, DeepSeek, Google Gemini's OpenAI-compatible endpoint, OpenRouter, and
local servers (vLLM, Ollama, llama.cpp server, an OptiLLM proxy with its
technique-prefixed model names such as `moa-gpt-4o-mini`) through a named
endpoint in `[llm.endpoints]`. The `deepseek`, `google` and `openrouter`
providers are the same with their own default URL and key variable.

Requests go through Genesis's lean HTTP client (`http_client.py`), which
costs the engine a tenth of the CPU of the official `openai` SDK per call;
when a proxy variable applies to the server, or `[llm] http_client = "sdk"`
is set, they go
through the SDK instead (its httpx honours proxies). Both read the same JSON.

Reasoning models (o-series, gpt-5) get `max_completion_tokens` and
`reasoning_effort` instead of `max_tokens` and sampling settings, which they
refuse. Neither path retries: the LLM client retries, so that it can honour
Retry-After and count attempts.
"""

from __future__ import annotations

import os
import re
from typing import Any, ClassVar, Literal

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

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"

# Model names (after any "vendor/" part) that take reasoning parameters.
_REASONING = re.compile(r"^(o\d|gpt-5(?!-chat))")


class OpenAISettings(ProviderSettings):
    base_url: str | None = Field(None, description="Server root ending in /v1; default: the provider's own.")
    api_key: SecretStr | None = Field(None, description="Filled by the LLM client from the key variable; never written to disk.")
    timeout_s: float = Field(120.0, gt=0, description="Seconds to wait for an answer.")
    http_client: Literal["genesis", "sdk"] = Field(
        "genesis",
        description="'genesis': Genesis's lean HTTP/1.1 client; 'sdk': the official openai SDK (used anyway when a proxy "
        "variable applies to the server).",
    )


def is_reasoning_model(model: str) -> bool:
    """o1/o3/o4 and gpt-5 models (not gpt-5-chat) take max_completion_tokens and reasoning_effort."""
    return bool(_REASONING.match(model.rsplit("/", 1)[-1]))


class OpenAIProvider(LLMProvider):
    """Any OpenAI-compatible Chat Completions server."""

    name: ClassVar[str] = "openai"
    description: ClassVar[str] = "OpenAI and every OpenAI-compatible server (Chat Completions, embeddings)"
    Settings: ClassVar[type[ProviderSettings]] = OpenAISettings
    api_key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    default_base_url: ClassVar[str | None] = None  # None: OPENAI_BASE_URL, else OpenAI's own

    def __init__(self, settings: ProviderSettings | dict | None = None) -> None:
        super().__init__(settings)
        self._client: Any = None
        self._http: Any = None
        self._uses_sdk: bool | None = None

    @property
    def base_url(self) -> str:
        """The server root requests go to, ending without a slash."""
        settings: OpenAISettings = self.settings  # type: ignore[assignment]
        url = settings.base_url or self.default_base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_URL
        return url.rstrip("/")

    @property
    def uses_sdk(self) -> bool:
        """Whether requests go through the SDK: asked for, or needed for a proxy (decided on first use)."""
        if self._uses_sdk is None:
            from genesis_core.providers.http_client import proxy_for

            settings: OpenAISettings = self.settings  # type: ignore[assignment]
            self._uses_sdk = settings.http_client == "sdk" or proxy_for(self.base_url) is not None
        return self._uses_sdk

    def _key(self) -> str | None:
        settings: OpenAISettings = self.settings  # type: ignore[assignment]
        return settings.api_key.get_secret_value() if settings.api_key else None

    @property
    def client(self) -> Any:
        """The `openai.AsyncOpenAI` client, made on first use (importing the SDK is slow)."""
        if self._client is None:
            import openai

            settings: OpenAISettings = self.settings  # type: ignore[assignment]
            self._client = openai.AsyncOpenAI(
                # Local servers without auth still need a non-empty key for the SDK; they ignore it.
                api_key=self._key() or "no-key-needed",
                base_url=self.base_url,
                timeout=settings.timeout_s,
                max_retries=0,
            )
        return self._client

    @property
    def http(self) -> Any:
        """Genesis's lean `HTTPClient` for the server, made on first use."""
        if self._http is None:
            from genesis_core.providers.http_client import HTTPClient

            key = self._key()
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            self._http = HTTPClient(self.base_url, headers, timeout_s=self.settings.timeout_s)  # type: ignore[attr-defined]
        return self._http

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

    async def _post(self, path: str, body: dict[str, Any], sdk_call: Any) -> dict[str, Any]:
        """POST a JSON body and return the JSON answer, through the lean client or (`sdk_call`) the SDK."""
        if self.uses_sdk:
            try:
                response = await sdk_call()
            except Exception as exc:
                raise translate_error(exc) from None
            return response.model_dump()
        answer = await self.http.post(path, body)
        if answer.status >= 300:
            raise ProviderError.from_http(answer.status, _error_message(answer.body), answer.headers)
        data = answer.json()
        if not isinstance(data, dict):
            raise ProviderError("bad_response", f"the answer is JSON but not an object: {answer.body[:200]!r}")
        return data

    async def complete(self, request: CompletionRequest) -> Completion:
        fields = self.request_fields(request)
        extra = request.extra or {}
        data = await self._post(
            "/chat/completions", {**fields, **extra},
            lambda: self.client.chat.completions.create(**fields, extra_body=extra or None),
        )
        choices = data.get("choices")
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise ProviderError("bad_response", f"the answer holds no choices (model {request.model})")
        choice = choices[0]
        message = choice.get("message") or {}
        usage = data.get("usage") or {}
        tokens_in = int(usage.get("prompt_tokens") or 0)
        tokens_out = int(usage.get("completion_tokens") or 0)
        text = message.get("content") or ""
        finish_reason = choice.get("finish_reason")
        if not text:
            why = "the answer was cut off by [llm] max_tokens before any text" if finish_reason == "length" else "the answer has no text"
            raise ProviderError(
                "bad_response",
                f"{why} (finish_reason={finish_reason}, model {request.model})",
                retryable=finish_reason != "length",
                tokens_in=tokens_in,
                tokens_out=tokens_out,
            )
        # DeepSeek and vLLM send `reasoning_content`, OpenRouter `reasoning`.
        reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
        return Completion(
            text=text if isinstance(text, str) else str(text),
            reasoning=reasoning if isinstance(reasoning, str) else str(reasoning),
            model=data.get("model") or request.model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
        )

    async def embed(self, texts: list[str], model: str) -> list[list[float]]:
        data = await self._post(
            "/embeddings", {"model": model, "input": texts},
            lambda: self.client.embeddings.create(model=model, input=texts),
        )
        items = data.get("data")
        if not isinstance(items, list) or len(items) != len(texts):
            count = len(items) if isinstance(items, list) else 0
            raise ProviderError("bad_response", f"asked for {len(texts)} embeddings, got {count} (model {model})")
        try:
            ordered = sorted(items, key=lambda d: d["index"])
            return [[float(x) for x in d["embedding"]] for d in ordered]
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderError("bad_response", f"the embeddings answer does not have the expected shape ({exc})") from None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._http is not None:
            await self._http.close()
            self._http = None


def _error_message(body: bytes) -> str:
    """The service's own error message, from the JSON error body when there is one."""
    import json

    try:
        data = json.loads(body)
    except ValueError:
        return body[:500].decode("utf-8", "replace").strip() or "(no message)"
    inner = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(inner, dict) and inner.get("message"):
        return str(inner["message"])
    if isinstance(inner, str):
        return inner
    return json.dumps(data)[:500]


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
