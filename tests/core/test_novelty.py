"""Novelty: the offline shingle embedding, similarity rejection per island, the LLM judge."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys

import pytest
from genesis_core.config import PromptsSection, TaskSection
from genesis_core.errors import GenesisError
from genesis_core.language import BuildResult, Language
from genesis_core.llm import Message
from genesis_core.novelty import NoveltyFilter, cosine, parse_judgement, shingle_embedding
from genesis_core.prompts import PromptBuilder

PROGRAM = """import math
# EVOLVE-BLOCK-START
def solve(xs):
    best = None
    for i, x in enumerate(xs):
        score = math.sqrt(abs(x)) * (i + 1)
        if best is None or score > best:
            best = score
    return best
# EVOLVE-BLOCK-END
def main():
    print(solve([1, 2, 3]))
"""


def mutate(code: str, rng: random.Random, edits: int) -> str:
    lines = code.split("\n")
    for _ in range(edits):
        j = rng.randrange(2, 9)
        lines[j] = f"    value_{rng.randrange(10**6)} = helper_{rng.randrange(10**6)}(xs, {rng.randrange(10**6)})"
    return "\n".join(lines)


def test_embedding_is_unit_and_ignores_layout():
    a = shingle_embedding("x = compute(a, b)\nreturn x")
    b = shingle_embedding("x  =  compute( a,b )\n\n\n    return x   ")
    assert len(a) == 256 and abs(cosine(a, a) - 1.0) < 1e-9
    assert list(a) == list(b)
    assert cosine(a, shingle_embedding("for item in range(10): total += item")) < 0.3
    assert list(shingle_embedding("")) == [0.0] * 256
    assert len(shingle_embedding("a b c", dims=64)) == 64


def test_embedding_is_the_same_in_every_process():
    snippet = "from genesis_core.novelty import shingle_embedding as e; print(list(e('def f(x): return x * 2 + y')))"
    outputs = {
        subprocess.run([sys.executable, "-c", snippet], env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_similarity_falls_with_the_size_of_the_change():
    rng = random.Random(1)
    base = shingle_embedding(PROGRAM)
    small, large = shingle_embedding(mutate(PROGRAM, rng, 1)), shingle_embedding(mutate(PROGRAM, rng, 6))
    assert 1.0 > cosine(base, small) > cosine(base, large)


def test_filter_rejects_near_copies_on_the_same_island_only():
    novelty = NoveltyFilter(0.95, comment="#")
    novelty.add(1, island=0, code=PROGRAM, score=1.0)
    reformatted = PROGRAM.replace("    best = None", "    best  =  None   ").replace("def main():", "def main():  # outside the block")
    same = novelty.check(reformatted, island=0)
    assert not same.novel and same.nearest_id == 1 and same.similarity > 0.999
    assert novelty.check(reformatted, island=1).novel  # nothing on island 1 yet
    assert novelty.check(reformatted, island=1).nearest_id is None
    different = novelty.check(mutate(PROGRAM, random.Random(3), 6), island=0)
    assert different.novel and different.nearest_id == 1 and different.similarity < 0.95


def test_only_the_evolve_blocks_count_when_a_comment_syntax_is_given():
    novelty = NoveltyFilter(0.99, comment="#")
    novelty.add(1, 0, PROGRAM)
    outside_changed = PROGRAM.replace("print(solve([1, 2, 3]))", "print('completely different text here', 42, [x for x in 'abc'])")
    assert not novelty.check(outside_changed, 0).novel
    whole_code = NoveltyFilter(0.99)
    whole_code.add(1, 0, PROGRAM)
    assert whole_code.check(outside_changed, 0).novel


def test_nearest_is_the_most_similar_of_the_island():
    rng = random.Random(7)
    novelty = NoveltyFilter(0.98, per_island_limit=80, elite_limit=10)
    programs = [mutate(PROGRAM, rng, rng.randrange(1, 6)) for _ in range(120)]
    for pid, code in enumerate(programs[:100]):
        novelty.add(pid, 0, code, score=rng.random())
    pool = novelty._pool(0)
    assert len(pool) <= 90  # the recent window and the elites, nothing more
    for code in programs[100:]:
        verdict = novelty.check(code, 0)
        vector = shingle_embedding(code)
        similarities = {entry.program_id: cosine(vector, entry.vector) for entry in pool}
        nearest = max(similarities, key=similarities.get)
        assert verdict.nearest_id == nearest
        assert verdict.similarity == pytest.approx(similarities[nearest])


def test_bounded_memory_keeps_recent_and_elites():
    novelty = NoveltyFilter(0.9, per_island_limit=5, elite_limit=2)
    for pid in range(50):
        novelty.add(pid, 0, f"x = {pid} * {pid} + {pid}", score=float(pid % 10 == 0) * pid)
    ids = {entry.program_id for entry in novelty._pool(0)}
    assert ids == {45, 46, 47, 48, 49, 30, 40}
    # An old elite is still found.
    assert novelty.check("x = 40 * 40 + 40", 0).nearest_id == 40


def test_provider_vectors_and_their_errors():
    novelty = NoveltyFilter(0.9)
    novelty.add(1, 0, vector=[3.0, 4.0, 0.0])
    close = novelty.check("ignored", 0, vector=[0.6, 0.8, 0.01])
    assert not close.novel and close.nearest_id == 1
    assert novelty.check("ignored", 0, vector=[0.0, 0.0, 1.0]).novel
    with pytest.raises(GenesisError, match="one embedding"):
        novelty.check("x = 1", 0)  # 256 shingle dimensions against 3
    with pytest.raises(GenesisError, match=r"threshold must be in \(0, 1\]"):
        NoveltyFilter(1.5)
    with pytest.raises(ValueError):
        novelty.add(2, 0)


class Toy(Language):
    name = "toy"
    extensions = (".toy",)
    comment = "#"

    def build(self, ctx):
        return BuildResult(ok=True)

    def run_command(self, artifact, args=()):
        return [artifact]


def test_llm_judge_gets_both_programs_and_decides():
    builder = PromptBuilder(TaskSection(name="t"), Toy(), PromptsSection())
    messages = builder.novelty_judge("y = sorted(xs)", "y = list(xs); y.sort()")
    assert "y = sorted(xs)" in messages[1].content and "y.sort()" in messages[1].content
    assert "NOVEL or DUPLICATE" in messages[1].content
    seen: list[list[Message]] = []

    async def ask(question: list[Message]) -> str:
        seen.append(question)
        return "DUPLICATE\nBoth sort the list; only the call differs."

    verdict = asyncio.run(NoveltyFilter(0.9).judge(messages, ask))
    assert seen == [messages]
    assert not verdict.novel and verdict.reason == "Both sort the list; only the call differs"


def test_judge_answers_are_parsed_leniently():
    assert parse_judgement("novel: uses a heap instead of sorting").novel
    assert parse_judgement("**NOVEL** - different algorithm.").reason == "different algorithm"
    assert not parse_judgement("Verdict: duplicate.").novel
    unclear = parse_judgement("I am not sure.")
    assert unclear.novel and "no clear verdict" in unclear.reason


def test_the_offline_providers_edits_of_the_demo_pass_the_default_threshold():
    """One edit of a few tokens is a new idea, not a near-duplicate: the demo must not waste its proposals."""
    from pathlib import Path

    from genesis_core.config import NoveltySection
    from genesis_core.llm import ProposalContext
    from genesis_core.patches import PatchError, apply_response
    from genesis_core.providers.offline import propose_edit

    code = (Path(__file__).resolve().parents[2] / "examples" / "circle_packing" / "initial.py").read_text()
    novelty = NoveltyFilter(NoveltySection().threshold, comment="#")
    novelty.add(1, 0, code)
    rng = random.Random(4)
    verdicts = []
    for _ in range(100):
        context = ProposalContext(parent_code=code, inspirations=[], comment="#", language="python", patch_kind="diff")
        try:
            child = apply_response(code, propose_edit(context, rng), "#", "diff")
        except PatchError:
            continue
        if child != code:
            verdicts.append(novelty.check(child, 0).novel)
    assert len(verdicts) >= 80
    assert sum(verdicts) / len(verdicts) >= 0.95
