"""What an LLM call costs: the price table shipped with genesis-core, overridable in configuration.

Prices are USD per million input and output tokens, keyed by model string
(`openai:gpt-5-mini`). `[llm.prices."MODEL"]` in genesis.toml wins over the
shipped table. A dated version (`anthropic:claude-sonnet-4-5-20250929`) takes
the price of its base name; an OpenRouter model (`openrouter:openai/gpt-5`)
the price of the vendor's own (`openai:gpt-5`). A model with no known price
costs 0, with one warning per model that says how to set its price.
"""

from __future__ import annotations

import re
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from genesis_core.config import PriceConfig

# What may follow a base name in a versioned model name: a date or "latest".
_VERSION_SUFFIX = re.compile(r"^-(\d{4}-?\d{2}-?\d{2}|\d{2}-\d{2}|latest)$")


class UnknownPriceWarning(UserWarning):
    """A model has no price, so its calls count as free against the budget."""


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input_per_mtok + tokens_out * self.output_per_mtok) / 1_000_000


@cache
def shipped_prices() -> dict[str, Price]:
    """The table in `providers/prices.toml`, keyed by model string."""
    text = resources.files("genesis_core.providers").joinpath("prices.toml").read_text(encoding="utf-8")
    table: dict[str, Price] = {}
    for provider, models in tomllib.loads(text).items():
        for model, (price_in, price_out) in models.items():
            table[f"{provider}:{model}"] = Price(float(price_in), float(price_out))
    return table


class PriceTable:
    """The shipped prices with configuration overrides on top."""

    def __init__(self, overrides: Mapping[str, PriceConfig] | None = None) -> None:
        self.prices = dict(shipped_prices())
        for model, price in (overrides or {}).items():
            self.prices[model] = Price(price.input_per_mtok, price.output_per_mtok)
        self._warned: set[str] = set()

    def lookup(self, model: str) -> Price | None:
        """The price of a model string, or None when neither it nor its base name is known."""
        if model in self.prices:
            return self.prices[model]
        prefix, _, name = model.partition(":")
        if "/" in name:  # an aggregator's "vendor/model"
            vendor, _, vendor_model = name.partition("/")
            found = self.lookup(f"{vendor}:{vendor_model}")
            if found is not None:
                return found
        best: str | None = None
        for key in self.prices:
            if model.startswith(key) and _VERSION_SUFFIX.match(model[len(key):]) and (best is None or len(key) > len(best)):
                best = key
        return self.prices[best] if best is not None else None

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> float:
        """USD for one call; 0 with a one-time warning when the model has no price."""
        price = self.lookup(model)
        if price is None:
            if model not in self._warned:
                self._warned.add(model)
                warnings.warn(
                    f"No price is known for the model '{model}', so its calls count as free and the money budget "
                    f"([run] max_cost_usd) cannot limit them. Set its price in genesis.toml: "
                    f'[llm.prices."{model}"] input_per_mtok = ... and output_per_mtok = ... (USD per million tokens).',
                    UnknownPriceWarning,
                    stacklevel=2,
                )
            return 0.0
        return price.cost(tokens_in, tokens_out)
