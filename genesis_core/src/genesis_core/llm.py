"""The LLM provider plugin interface and the data that crosses it."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from genesis_core.errors import GenesisError


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ProposalContext(BaseModel):
    """Structured view of what the prompt shows, for providers that do not read prose.

    The offline provider edits `parent_code` directly; real LLMs ignore this
    and read `messages`.
    """

    parent_code: str = ""
    inspirations: list[str] = Field(default_factory=list)
    comment: str = "#"
    language: str = ""
    patch_kind: str = "diff"


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="The model name without the provider prefix.")
    messages: list[Message]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    reasoning_effort: str | None = None
    seed: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict, description="Provider-specific request fields.")
    context: ProposalContext | None = None


class Completion(BaseModel):
    text: str
    reasoning: str = ""
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0


class ProviderSettings(BaseModel):
    """Settings every provider accepts; a provider extends it with its own."""

    model_config = ConfigDict(extra="forbid")


class LLMError(GenesisError):
    """A call failed for good (after retries); the proposal is recorded as failed."""


# Why a call failed, as recorded with the proposal.
FAILURE_REASONS = ("rate_limited", "timeout", "server_error", "connection", "bad_response", "auth", "budget", "error")
RETRYABLE_REASONS = frozenset({"rate_limited", "timeout", "server_error", "connection", "bad_response"})


class ProviderError(LLMError):
    """One failed attempt of a provider call, classified so the client knows whether to retry.

    Providers translate their SDK's exceptions into this: `reason` is one of
    FAILURE_REASONS, `retry_after` the wait in seconds the server asked for,
    and `tokens_in`/`tokens_out` what a billed but unusable answer consumed.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        retry_after: float | None = None,
        retryable: bool | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
    ) -> None:
        if reason not in FAILURE_REASONS:
            raise ValueError(f"reason must be one of {FAILURE_REASONS}, not {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after
        self.retryable = reason in RETRYABLE_REASONS if retryable is None else retryable
        self.tokens_in = tokens_in
        self.tokens_out = tokens_out

    @classmethod
    def from_http(cls, status: int, message: str, headers: Any = None) -> ProviderError:
        """Classify an HTTP error answer: 429 rate limit, 408 timeout, 5xx server, 401/403 auth."""
        if status == 429:
            reason = "rate_limited"
        elif status == 408:
            reason = "timeout"
        elif status >= 500 or status == 409:
            reason = "server_error"
        elif status in (401, 403):
            reason = "auth"
        else:
            reason = "error"
        return cls(reason, f"HTTP {status}: {message}", retry_after=retry_after_seconds(headers))


def retry_after_seconds(headers: Any) -> float | None:
    """The wait an answer asks for: `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date."""
    if headers is None:
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(0.0, float(millis) / 1000)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        when = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class LLMProvider(ABC):
    """Base class of LLM provider plugins."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Settings: ClassVar[type[ProviderSettings]] = ProviderSettings
    # Environment variable holding the key, or None when the provider needs none.
    api_key_env: ClassVar[str | None] = None

    def __init__(self, settings: ProviderSettings | dict | None = None) -> None:
        if isinstance(settings, ProviderSettings):
            self.settings = settings
        else:
            self.settings = self.Settings.model_validate(settings or {})

    @abstractmethod
    async def complete(self, request: CompletionRequest) -> Completion:
        """One completion with token usage and cost."""

    async def embed(self, texts: list[str], model: str) -> list[list[float]]:
        raise LLMError(f"The provider '{self.name}' has no embeddings; pick another embedding model in [novelty].")

    async def close(self) -> None:
        """Close network clients."""
        return None
