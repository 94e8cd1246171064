"""A small task and a scripted LLM for the engine's tests.

The task: `solve()` returns a number `x`; the score is `-(x - 7) ** 2`
(best 0 at x = 7). The offline provider improves it by perturbing the
literals; the scripted LLM (`scripted_answer`, served by the loopback mock
server) answers like a model would: a SEARCH/REPLACE diff that moves `x`
part of the way towards 7, a whole program when asked for a first one, a short summary
when asked for meta-recommendations.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from genesis_core.config import load_config
from genesis_core.engine import Engine, RunStats
from genesis_core.results import ResultsFolder

INITIAL = '''\
"""A tiny task for the engine's tests."""

# EVOLVE-BLOCK-START
def solve():
    x = 1.0
    y = 0.5
    return x + y * 0.0
# EVOLVE-BLOCK-END
'''

EVALUATOR = '''\
import hashlib
import os
import random
import time

from genesis_core.evaluation import Candidate, EvaluationResult

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "evaluated.log")
JITTER_S = float({jitter!r})


def evaluate(candidate: Candidate) -> EvaluationResult:
    if JITTER_S:
        time.sleep(random.SystemRandom().random() * JITTER_S)  # timings that differ from run to run
    code = open(candidate.artifact_path).read()
    digest = hashlib.sha256("\\n".join(l.rstrip() for l in code.splitlines() if l.strip()).encode()).hexdigest()
    with open(LOG, "a") as handle:  # every evaluation that starts, before the candidate runs (it may crash)
        handle.write(digest + "\\n")
    x = float(candidate.call("solve", timeout=20))
    return EvaluationResult(score=-(x - 7.0) ** 2, metrics={{"x": x}}, feedback=f"solve() returned {{x}}")
'''


def write_task(folder: Path, *, toml: str = "", initial: str | None = INITIAL, jitter_s: float = 0.0, evaluator: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if initial is not None:
        (folder / "initial.py").write_text(initial)
    (folder / "evaluate.py").write_text(evaluator if evaluator is not None else EVALUATOR.format(jitter=jitter_s))
    header = '[task]\ndescription = "Make solve() return 7."\n'
    if initial is None:
        header += 'initial_program = ""\n'
    (folder / "genesis.toml").write_text(header + toml)
    return folder


def mock_model_settings(server, *, key_env: str | None = None) -> list[str]:
    """`-s` overrides that route the model `mock:m` to the loopback server."""
    settings = [
        'llm.models=["mock:m"]',
        f'llm.endpoints.mock.base_url="{server.openai_base_url}"',
        'llm.endpoints.mock.provider="openai"',
        "llm.retry_backoff_s=0.01",
    ]
    if key_env:
        settings.append(f'llm.endpoints.mock.api_key_env="{key_env}"')
    return settings


FENCE = re.compile(r"```[a-z]*\n(.*?)\n```", re.S)
X_LINE = re.compile(r"^(\s*)x = (-?[0-9.]+)$", re.M)
META_ANSWER = "- Moving x towards 7 in steps of one helped.\n- Try larger steps."


def scripted_answer(body: dict) -> str:
    """What the scripted model answers to a Genesis prompt (an OpenAI chat request body)."""
    messages = body.get("messages") or []
    user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    if "say which ideas improved the score" in user:
        return META_ANSWER
    if "Write a first complete" in user:
        return "Here is a first program.\n\n```python\n" + INITIAL + "```\n"
    if "could not be applied" in user:  # a retry: answer correctly this time
        user = next(m["content"] for m in messages if m.get("role") == "user")
        return _step(user, body.get("seed") or 0, bad=False)
    return _step(user, body.get("seed") or 0, bad="BAD-FIRST" in body.get("model", "") and len(messages) == 2)


def parent_code(prompt: str) -> str:
    """The current program shown in a proposal prompt."""
    parent = FENCE.search(prompt.split("## Current program", 1)[-1])
    return parent.group(1) if parent else INITIAL


def set_variable(prompt: str, name: str, new_value, *, search_value: str | None = None) -> str:
    """A diff answer setting `name = new_value(old)` in the parent shown in `prompt`."""
    match = re.search(rf"^(\s*){name} = (-?[0-9.]+)$", parent_code(prompt), re.M)
    indent, old = match.group(1), match.group(2)
    search = f"{indent}{name} = {search_value if search_value is not None else old}"
    return (f"Change {name}.\n\n<<<<<<< SEARCH\n{search}\n=======\n{indent}{name} = {new_value(float(old))}\n"
            f">>>>>>> REPLACE\n")


def _step(prompt: str, seed: int, *, bad: bool) -> str:
    """x moves part of the way to 7; how far depends on the request's seed, so answers differ."""
    fraction = 0.3 + 0.4 * ((seed % 997) / 997)
    return set_variable(prompt, "x", lambda x: round(x + (7.0 - x) * fraction, 9), search_value="12345.0" if bad else None)


def last_user(body: dict) -> str:
    return next((m["content"] for m in reversed(body.get("messages") or []) if m.get("role") == "user"), "")


def assert_consistent(db, run_id: str) -> None:
    """The exactly-once invariant: no unfinished program, each evaluated once, the rest settled without evaluation."""
    from genesis_core.engine import NOT_EVALUATED

    rows = list(db.iter_programs(run_id, with_code=False))
    assert rows, "the run holds no program"
    seqs = [r.seq for r in rows]
    assert len(seqs) == len(set(seqs))
    evaluations = db.evaluation_rows(run_id)
    per_program: dict[int, int] = {}
    for e in evaluations:
        per_program[e["program_id"]] = per_program.get(e["program_id"], 0) + 1
    ids = {r.id for r in rows}
    assert set(per_program) <= ids, "an evaluation without its program"
    for r in rows:
        assert r.status == "done", f"program {r.id} was left unfinished"
        if r.failure in NOT_EVALUATED:
            assert r.id not in per_program, f"program {r.id} ({r.failure}) has an evaluation"
        else:
            assert per_program.get(r.id) == 1, f"program {r.id} has {per_program.get(r.id, 0)} evaluations"


def run_engine(task: Path, results: Path, overrides: list[str] | tuple[str, ...] = (), *, llm=None, listeners=None) -> RunStats:
    """Run the engine in this process, as `genesis run` does."""
    config = load_config(task, list(overrides))
    engine = Engine(task, config, ResultsFolder(results), llm=llm, listeners=listeners)
    return asyncio.run(engine.run())


def genesis(*args: str) -> list[str]:
    """argv of the real `genesis` command run by this interpreter."""
    return [sys.executable, "-m", "genesis_core", *args]
