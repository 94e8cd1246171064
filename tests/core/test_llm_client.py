"""The LLM client: model strings, keys, retries, faults, concurrency, cost and budget.

Every call goes through the real SDKs to loopback servers that inject the
faults real services produce.
"""

from __future__ import annotations

import asyncio
import warnings
from collections import Counter

import pytest
from genesis_core.config import GenesisConfig
from genesis_core.errors import GenesisError
from genesis_core.llm import FAILURE_REASONS, Message, ProposalContext
from genesis_core.llm_client import OFFLINE_MODEL, OFFLINE_NOTICE, LLMClient
from genesis_core.pricing import UnknownPriceWarning
from genesis_core.testing.mock_llm import Fault, MockLLMServer, Reply, headers_key

KEY = "sk-mock-client-test-key-abcdef0123456789"
MESSAGES = [Message(role="system", content="You improve programs."), Message(role="user", content="Improve it.")]
FREE = {"input_per_mtok": 0.0, "output_per_mtok": 0.0}
PROGRAM = "x = 1\n# EVOLVE-BLOCK-START\ny = x + 0.5\n# EVOLVE-BLOCK-END\nprint(y)\n"


def make_config(server: MockLLMServer | None = None, *, models=("mock:m1",), run=None, endpoints=None, **llm) -> GenesisConfig:
    all_endpoints = dict(endpoints or {})
    if server is not None:
        all_endpoints.setdefault("mock", {"base_url": server.openai_base_url, "api_key_env": "MOCK_KEY"})
        all_endpoints.setdefault("mockant", {"base_url": server.anthropic_base_url, "api_key_env": "MOCK_KEY", "provider": "anthropic"})
    llm_section = {"models": list(models) if not isinstance(models, dict) else models, "endpoints": all_endpoints, "retry_backoff_s": 0.01, "timeout_s": 5.0}
    llm_section["prices"] = {"mock:m1": FREE, "mock:m2": FREE, "mockant:m2": FREE, "mockant:claude-test": FREE}
    llm_section.update(llm)
    return GenesisConfig.model_validate({"llm": llm_section, "run": run or {}})


def make_client(server=None, *, environ=None, seed=0, **kwargs) -> LLMClient:
    env = {"MOCK_KEY": KEY} if environ is None else environ
    return LLMClient(make_config(server, **kwargs), seed=seed, environ=env)


def run_calls(client: LLMClient, n: int, model: str | None = None):
    async def go():
        try:
            return await asyncio.gather(*(client.complete(model or client.choose_model(), MESSAGES) for _ in range(n)))
        finally:
            await client.close()

    return asyncio.run(go())


@pytest.fixture
def server():
    with MockLLMServer(api_key=KEY, retry_after=0.05, stall_s=10) as s:
        yield s


# -- model strings and keys ---------------------------------------------------------


def test_a_call_reaches_the_endpoint_with_its_key(server):
    server.script(Reply("hello there", tokens_in=100, tokens_out=20))
    [result] = run_calls(make_client(server), 1, "mock:m1")
    assert result.ok and result.failure is None
    assert result.completion.text == "hello there"
    assert result.attempts == 1
    assert server.requests[0].model == "m1"
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_model_names_keep_their_colons_and_technique_prefixes(server):
    models = ["mock:qwen2.5-coder:7b", "mock:moa-gpt-4o-mini", "mock:bon&moa-gpt-4o"]
    client = make_client(server, models=models, prices={m: FREE for m in models})
    for model in models:
        run_calls(client, 1, model)
        client = make_client(server, models=models, prices={m: FREE for m in models})
    assert [r.model for r in server.requests] == ["qwen2.5-coder:7b", "moa-gpt-4o-mini", "bon&moa-gpt-4o"]


def test_anthropic_endpoint_with_extended_thinking(server):
    server.script(Reply("from claude", reasoning="pondering", tokens_in=5, tokens_out=3))
    [result] = run_calls(make_client(server, models=["mockant:claude-test"], thinking_budget=2048, timeout_s=7.0), 1)
    assert result.completion.text == "from claude"
    assert result.completion.reasoning == "pondering"
    assert server.requests[0].path == "/v1/messages"
    assert server.requests[0].body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert headers_key(server.requests[0].headers) == KEY


def test_endpoint_without_auth_needs_no_key():
    with MockLLMServer() as open_server:
        config = make_config(endpoints={"local": {"base_url": open_server.openai_base_url}}, models=["local:qwen-coder"])
        client = LLMClient(config, environ={})
        [result] = run_calls(client, 1)
    assert result.ok
    assert result.completion.cost_usd == 0.0  # a local server costs nothing


@pytest.mark.parametrize("bad", ["gpt-5-mini", ":gpt", "openai:"])
def test_a_model_string_without_prefix_is_refused(bad):
    with pytest.raises(GenesisError, match="PROVIDER:MODEL"):
        LLMClient(make_config(models=[bad]), environ={"OPENAI_API_KEY": KEY})


def test_an_unknown_prefix_names_the_providers_and_endpoints(server):
    with pytest.raises(GenesisError) as caught:
        make_client(server, models=["opnai:gpt-5-mini"])
    message = str(caught.value)
    assert "opnai" in message and "openai" in message and "mock" in message


def test_a_missing_key_names_the_variable_and_no_value():
    with pytest.raises(GenesisError) as caught:
        LLMClient(make_config(models=["anthropic:claude-sonnet-4-5"]), environ={"OPENAI_API_KEY": KEY})
    message = str(caught.value)
    assert "ANTHROPIC_API_KEY" in message
    assert KEY not in message


def test_no_model_and_no_key_falls_back_to_offline_with_a_notice():
    client = LLMClient(make_config(models=[]), environ={})
    assert client.offline
    assert client.notice == OFFLINE_NOTICE
    assert client.models == [OFFLINE_MODEL]
    context = ProposalContext(parent_code=PROGRAM, comment="#", patch_kind="diff")

    async def go():
        return await client.complete(client.choose_model(), MESSAGES, context=context)

    result = asyncio.run(go())
    assert result.ok and "SEARCH" in result.completion.text
    assert client.spent_usd == 0.0


@pytest.mark.parametrize(
    ("variable", "model"), [("OPENAI_API_KEY", "openai:gpt-5-mini"), ("ANTHROPIC_API_KEY", "anthropic:claude-sonnet-4-5")]
)
def test_no_model_but_a_key_uses_that_providers_default(variable, model):
    client = LLMClient(make_config(models=[]), environ={variable: KEY})
    assert not client.offline
    assert client.models == [model]
    assert model in client.notice and variable in client.notice
    assert KEY not in client.notice


# -- faults and retries ---------------------------------------------------------------


def test_rate_limit_is_retried_after_retry_after(server):
    server.retry_after = 0.4
    server.script(Fault.RATE_LIMIT, Reply("finally"))
    [result] = run_calls(make_client(server), 1, "mock:m1")
    assert result.ok and result.completion.text == "finally"
    assert result.attempts == 2
    assert result.attempt_failures == ["rate_limited"]
    first, second = server.requests
    assert second.started - first.finished >= 0.4  # Retry-After is a lower bound on the wait


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.SERVER_ERROR, "server_error"),
        (Fault.UNAVAILABLE, "server_error"),
        (Fault.DROP, "connection"),
        (Fault.TRUNCATED, "connection"),
        (Fault.MALFORMED, "bad_response"),
        (Fault.RATE_LIMIT, "rate_limited"),
    ],
)
def test_attempts_are_bounded_and_the_reason_recorded(server, fault, reason):
    server.script(fault, fault, fault)
    client = make_client(server, max_attempts=3)
    [result] = run_calls(client, 1, "mock:m1")
    assert not result.ok
    assert result.failure == reason
    assert result.attempts == 3 and result.attempt_failures == [reason] * 3
    assert len(server.requests) == 3
    assert client.totals["mock:m1"]["failure_reasons"] == {reason: 1}


def test_a_stall_past_the_timeout_is_a_timeout(server):
    server.script(Fault.STALL, Fault.STALL)
    [result] = run_calls(make_client(server, timeout_s=0.3, max_attempts=2), 1, "mock:m1")
    assert result.failure == "timeout"
    assert result.attempts == 2


def test_a_stall_then_an_answer_succeeds(server):
    server.script(Fault.STALL, Reply("after the stall"))
    [result] = run_calls(make_client(server, timeout_s=0.3), 1, "mock:m1")
    assert result.ok and result.attempt_failures == ["timeout"]


def test_a_wrong_key_fails_at_once_and_the_key_never_shows(server):
    wrong = "sk-this-is-the-wrong-key-0123456789"
    client = make_client(server, environ={"MOCK_KEY": wrong})
    [result] = run_calls(client, 1, "mock:m1")
    assert result.failure == "auth"
    assert result.attempts == 1  # not retried
    # The server repeats the key it got in its error message; the client hides it.
    assert wrong not in result.error
    assert "[key hidden]" in result.error
    assert wrong not in result.model_dump_json()
    assert wrong not in str(client.state())


def test_thirty_percent_faults_every_call_ends_with_an_answer_or_a_reason(server):
    server.fault_rate = 0.3
    server.stall_s = 2.0
    client = make_client(server, models=["mock:m1", "mock:m2"], max_attempts=2, timeout_s=0.5, max_concurrency=8)
    results = run_calls(client, 120)
    assert len(results) == 120
    failed = [r for r in results if not r.ok]
    assert all(r.failure in FAILURE_REASONS and r.error for r in failed)
    assert all(r.completion is not None and r.completion.text for r in results if r.ok)
    # With two attempts each, about 9% of calls fail; some must, most must not.
    assert 0 < len(failed) < 60
    by_reason = Counter(r.failure for r in failed)
    recorded = client.run_totals()
    assert recorded["failure_reasons"] == dict(by_reason)
    assert recorded["calls"] == 120 and recorded["failures"] == len(failed)
    assert recorded["attempts"] == sum(r.attempts for r in results) == len(server.requests)
    # Every fault the server injected shows up as a failed attempt of the right kind.
    reasons = {"rate_limit": "rate_limited", "server_error": "server_error", "unavailable": "server_error", "stall": "timeout",
               "drop": "connection", "truncated": "connection", "malformed": "bad_response"}
    served = Counter()
    for fault, n in server.faults_served().items():
        served[reasons[fault]] += n
    attempts_failed = Counter(reason for r in results for reason in r.attempt_failures)
    assert attempts_failed == served


def test_the_concurrency_limit_holds_at_the_server(server):
    server.delay_s = 0.05
    client = make_client(server, max_concurrency=3)
    results = run_calls(client, 20, "mock:m1")
    assert all(r.ok for r in results)
    assert 1 < server.max_in_flight <= 3


def test_each_provider_has_its_own_limit(server):
    server.delay_s = 0.05
    client = make_client(server, models=["mock:m1", "mockant:m2"], max_concurrency=2)

    async def go():
        calls = [client.complete(m, MESSAGES) for m in ["mock:m1", "mockant:m2"] * 8]
        try:
            return await asyncio.gather(*calls)
        finally:
            await client.close()

    results = asyncio.run(go())
    assert all(r.ok for r in results)
    assert server.max_in_flight_by_model["m1"] <= 2 and server.max_in_flight_by_model["m2"] <= 2
    assert server.max_in_flight <= 4


# -- cost and budget -----------------------------------------------------------------------

PRICED = {"mock:m1": {"input_per_mtok": 1000.0, "output_per_mtok": 10000.0}}


def test_cost_comes_from_the_configured_price(server):
    server.script(Reply("a", tokens_in=1000, tokens_out=100))
    client = make_client(server, prices=PRICED)
    [result] = run_calls(client, 1, "mock:m1")
    assert result.completion.cost_usd == pytest.approx(1000 * 1000 / 1e6 + 100 * 10000 / 1e6)
    totals = client.totals["mock:m1"]
    assert (totals["calls"], totals["tokens_in"], totals["tokens_out"]) == (1, 1000, 100)
    assert client.spent_usd == pytest.approx(2.0)


def test_the_money_budget_is_never_exceeded_by_more_than_the_calls_in_flight(server):
    server.responder = lambda body: Reply("x", tokens_in=10, tokens_out=1)  # $0.02 a call
    server.delay_s = 0.01
    per_call = 10 * 1000 / 1e6 + 1 * 10000 / 1e6
    limit = 0.2
    concurrency = 4
    client = make_client(server, prices=PRICED, max_concurrency=concurrency, run={"max_cost_usd": limit})
    results = run_calls(client, 60, "mock:m1")
    done = [r for r in results if r.ok]
    refused = [r for r in results if not r.ok]
    assert refused and all(r.failure == "budget" and r.attempts == 0 for r in refused)
    assert "max_cost_usd" in refused[0].error
    assert client.spent_usd >= limit
    assert client.spent_usd <= limit + concurrency * per_call + 1e-9
    assert len(server.requests) == len(done)
    assert not client.budget_allows()


def test_faults_and_a_money_budget_together(server):
    """30% faults: the budget still stops spending within the calls in flight, and every failure has its reason."""
    server.responder = lambda body: Reply("x", tokens_in=10, tokens_out=1)  # $0.02 a call
    server.fault_rate = 0.3
    server.stall_s = 2.0
    per_call = 10 * 1000 / 1e6 + 1 * 10000 / 1e6
    limit, concurrency = 0.5, 6
    client = make_client(server, prices=PRICED, max_concurrency=concurrency, max_attempts=3, timeout_s=0.5, run={"max_cost_usd": limit})
    results = run_calls(client, 100, "mock:m1")
    reasons = Counter(r.failure for r in results if not r.ok)
    assert reasons["budget"] > 0
    assert set(reasons) <= set(FAILURE_REASONS)
    assert all(r.error for r in results if not r.ok)
    assert limit <= client.spent_usd <= limit + concurrency * per_call + 1e-9
    assert client.spent_usd == pytest.approx(sum(r.completion.cost_usd for r in results if r.ok))


def test_an_unknown_price_warns_once_and_counts_zero(server):
    client = make_client(server, models=["mock:unpriced"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = run_calls(client, 3, "mock:unpriced")
    assert all(r.completion.cost_usd == 0.0 for r in results)
    price_warnings = [w for w in caught if issubclass(w.category, UnknownPriceWarning)]
    assert len(price_warnings) == 1
    assert '[llm.prices."mock:unpriced"]' in str(price_warnings[0].message)


# -- sampling, state, embeddings --------------------------------------------------------------


def test_temperatures_are_drawn_per_call_from_the_list(server):
    client = make_client(server, temperature=[0.2, 0.8, 1.1], top_p=[0.9, 1.0])
    results = run_calls(client, 30, "mock:m1")
    sent = {r.body["temperature"] for r in server.requests}
    assert sent == {0.2, 0.8, 1.1}
    assert {r.body["top_p"] for r in server.requests} == {0.9, 1.0}
    assert sorted(r.sampling["temperature"] for r in results) == sorted(r.body["temperature"] for r in server.requests)


def test_the_same_seed_gives_the_same_choices(server):
    a = make_client(server, models={"mock:m1": 1, "mock:m2": 2}, seed=5)
    b = make_client(server, models={"mock:m1": 1, "mock:m2": 2}, seed=5)
    assert [a.choose_model() for _ in range(30)] == [b.choose_model() for _ in range(30)]
    assert [a.sampling() for _ in range(5)] == [b.sampling() for _ in range(5)]


def test_fixed_weights_shape_the_choices(server):
    client = make_client(server, models={"mock:m1": 9, "mock:m2": 1}, seed=3)
    counts = Counter(client.choose_model() for _ in range(1000))
    assert counts["mock:m1"] > 3 * counts["mock:m2"] > 0


def test_state_round_trip_keeps_totals_and_spending(server):
    server.script(Reply("a", tokens_in=1000, tokens_out=100))
    client = make_client(server, prices=PRICED)
    run_calls(client, 1, "mock:m1")
    client.record_outcome("mock:m1", True, 2.0)
    import json

    saved = json.loads(json.dumps(client.state()))
    again = make_client(server, prices=PRICED)
    again.restore(saved)
    assert again.totals == client.totals
    assert again.spent_usd == pytest.approx(2.0)
    assert again.selector.arms["mock:m1"].improvements == 1


def test_embeddings_through_the_client(server):
    client = LLMClient(make_config(server), environ={"MOCK_KEY": KEY})

    async def go():
        try:
            return await client.embed(["a b c", "d e f"], "mock:text-embedding-3-small")
        finally:
            await client.close()

    vectors = asyncio.run(go())
    assert len(vectors) == 2 and len(vectors[0]) == server.embedding_dimensions


def test_scrub_hides_known_keys_and_key_shaped_tokens(server):
    client = make_client(server)
    text = client.scrub(f"bad key {KEY}\nalso sk-proj-AbCdEf0123456789xyz and AIzaSyA1234567890abcdefghij")
    assert KEY not in text and "sk-proj-AbCdEf0123456789xyz" not in text and "AIzaSyA1234567890abcdefghij" not in text
    assert "\n" not in text


def test_embeddings_need_a_model_string():
    client = LLMClient(make_config(models=[]), environ={})
    with pytest.raises(GenesisError, match="shingles"):
        asyncio.run(client.embed(["x"]))
