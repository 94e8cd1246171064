"""The LLM provider plugin interface and the data that crosses it."""

from __future__ import annotations

from abc import ABC, abstractmethod
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
