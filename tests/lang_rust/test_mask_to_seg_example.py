"""examples/mask_to_seg_rust: its geometry checks, its baseline through the worker, and `genesis run` on it."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from pathlib import Path

import pytest
from genesis_core.config import load_config
from genesis_core.job import Job
from genesis_core.testing.mock_llm import MockLLMServer

TASK = Path(__file__).resolve().parents[2] / "examples" / "mask_to_seg_rust"
sys.path.insert(0, str(TASK))
from mask_geometry import (  # noqa: E402
    FormatError,
    Mask,
    edge_case_masks,
    iou,
    parse_output,
    random_mask,
    rasterise,
)

# -- the checks the evaluator relies on ---------------------------------------------------


def square_ring(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def test_rings_with_a_hole_rasterise_to_the_mask():
    ring_mask = edge_case_masks()[4]  # a 5x5 frame with a centre pixel
    rings = [square_ring(0, 0, 5, 5), square_ring(1, 1, 4, 4), square_ring(2, 2, 3, 3)]
    assert iou(ring_mask, rasterise(rings, 5, 5)) == 1.0
    assert iou(ring_mask, rasterise(rings[:2], 5, 5)) == pytest.approx(16 / 17)  # the centre pixel is missing


def test_a_shifted_outline_is_caught():
    mask = Mask(4, 4, [0b0110, 0b0110, 0, 0])
    assert iou(mask, rasterise([square_ring(1, 0, 3, 2)], 4, 4)) == 1.0
    assert iou(mask, rasterise([square_ring(2, 0, 4, 2)], 4, 4)) == pytest.approx(2 / 6)


def test_generated_masks_are_deterministic_per_seed():
    assert random_mask(5, 64, 32).rows == random_mask(5, 64, 32).rows
    assert random_mask(5, 64, 32).rows != random_mask(6, 64, 32).rows


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("mask 0 1\n3 0 0 1 0\n", "n pairs"),
        ("mask 1 0\n", "expected `mask 0 R`"),
        ("mask 0 1\n1 9 9\n", "outside"),
        ("mask 0 0\nmask 1 0\n", "unexpected line"),
        ("", "ends before mask 0"),
    ],
)
def test_malformed_output_is_explained(output, message):
    with pytest.raises(FormatError, match=re.escape(message)):
        parse_output(output, [Mask(2, 2, [0, 0])])


# -- the baseline through the worker -----------------------------------------------------


def example_job(shared: Path, program: str | None = None) -> Job:
    config = load_config(TASK)
    files = {name: (TASK / name).read_text() for name in config.task.files}
    files[config.task.initial_program] = program or (TASK / config.task.initial_program).read_text()
    settings = (config.language.model_extra or {}).get("rust", {})
    return Job(
        id="mask-to-seg", language="rust", language_settings=settings, files=files, main_file=config.task.initial_program,
        task_dir=str(TASK), limits=config.limits, shared_build_dir=str(shared),
    )


@pytest.mark.slow
def test_the_baseline_is_correct_and_scored_by_its_speed(debian_registry, shared_build_dir):
    from genesis_core.worker import run_job

    result = run_job(example_job(shared_build_dir))
    assert result.ok, f"{result.failure}: {result.error}"
    assert result.correct
    assert result.score == pytest.approx(result.metrics["megapixels_per_s"])
    assert result.score == pytest.approx(4 * 2048 * 2048 / 1e6 / result.metrics["best_s"])
    assert "outlined exactly" in result.feedback
    assert result.metrics["crates_compiled"] >= 1  # cargo's build metrics come along


@pytest.mark.slow
def test_a_wrong_tracer_is_incorrect(debian_registry, shared_build_dir):
    from genesis_core.job import FailureReason
    from genesis_core.worker import run_job

    # Drops the outline of every single-pixel region.
    program = (TASK / "src/main.rs").read_text().replace(
        "rings.push(drop_collinear(ring));", "let ring = drop_collinear(ring);\n            if ring.len() > 4 { rings.push(ring); }"
    )
    assert "ring.len() > 4" in program
    result = run_job(example_job(shared_build_dir, program))
    assert result.failure == FailureReason.INCORRECT
    assert "Wrong outlines" in result.error and "IoU" in result.error


# -- genesis run ---------------------------------------------------------------------------------


def programs(results: Path) -> list[dict]:
    with sqlite3.connect(results / "genesis.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT seq, status, score, correct, failure, error, metrics FROM programs ORDER BY seq")]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_genesis_run_records_real_scores(genesis_cli, tmp_path, debian_registry):
    results = tmp_path / "results"
    run = genesis_cli(["run", str(TASK), "--results", str(results), "-s", "run.max_evaluations=3", "--quiet"], timeout=850)
    assert run.returncode == 0, run
    evaluated = [p for p in programs(results) if p["status"] == "done" and p["failure"] is None]
    assert evaluated, programs(results)
    for program in evaluated:
        metrics = json.loads(program["metrics"])
        assert program["score"] == pytest.approx(metrics["megapixels_per_s"]) and program["score"] > 0
        assert program["correct"]


BROKEN_LINE = "let mut kept: Vec<u8> = Vec::new();"


def current_program(prompt: str) -> str:
    fence = re.search(r"```[a-z]*\n(.*?)\n```", prompt.split("## Current program", 1)[-1], re.S)
    return fence.group(1) if fence else ""


def mask_diff(body: dict) -> str:
    """The first answer breaks the build; later ones change the capacity of one vector."""
    prompt = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
    line = re.search(r"^( *)let mut kept = (.*);$", current_program(prompt), re.M)
    if line is None:
        return "I have no change to propose."
    indent, old = line.group(1), line.group(2)
    if mask_diff.calls == 0:
        new = BROKEN_LINE
    else:
        new = f"let mut kept = Vec::with_capacity({mask_diff.calls});"
    mask_diff.calls += 1
    return f"Try this.\n\n<<<<<<< SEARCH\n{indent}let mut kept = {old};\n=======\n{indent}{new}\n>>>>>>> REPLACE\n"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_compile_error_fails_the_candidate_and_reaches_the_next_prompt(genesis_cli, tmp_path, debian_registry):
    mask_diff.calls = 0
    results = tmp_path / "results"
    with MockLLMServer(responder=mask_diff) as server:
        settings = [
            'llm.models=["mock:m"]', f'llm.endpoints.mock.base_url="{server.openai_base_url}"', "run.max_evaluations=5",
            "run.max_proposals_in_flight=1", "run.max_evaluations_in_flight=1", "patch.diff=1", "patch.rewrite=0", "patch.crossover=0",
            "novelty.enabled=false", "prompts.meta_every=0",
        ]
        run = genesis_cli(["run", str(TASK), "--results", str(results), "--quiet", *[a for s in settings for a in ("-s", s)]], timeout=850)
        prompts = [r.body["messages"][-1]["content"] for r in server.requests if r.body]
    assert run.returncode == 0, run
    failed = [p for p in programs(results) if p["failure"] == "build_error"]
    assert len(failed) == 1, programs(results)
    assert "error[E0308]: mismatched types" in failed[0]["error"]
    assert "src/main.rs:" in failed[0]["error"]
    # Proposals run one at a time; the engine shows a child's failure once it is settled (a lag of
    # proposals plus evaluations in flight), so the fourth proposal's prompt carries it.
    later = [p for p in prompts if "error[E0308]: mismatched types" in p and "expected `u8`, found `(u32, u32)`" in p]
    assert later, "no later prompt showed the compiler error"
