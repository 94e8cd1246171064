"""The offline provider: real, seeded edits inside EVOLVE-BLOCKs, in the project's patch formats."""

from __future__ import annotations

import asyncio
import random

import pytest
from genesis_core.blocks import find_blocks, outside_segments
from genesis_core.llm import CompletionRequest, Message, ProposalContext, ProviderError
from genesis_core.patches import apply_response
from genesis_core.providers import offline as offline_plugin
from genesis_core.providers.offline import OfflineProvider, propose_edit
from genesis_core.testing.providers import ProviderPluginTests

PYTHON = '''import math

THRESHOLD = 3  # outside: never touched

# EVOLVE-BLOCK-START
def step(x, y):
    """Weights 0.5 and 2."""
    a = 0.5 * x + 2
    b = y - 1
    if a < b:
        return a / b  # ratio 3
    return a * b
# EVOLVE-BLOCK-END


def main():
    print(step(1, 2), "count 5", THRESHOLD + 1)
'''

CPP = """#include <vector>
int limit = 100;  // outside
// EVOLVE-BLOCK-START
double score(const std::vector<double>& v) {
    double total = 0.25;
    for (size_t i = 0; i < v.size(); ++i) {
        total += v[i] * 1.5f;
    }
    return total / 2;
}
// EVOLVE-BLOCK-END
int main() { return limit > 3; }
"""


def _context(code=PYTHON, kind="diff", comment="#", inspirations=()):
    return ProposalContext(parent_code=code, comment=comment, patch_kind=kind, inspirations=list(inspirations), language="python")


def _complete(request: CompletionRequest):
    async def run():
        provider = OfflineProvider()
        try:
            return await provider.complete(request)
        finally:
            await provider.close()

    return asyncio.run(run())


class TestOfflineProvider(ProviderPluginTests):
    provider_class = OfflineProvider
    plugin_module = offline_plugin
    wire = None

    def make_request(self) -> CompletionRequest:
        return CompletionRequest(model="random-edits", messages=[Message(role="user", content="improve")], seed=3, context=_context())


@pytest.mark.parametrize("kind", ["diff", "rewrite", "crossover"])
@pytest.mark.parametrize(("code", "comment"), [(PYTHON, "#"), (CPP, "//")], ids=["python", "cpp"])
def test_every_answer_applies_and_changes_only_the_regions(kind, code, comment):
    inspiration = code.replace("0.5", "0.75").replace("0.25", "0.3")
    outside = outside_segments(code, find_blocks(code, comment))
    changed = 0
    for seed in range(150):
        answer = propose_edit(_context(code, kind, comment, [inspiration]), random.Random(seed))
        new = apply_response(code, answer, comment, kind)  # raises PatchError if the answer does not apply
        assert outside_segments(new, find_blocks(new, comment)) == outside
        changed += new != code
    assert changed >= 145  # nearly every proposal is a real edit


def test_diff_answers_are_search_replace_blocks():
    answer = propose_edit(_context(kind="diff"), random.Random(1))
    assert "<<<<<<< SEARCH" in answer and "=======" in answer and ">>>>>>> REPLACE" in answer
    assert "```" not in answer


def test_rewrite_answers_are_one_fenced_program():
    answer = propose_edit(_context(kind="rewrite"), random.Random(1))
    assert answer.count("```") == 2
    assert "EVOLVE-BLOCK-START" in answer and "SEARCH" not in answer


def test_the_same_seed_gives_the_same_answer_and_seeds_differ():
    request = lambda seed: CompletionRequest(model="random-edits", messages=[], seed=seed, context=_context())  # noqa: E731
    assert _complete(request(42)).text == _complete(request(42)).text
    answers = {_complete(request(seed)).text for seed in range(40)}
    assert len(answers) > 20


def test_edit_kinds_include_literals_operators_and_recombination():
    inspiration = PYTHON.replace("b = y - 1", "b = y - 3\n    c = b * 2")
    whats = " ".join(propose_edit(_context(inspirations=[inspiration]), random.Random(s)).splitlines()[0] for s in range(200))
    assert "changed " in whats  # a numeric literal
    assert "swapped " in whats  # an operator
    assert "from inspiration 1" in whats  # lines taken from an inspiration


def test_crossover_takes_lines_from_the_second_parent():
    second = PYTHON.replace("b = y - 1", "b = y * y - 7")
    results = {apply_response(PYTHON, propose_edit(_context(kind="crossover", inspirations=[second]), random.Random(s)), "#", "crossover") for s in range(30)}
    assert any("b = y * y - 7" in r for r in results)


def test_strings_comments_and_lines_outside_are_left_alone():
    for seed in range(300):
        new = apply_response(PYTHON, propose_edit(_context(), random.Random(seed)), "#", "diff")
        assert '"""Weights 0.5 and 2."""' in new
        assert "# ratio 3" in new
        assert '"count 5"' in new and "THRESHOLD = 3" in new


def test_no_context_is_a_recorded_failure_not_a_crash():
    with pytest.raises(ProviderError) as caught:
        _complete(CompletionRequest(model="random-edits", messages=[Message(role="user", content="hi")]))
    assert caught.value.reason == "error" and not caught.value.retryable
    assert "initial program" in str(caught.value)


def test_a_program_without_markers_is_a_recorded_failure():
    with pytest.raises(ProviderError) as caught:
        _complete(CompletionRequest(model="random-edits", messages=[], context=_context(code="x = 1\n")))
    assert "EVOLVE-BLOCK" in str(caught.value)


def test_nothing_to_change_is_said_plainly():
    code = "# EVOLVE-BLOCK-START\nprint(name)\n# EVOLVE-BLOCK-END\n"
    answer = propose_edit(_context(code=code), random.Random(0))
    assert "nothing to change" in answer


def test_random_search_with_offline_edits_improves_a_score():
    """Hill climbing on the offline provider's edits gets closer to a target: an honest baseline."""
    program = "# EVOLVE-BLOCK-START\ndef guess():\n    a = 1.5\n    b = 10\n    return a * b + 1\n# EVOLVE-BLOCK-END\n"

    def score(code: str) -> float:
        namespace: dict = {}
        try:
            exec(compile(code, "candidate", "exec"), namespace)  # noqa: S102 - our own toy program
            return -abs(namespace["guess"]() - 42.0)
        except Exception:
            return float("-inf")

    best, best_score = program, score(program)
    start = best_score
    for seed in range(80):
        answer = propose_edit(_context(code=best, kind="diff"), random.Random(seed))
        candidate = apply_response(best, answer, "#", "diff")
        if score(candidate) > best_score:
            best, best_score = candidate, score(candidate)
    assert best_score > start
