"""Model ensembles: the bandits learn which model pays off, and their state survives a resume."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter

import pytest
from genesis_core.config import GenesisConfig
from genesis_core.ensemble import UCB1, FixedWeights, Thompson, make_selector
from genesis_core.llm import Message
from genesis_core.llm_client import LLMClient
from genesis_core.testing.mock_llm import MockLLMServer, Reply

KEY = "sk-bandit-test-key-0123456789"
PRICE = {"input_per_mtok": 1.0, "output_per_mtok": 1.0}
MESSAGES = [Message(role="user", content="Improve the program.")]


def _client(server: MockLLMServer, selection: str, seed: int) -> LLMClient:
    config = GenesisConfig.model_validate(
        {
            "llm": {
                "models": ["mock:good", "mock:bad"],
                "selection": selection,
                "endpoints": {"mock": {"base_url": server.openai_base_url, "api_key_env": "MOCK_KEY"}},
                "prices": {"mock:good": PRICE, "mock:bad": PRICE},
                "retry_backoff_s": 0.01,
            }
        }
    )
    return LLMClient(config, seed=seed, environ={"MOCK_KEY": KEY})


def _evolve(client: LLMClient, evaluations: int) -> Counter:
    """A small proposal loop: the "good" model's answers always improve the score, the "bad" one's never."""

    async def go() -> Counter:
        chosen: Counter = Counter()
        try:
            for _ in range(evaluations):
                model = client.choose_model()
                chosen[model] += 1
                result = await client.complete(model, MESSAGES)
                assert result.ok, result.error
                improved = "improvement" in result.completion.text
                client.record_outcome(model, improved, result.completion.cost_usd)
        finally:
            await client.close()
        return chosen

    return asyncio.run(go())


@pytest.fixture(scope="module")
def server():
    with MockLLMServer(api_key=KEY) as s:
        s.on_model("good", lambda body: Reply("An improvement: faster loop.", tokens_in=500, tokens_out=200))
        s.on_model("bad", lambda body: Reply("A change that does not help.", tokens_in=500, tokens_out=200))
        yield s


@pytest.mark.parametrize("selection", ["ucb1", "thompson"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_most_calls_go_to_the_model_that_improves(server, selection, seed):
    server.reset()
    chosen = _evolve(_client(server, selection, seed), 50)
    assert chosen["mock:good"] + chosen["mock:bad"] == 50
    assert chosen["mock:good"] >= 35, chosen
    # The server saw the same split: the bandit's choices are real calls.
    seen = Counter(r.model for r in server.requests)
    assert seen["good"] == chosen["mock:good"]


@pytest.mark.parametrize("selection", ["ucb1", "thompson"])
def test_the_learned_state_survives_a_resume(server, selection):
    first = _client(server, selection, seed=4)
    _evolve(first, 30)
    saved = json.loads(json.dumps(first.state()))

    resumed = _client(server, selection, seed=5)
    resumed.restore(saved)
    assert resumed.selector.arms == first.selector.arms
    assert resumed.totals == first.totals
    # It goes on from what it learned instead of exploring from scratch: the next calls go mostly to the good model.
    later = _evolve(resumed, 20)
    assert later["mock:good"] >= 15, later
    assert resumed.selector.arms["mock:good"].pulls == first.selector.arms["mock:good"].pulls + later["mock:good"]


def test_a_fresh_bandit_tries_every_model():
    selector = UCB1({"a": 1, "b": 1, "c": 1}, random.Random(0))
    seen = set()
    for _ in range(3):
        model = selector.choose()
        seen.add(model)
        selector.update(model, False, 0.01)
    assert seen == {"a", "b", "c"}


@pytest.mark.parametrize("kind", ["ucb1", "thompson"])
def test_improvements_per_dollar_beat_raw_improvement_rate(kind):
    """A model that improves half as often at a tenth of the price is the better buy."""
    rng = random.Random(7)
    selector = make_selector(kind, {"cheap": 1, "dear": 1}, rng)
    outcomes = random.Random(11)
    picks = Counter()
    for _ in range(300):
        model = selector.choose()
        picks[model] += 1
        rate, cost = (0.3, 0.001) if model == "cheap" else (0.6, 0.01)
        selector.update(model, outcomes.random() < rate, cost)
    assert picks["cheap"] > picks["dear"], picks


def test_fixed_weights_ignore_outcomes():
    selector = FixedWeights({"a": 1, "b": 1}, random.Random(3))
    for _ in range(100):
        selector.update("a", False, 1.0)
        selector.update("b", True, 0.0)
    picks = Counter(selector.choose() for _ in range(2000))
    assert 800 < picks["a"] < 1200


def test_thompson_state_is_plain_json():
    selector = Thompson({"a": 1, "b": 1}, random.Random(0))
    selector.update("a", True, 0.5)
    state = json.loads(json.dumps(selector.state()))
    assert state == {"kind": "thompson", "arms": {"a": {"pulls": 1, "improvements": 1, "cost_usd": 0.5}, "b": {"pulls": 0, "improvements": 0, "cost_usd": 0.0}}}
