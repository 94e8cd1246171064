"""The shipped price table and its overrides."""

from __future__ import annotations

import warnings

import pytest
from genesis_core.config import GenesisConfig
from genesis_core.pricing import PriceTable, UnknownPriceWarning, shipped_prices


def test_the_shipped_table_covers_the_common_providers():
    prices = shipped_prices()
    for model in ("openai:gpt-5-mini", "anthropic:claude-sonnet-4-5", "deepseek:deepseek-chat", "google:gemini-2.5-flash"):
        assert model in prices
        assert prices[model].input_per_mtok > 0 and prices[model].output_per_mtok > 0
    assert all(p.input_per_mtok >= 0 and p.output_per_mtok >= 0 for p in prices.values())


def test_cost_is_tokens_times_price_per_million():
    table = PriceTable()
    price = table.lookup("openai:gpt-5-mini")
    assert table.cost("openai:gpt-5-mini", 2_000_000, 500_000) == pytest.approx(2 * price.input_per_mtok + 0.5 * price.output_per_mtok)


@pytest.mark.parametrize(
    ("model", "base"),
    [
        ("anthropic:claude-sonnet-4-5-20250929", "anthropic:claude-sonnet-4-5"),
        ("openai:gpt-4o-mini-2024-07-18", "openai:gpt-4o-mini"),
        ("anthropic:claude-3-7-sonnet-latest", "anthropic:claude-3-7-sonnet"),
        ("openrouter:openai/gpt-5-mini", "openai:gpt-5-mini"),
        ("openrouter:google/gemini-2.5-flash", "google:gemini-2.5-flash"),
    ],
)
def test_versions_and_aggregators_take_the_base_price(model, base):
    table = PriceTable()
    assert table.lookup(model) == table.lookup(base) is not None


@pytest.mark.parametrize("model", ["openai:gpt-4o-audio-preview", "openai:gpt-5-turbo", "local:qwen-coder", "openai:gpt"])
def test_other_names_are_not_guessed(model):
    assert PriceTable().lookup(model) is None


def test_configuration_overrides_and_adds_prices():
    config = GenesisConfig.model_validate(
        {
            "llm": {
                "prices": {
                    "openai:gpt-5-mini": {"input_per_mtok": 10, "output_per_mtok": 20},
                    "together:qwen3-coder": {"input_per_mtok": 1, "output_per_mtok": 2},
                }
            }
        }
    )
    table = PriceTable(config.llm.prices)
    assert table.cost("openai:gpt-5-mini", 1_000_000, 1_000_000) == pytest.approx(30)
    assert table.cost("together:qwen3-coder", 1_000_000, 0) == pytest.approx(1)
    assert PriceTable().cost("openai:gpt-5-mini", 1_000_000, 1_000_000) != pytest.approx(30)  # the shipped table is untouched


def test_an_unknown_model_costs_zero_and_warns_once_saying_how_to_price_it():
    table = PriceTable()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert table.cost("together:mystery-model", 1000, 1000) == 0.0
        assert table.cost("together:mystery-model", 1000, 1000) == 0.0
    assert len(caught) == 1
    assert caught[0].category is UnknownPriceWarning
    message = str(caught[0].message)
    assert '[llm.prices."together:mystery-model"]' in message and "input_per_mtok" in message
