"""The engine's way to call LLMs: model strings to providers, ensembles, retries, cost and budget.

A model string is `PREFIX:MODEL`: the prefix names a registered provider
(`openai:gpt-5-mini`, `anthropic:claude-sonnet-4-5`, `deepseek:deepseek-chat`)
or an endpoint of `[llm.endpoints]` (`local:qwen-coder`), and the rest is the
model as that service names it (colons and slashes included). Keys come from
the provider's usual variable or the endpoint's `api_key_env`; they are never
written anywhere, and every error text is scrubbed of them.

One `complete` is one logical call: it waits for a slot of its provider
(`max_concurrency`), checks the money budget before each send, and retries
rate limits, server errors, timeouts, dropped connections and unreadable
answers with exponential backoff and jitter, honouring Retry-After, up to
`max_attempts`. It never raises for a failed call: the `CallResult` says why
(`failure`) so the proposal is recorded as failed and the run goes on.

With no model configured and no OPENAI_API_KEY / ANTHROPIC_API_KEY set, the
client falls back to the offline provider (random local edits) and says so
once through `notice`.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from genesis_core.config import EndpointConfig, GenesisConfig
from genesis_core.ensemble import ModelSelector, make_selector
from genesis_core.errors import ConfigError, GenesisError
from genesis_core.llm import (
    Completion,
    CompletionRequest,
    LLMError,
    LLMProvider,
    Message,
    ProposalContext,
    ProviderError,
)
from genesis_core.plugins import PluginHost, get_host
from genesis_core.pricing import PriceTable

OFFLINE_MODEL = "offline:random-edits"
# When no model is configured but a key is: the provider's variable and the model to use.
DEFAULT_MODELS = (("OPENAI_API_KEY", "openai:gpt-5-mini"), ("ANTHROPIC_API_KEY", "anthropic:claude-sonnet-4-5"))
OFFLINE_NOTICE = (
    "No LLM configured and no API key set: using the offline provider (random local edits). "
    'Set [llm] models = ["openai:gpt-5-mini"] and OPENAI_API_KEY to use a real model.'
)
MAX_RETRY_DELAY_S = 60.0
# Key-like tokens scrubbed from error texts even when they are not one of ours.
_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-]{6})[A-Za-z0-9_\-]{6,}|\b(AIza[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-]{10,}")

T = TypeVar("T")


class CallResult(BaseModel):
    """One logical call, after retries."""

    model: str = Field(description="The model string, e.g. 'openai:gpt-5-mini'.")
    completion: Completion | None = Field(None, description="None when the call failed.")
    failure: str | None = Field(
        None, description="rate_limited, timeout, server_error, connection, bad_response, auth, budget or error."
    )
    error: str = Field("", description="One line explaining the failure; never contains a key.")
    attempts: int = 0
    latency_s: float = 0.0
    sampling: dict[str, Any] = Field(default_factory=dict, description="The sampled settings sent (temperature, top_p).")
    attempt_failures: list[str] = Field(default_factory=list, description="The reason of each failed attempt, in order.")

    @property
    def ok(self) -> bool:
        return self.completion is not None


@dataclass
class Route:
    """Where one model string goes."""

    model: str  # the full model string
    group: str  # the prefix: one provider instance and one concurrency limit per prefix
    name: str  # what the provider is asked for
    provider: LLMProvider
    billed: bool  # reached with a key, so the price table applies


class _Attempts:
    """The outcome of a retried operation."""

    def __init__(self) -> None:
        self.count = 0
        self.failures: list[str] = []
        self.last: ProviderError | None = None


def _empty_totals() -> dict[str, Any]:
    return {"calls": 0, "attempts": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0, "failures": 0, "failure_reasons": {}}


class LLMClient:
    """Model strings to providers, with ensembles, retries, concurrency limits, cost and budget."""

    def __init__(
        self,
        config: GenesisConfig,
        host: PluginHost | None = None,
        *,
        seed: int = 0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.llm = config.llm
        self._host = host
        self._environ = os.environ if environ is None else environ
        self._rng = random.Random(seed)
        self._jitter = random.Random(f"{seed}-retry-jitter")  # apart, so faults do not shift the model choices
        self._providers: dict[str, LLMProvider] = {}
        self._routes: dict[str, Route] = {}
        self._secrets: set[str] = set()
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.prices = PriceTable(self.llm.prices)
        self.totals: dict[str, dict[str, Any]] = {}
        self.in_flight = 0
        self.offline = False
        self.notice: str | None = None

        weights = self._model_weights()
        for model in weights:
            self.route(model)  # fails now, not mid-run, on a bad string or a missing key
        self.selector: ModelSelector = make_selector(self.llm.selection, weights, self._rng)

    # -- models -----------------------------------------------------------------

    def _model_weights(self) -> dict[str, float]:
        models = self.llm.models
        if isinstance(models, dict):
            bad = {m: w for m, w in models.items() if w < 0}
            if bad or not any(w > 0 for w in models.values()):
                raise ConfigError(
                    f"[llm] models gives weights {dict(models)}: weights must be zero or more and at least one positive. "
                    f'Use a table like models = {{"openai:gpt-5-mini" = 3, "anthropic:claude-sonnet-4-5" = 1}}.'
                )
            return {m: float(w) for m, w in models.items() if w > 0}
        if models:
            return {m: 1.0 for m in dict.fromkeys(models)}
        if self.llm.replay_from:
            from genesis_core.providers.replay import recorded_models

            recorded = recorded_models(self.llm.replay_from)
            if not recorded:
                raise ConfigError(
                    f"[llm] replay_from = '{self.llm.replay_from}' names a run that recorded no LLM calls and no models, "
                    f"so there is nothing to replay. Set [llm] models to the model strings of the run being replayed."
                )
            return {m: 1.0 for m in recorded}
        for variable, model in DEFAULT_MODELS:
            if self._environ.get(variable):
                self.notice = (
                    f"No [llm] models configured: using {model} because {variable} is set. "
                    f'Set [llm] models = ["..."] to pick another model.'
                )
                return {model: 1.0}
        self.offline = True
        self.notice = OFFLINE_NOTICE
        return {OFFLINE_MODEL: 1.0}

    @property
    def models(self) -> list[str]:
        """The model strings of the ensemble."""
        return list(self.selector.models)

    def route(self, model: str) -> Route:
        """Where a model string goes; a `GenesisError` for a bad string, an unknown prefix or a missing key."""
        if model in self._routes:
            return self._routes[model]
        prefix, sep, name = model.partition(":")
        if not sep or not prefix or not name:
            raise ConfigError(
                f"The model '{model}' is not a model string: expected PROVIDER:MODEL, like 'openai:gpt-5-mini', "
                f"'anthropic:claude-sonnet-4-5' or an endpoint of [llm.endpoints] ('local:qwen-coder')."
            )
        if self.llm.replay_from:  # answers come from the earlier run's database: no key, no cost
            replay = self._provider_class("replay", model, False)
            route = Route(model, prefix, model, self._provider("replay", replay, None, None), billed=False)
        else:
            endpoint = self.llm.endpoints.get(prefix)
            provider_name = endpoint.provider if endpoint is not None else prefix
            cls = self._provider_class(provider_name, model, endpoint is not None)
            key_env = endpoint.api_key_env if endpoint is not None else cls.api_key_env
            key = self._key(model, key_env) if key_env else None
            provider = self._provider(prefix, cls, endpoint, key)
            route = Route(model, prefix, name, provider, billed=key_env is not None)
        self._routes[model] = route
        return route

    def _provider_class(self, provider_name: str, model: str, from_endpoint: bool) -> type[LLMProvider]:
        host = self._host if self._host is not None else get_host()
        try:
            return host.get("llm_providers", provider_name)
        except GenesisError as exc:
            if from_endpoint:
                raise
            endpoints = ", ".join(sorted(self.llm.endpoints)) or "none"
            raise ConfigError(
                f"The model '{model}' names the prefix '{provider_name}', which is neither an installed LLM provider nor an "
                f"endpoint of [llm.endpoints] (endpoints: {endpoints}). {exc}"
            ) from None

    def _key(self, model: str, variable: str) -> str:
        value = self._environ.get(variable, "")
        if not value:
            raise ConfigError(
                f"The model '{model}' needs an API key in the environment variable {variable}, which is not set. "
                f"Set it (export {variable}=...), pick another model in [llm] models, or leave [llm] models empty "
                f"and unset the keys to use the offline provider."
            )
        self._secrets.add(value)
        return value

    def _provider(self, group: str, cls: type[LLMProvider], endpoint: EndpointConfig | None, key: str | None) -> LLMProvider:
        """One provider instance per prefix, given the settings its Settings model declares."""
        if group in self._providers:
            return self._providers[group]
        fields = cls.Settings.model_fields
        settings: dict[str, Any] = {}
        for name in fields:
            if name in LLMSECTION_FIELDS and getattr(self.llm, name) is not None:
                settings[name] = getattr(self.llm, name)
        if "base_url" in fields and endpoint is not None:
            settings["base_url"] = endpoint.base_url
        if "api_key" in fields and key is not None:
            settings["api_key"] = key
        try:
            provider = cls(settings)
        except ValueError as exc:  # pydantic's ValidationError is one
            raise ConfigError(f"The LLM provider '{cls.name}' refused its settings: {self.scrub(str(exc))}") from None
        self._providers[group] = provider
        return provider

    # -- choosing -----------------------------------------------------------------

    def choose_model(self) -> str:
        """The model for the next proposal: by weight, or the bandit's choice."""
        return self.selector.choose()

    def sampling(self) -> dict[str, Any]:
        """Sampling settings for one call; a list in the configuration means one value drawn per call."""
        out: dict[str, Any] = {}
        for name in ("temperature", "top_p"):
            value = getattr(self.llm, name)
            if isinstance(value, list):
                value = self._rng.choice(value) if value else None
            if value is not None:
                out[name] = float(value)
        return out

    def record_outcome(self, model: str, improved: bool, cost_usd: float) -> None:
        """Teach the bandit what a proposal of `model` gave: whether it beat its parent, at what cost."""
        if model in self.selector.arms:
            self.selector.update(model, improved, cost_usd)

    # -- budget and totals ---------------------------------------------------------

    @property
    def spent_usd(self) -> float:
        return sum(t["cost_usd"] for t in self.totals.values())

    def budget_allows(self) -> bool:
        """False once the money spent reaches [run] max_cost_usd; checked before every send."""
        limit = self.config.run.max_cost_usd
        return limit is None or self.spent_usd < limit

    def run_totals(self) -> dict[str, Any]:
        """The totals of all models together."""
        out = _empty_totals()
        for totals in self.totals.values():
            for key in ("calls", "attempts", "tokens_in", "tokens_out", "cost_usd", "failures"):
                out[key] += totals[key]
            for reason, n in totals["failure_reasons"].items():
                out["failure_reasons"][reason] = out["failure_reasons"].get(reason, 0) + n
        return out

    def _account(self, model: str, tokens_in: int, tokens_out: int, cost: float) -> None:
        totals = self.totals.setdefault(model, _empty_totals())
        totals["tokens_in"] += tokens_in
        totals["tokens_out"] += tokens_out
        totals["cost_usd"] += cost

    def _cost(self, route: Route, tokens_in: int, tokens_out: int) -> float:
        return self.prices.cost(route.model, tokens_in, tokens_out) if route.billed else 0.0

    def state(self) -> dict[str, Any]:
        """The bandit and the totals, as JSON, saved with the run."""
        return {"selector": self.selector.state(), "totals": {m: {**t, "failure_reasons": dict(t["failure_reasons"])} for m, t in self.totals.items()}}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Continue from `state()` of an earlier session of the same run."""
        self.selector.restore(state.get("selector") or {})
        for model, saved in (state.get("totals") or {}).items():
            totals = _empty_totals()
            totals.update({k: v for k, v in saved.items() if k in totals})
            totals["failure_reasons"] = dict(saved.get("failure_reasons") or {})
            self.totals[model] = totals

    # -- calls ------------------------------------------------------------------

    async def complete(
        self,
        model: str,
        messages: list[Message],
        *,
        context: ProposalContext | None = None,
        seed: int | None = None,
    ) -> CallResult:
        """One logical call with retries; failures come back in the result, never as exceptions."""
        route = self.route(model)
        sampling = self.sampling()
        request = CompletionRequest(
            model=route.name,
            messages=messages,
            max_tokens=self.llm.max_tokens,
            reasoning_effort=self.llm.reasoning_effort,
            seed=seed if seed is not None else self._rng.randrange(2**31),
            context=context,
            **sampling,
        )
        totals = self.totals.setdefault(model, _empty_totals())
        totals["calls"] += 1
        started = time.monotonic()
        attempts = _Attempts()
        completion = await self._retrying(route, lambda: route.provider.complete(request), attempts)
        result = CallResult(
            model=model,
            completion=None,
            attempts=attempts.count,
            latency_s=time.monotonic() - started,
            sampling=sampling,
            attempt_failures=attempts.failures,
        )
        totals["attempts"] += attempts.count
        if completion is None:
            error = attempts.last or ProviderError("error", "no attempt was made")
            result.failure = error.reason
            result.error = self.scrub(str(error))
            totals["failures"] += 1
            totals["failure_reasons"][error.reason] = totals["failure_reasons"].get(error.reason, 0) + 1
            return result
        if completion.cost_usd <= 0:
            completion.cost_usd = self._cost(route, completion.tokens_in, completion.tokens_out)
        self._account(model, completion.tokens_in, completion.tokens_out, completion.cost_usd)
        result.completion = completion
        return result

    async def embed(self, texts: list[str], model: str | None = None) -> list[list[float]]:
        """Embeddings of texts from an embedding model string (default: [novelty] embedding)."""
        model = model or self.config.novelty.embedding
        if ":" not in model:
            raise ConfigError(
                f"The embedding model '{model}' is not a model string. Embeddings through an LLM provider need one like "
                f"'openai:text-embedding-3-small'; '{model}' is computed locally by the novelty check, not by a provider."
            )
        route = self.route(model)
        attempts = _Attempts()
        vectors = await self._retrying(route, lambda: route.provider.embed(texts, route.name), attempts)
        if vectors is None:
            error = attempts.last or ProviderError("error", "no attempt was made")
            raise LLMError(f"Embeddings from '{model}' failed after {attempts.count} attempt(s) ({error.reason}): {self.scrub(str(error))}")
        return vectors

    async def _retrying(self, route: Route, send: Callable[[], Awaitable[T]], attempts: _Attempts) -> T | None:
        """Send with retries; None (and `attempts.last`) when every attempt failed or the budget ran out."""
        for attempt in range(1, self.llm.max_attempts + 1):
            if not self.budget_allows():
                attempts.last = self._budget_error()
                return None
            async with self._slot(route.group):
                if not self.budget_allows():  # money may have run out while waiting for the slot
                    attempts.last = self._budget_error()
                    return None
                attempts.count += 1
                self.in_flight += 1
                started = time.monotonic()
                try:
                    async with asyncio.timeout(self.llm.timeout_s):
                        value = await send()
                except ProviderError as exc:
                    error = exc
                except TimeoutError:
                    error = ProviderError("timeout", f"no answer within {self.llm.timeout_s:g} s ([llm] timeout_s)")
                except (ConnectionError, OSError) as exc:
                    error = ProviderError("connection", f"{type(exc).__name__}: {exc}")
                except ValueError as exc:  # undecodable JSON, a response that does not validate
                    error = ProviderError("bad_response", f"{type(exc).__name__}: {exc}")
                except LLMError as exc:
                    error = ProviderError("error", str(exc), retryable=False)
                else:
                    if isinstance(value, Completion) and not value.latency_s:
                        value.latency_s = time.monotonic() - started
                    return value
                finally:
                    self.in_flight -= 1
            if error.tokens_in or error.tokens_out:  # billed though unusable
                self._account(route.model, error.tokens_in, error.tokens_out, self._cost(route, error.tokens_in, error.tokens_out))
            attempts.failures.append(error.reason)
            attempts.last = error
            if not error.retryable or attempt == self.llm.max_attempts:
                return None
            await asyncio.sleep(self._retry_delay(attempt, error.retry_after))
        return None

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        """Retry-After when the server gave one (plus up to 10% jitter), else exponential backoff with jitter."""
        if retry_after is not None:
            return min(retry_after * (1 + 0.1 * self._jitter.random()), MAX_RETRY_DELAY_S)
        ceiling = min(self.llm.retry_backoff_s * 2 ** (attempt - 1), MAX_RETRY_DELAY_S)
        return ceiling * (0.5 + 0.5 * self._jitter.random())

    def _budget_error(self) -> ProviderError:
        limit = self.config.run.max_cost_usd
        return ProviderError(
            "budget", f"the money budget is spent (${self.spent_usd:.4f} of ${limit:g}, [run] max_cost_usd)", retryable=False
        )

    def _slot(self, group: str) -> asyncio.Semaphore:
        """The concurrency limit of one provider, made for the running event loop."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._semaphores = {}
        if group not in self._semaphores:
            self._semaphores[group] = asyncio.Semaphore(self.llm.max_concurrency)
        return self._semaphores[group]

    def scrub(self, text: str) -> str:
        """One line of text with every key we know, and anything shaped like a key, hidden."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, "[key hidden]")
        text = _KEY_PATTERN.sub(lambda m: (m.group(1) or m.group(2)) + "...[hidden]", text)
        text = " ".join(text.split())
        return text if len(text) <= 500 else text[:497] + "..."

    async def close(self) -> None:
        """Close the providers' network clients."""
        for provider in self._providers.values():
            await provider.close()


# [llm] keys a provider receives when its Settings model declares a field of that name.
LLMSECTION_FIELDS = frozenset(GenesisConfig.model_fields["llm"].annotation.model_fields)  # type: ignore[union-attr]
