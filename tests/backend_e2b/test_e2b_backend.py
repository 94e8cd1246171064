"""The e2b backend with the real E2B SDK against the local stand-in (conftest.py).

Sandboxes are created and killed through the stand-in's control plane with
an API key, envd runs the worker of genesis-core, and the faults are real
for the SDK: a template that does not exist, a wrong key, a sandbox killed
mid-job, a job that outruns its time.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from genesis_backend_e2b.backend import E2BBackend
from genesis_core.job import FailureReason, Job, Limits

pytestmark = pytest.mark.timeout(180)

EVALUATOR = '''\
import json, os, signal, time
from pathlib import Path

def evaluate(candidate):
    value = candidate.call("solve", 21)
    return {"score": float(value), "feedback": json.dumps({"evaluator": __file__, "env": dict(os.environ)})}

def evaluate_stuck(candidate):
    # Block the worker's own deadline signal: only the backend's time limit can stop this.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(120)
    return {"score": 0.0}
'''

RUST_EVALUATOR = '''\
from genesis_core.evaluation import EvaluationResult, check_process

def evaluate(candidate):
    numbers = list(range(1, 1001))
    result = check_process(candidate.run([], input=" ".join(map(str, numbers)), timeout=30))
    expected = sum(n * n for n in numbers)
    got = int(result.stdout.strip())
    return EvaluationResult(score=float(got), correct=got == expected, feedback=f"sum of squares {got}")
'''

RUST_PROGRAM = '''\
use std::io::Read;

// EVOLVE-BLOCK-START
fn sum_of_squares(numbers: &[u64]) -> u64 {
    numbers.iter().map(|n| n * n).sum()
}
// EVOLVE-BLOCK-END

fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).unwrap();
    let numbers: Vec<u64> = input.split_whitespace().map(|w| w.parse().unwrap()).collect();
    println!("{}", sum_of_squares(&numbers));
}
'''


@pytest.fixture
def task(tmp_path: Path) -> Path:
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "evaluate.py").write_text(EVALUATOR)
    (folder / "data.txt").write_text("task data travels with the evaluator\n")
    return folder


def make_job(task: Path, name: str, body: str = "return n * 2", **fields) -> Job:
    limits = Limits(**fields.pop("limits", {}))
    return Job(id=name, language="python", files={"main.py": f"import time\n\ndef solve(n):\n    {body}\n"},
               main_file="main.py", task_dir=str(task), limits=limits, **fields)


def with_backend(settings: dict, body: Callable[[E2BBackend], Awaitable], run_dir: Path | None = None):
    async def main():
        backend = E2BBackend(settings, run_dir=run_dir)
        await backend.start()
        try:
            return await body(backend)
        finally:
            await backend.close()

    return asyncio.run(main())


def sandbox_of(result) -> str:
    return result.artifacts["e2b"].split()[1]


def test_sandboxes_are_reused_and_killed_at_close(e2b_standin, e2b_api_key, task, tmp_path):
    async def body(backend):
        results = []
        for k in range(3):
            results.append(await backend.run(make_job(task, f"r{k}", f"return n + {k}")))
        sandbox_dir = next(Path(s["root"]) for s in e2b_standin.sandboxes() if s["id"] == sandbox_of(results[0]))
        tasks_uploaded = sorted(p.name for p in sandbox_dir.glob("genesis/*/tasks/*"))
        return results, tasks_uploaded

    results, tasks_uploaded = with_backend(e2b_standin.cloud_settings(concurrency=1), body, run_dir=tmp_path)
    assert [r.score for r in results] == [21.0, 22.0, 23.0], [r.error for r in results]
    assert len({sandbox_of(r) for r in results}) == 1
    assert len(tasks_uploaded) == 1, tasks_uploaded  # the task went up once, for three jobs
    (state,) = [s for s in e2b_standin.sandboxes() if s["id"] == sandbox_of(results[0])]
    assert state["template"] == "genesis-python"
    assert state["alive"] is False and state["ended_by"] == "kill"
    assert state["timeout_s"] == 900


def test_the_task_folder_is_read_inside_the_sandbox(e2b_standin, e2b_api_key, task, tmp_path):
    result = with_backend(e2b_standin.cloud_settings(), lambda b: b.run(make_job(task, "where")), run_dir=tmp_path)
    assert result.ok, result.error
    evaluator = Path(json.loads(result.feedback)["evaluator"])
    assert evaluator.name == "evaluate.py"
    assert e2b_standin.root in evaluator.parents  # the uploaded copy, not the local task folder
    assert (evaluator.parent / "data.txt").name == "data.txt"


def test_jobs_per_sandbox_retires_sandboxes(e2b_standin, e2b_api_key, task):
    async def body(backend):
        return [await backend.run(make_job(task, f"j{k}")) for k in range(3)]

    results = with_backend(e2b_standin.cloud_settings(concurrency=1, jobs_per_sandbox=2), body)
    first, second, third = (sandbox_of(r) for r in results)
    assert first == second != third
    states = {s["id"]: s for s in e2b_standin.sandboxes()}
    assert states[first]["ended_by"] == "kill"


def test_the_api_key_never_appears_in_results_or_output(e2b_standin, e2b_api_key, task, genesis_cli):
    results = with_backend(e2b_standin.cloud_settings(), lambda b: b.run(make_job(task, "secret")))
    assert results.ok
    assert e2b_api_key not in results.model_dump_json()
    assert "E2B_API_KEY" not in json.loads(results.feedback)["env"]  # the sandbox never gets it
    # Only this plugin besides the built-ins: other plugins' state is not this test's business.
    doctor = genesis_cli(["doctor"], env={"E2B_API_KEY": e2b_api_key, "GENESIS_LOAD_PLUGINS": "genesis-backend-e2b"})
    assert "E2B_API_KEY: set" in doctor.stdout
    assert e2b_api_key not in doctor.stdout + doctor.stderr


def test_a_sandbox_that_cannot_be_created_is_a_failed_candidate_and_the_pool_recovers(e2b_standin, e2b_api_key, task, monkeypatch):
    async def body(backend):
        monkeypatch.setenv("E2B_API_KEY", "e2b_wrong_key_0000")
        refused = await backend.run(make_job(task, "refused"))
        monkeypatch.setenv("E2B_API_KEY", e2b_api_key)
        accepted = await backend.run(make_job(task, "accepted"))
        return refused, accepted

    refused, accepted = with_backend(e2b_standin.cloud_settings(concurrency=1), body)
    assert refused.failure is FailureReason.BACKEND_ERROR
    assert "could not create a sandbox" in refused.error
    assert "e2b_wrong_key_0000" not in refused.error
    assert accepted.ok, accepted.error


def test_an_unknown_template_is_a_failed_candidate_naming_it(e2b_standin, e2b_api_key, task):
    result = with_backend(e2b_standin.cloud_settings(template="genesis-cobol"), lambda b: b.run(make_job(task, "cobol")))
    assert result.failure is FailureReason.BACKEND_ERROR
    assert "genesis-cobol" in result.error and "not found" in result.error


def test_a_sandbox_killed_mid_job_is_lost_and_replaced(e2b_standin, e2b_api_key, task):
    from e2b import AsyncSandbox

    async def body(backend):
        started = time.time()
        handle = await backend.submit(make_job(task, "doomed", "time.sleep(60); return n"))
        while True:  # the sandbox this backend just created, once the job runs in it
            mine = [s for s in e2b_standin.sandboxes() if s["alive"] and s["created"] >= started - 1 and s["template"] == "genesis-python"]
            if mine and list(Path(mine[0]["root"]).glob("genesis/*/jobs/*/job.json")):
                break
            await asyncio.sleep(0.2)
        await AsyncSandbox.kill(mine[0]["id"], api_url=e2b_standin.url, api_key=e2b_api_key)
        lost = await backend.wait(handle)
        after = await backend.run(make_job(task, "survivor"))
        return mine[0]["id"], lost, after

    killed, lost, after = with_backend(e2b_standin.cloud_settings(concurrency=1), body)
    assert lost.failure is FailureReason.LOST, (lost.failure, lost.error)
    assert "died" in lost.error and killed in lost.error
    assert after.ok, after.error
    assert sandbox_of(after) != killed


def test_a_job_past_its_time_in_the_sandbox_is_a_timeout_and_the_sandbox_is_replaced(e2b_standin, e2b_api_key, task):
    async def body(backend):
        stuck = await backend.run(make_job(task, "stuck", evaluator_function="evaluate_stuck", limits={"wall_time_s": 2}))
        after = await backend.run(make_job(task, "next"))
        return stuck, after

    stuck, after = with_backend(e2b_standin.cloud_settings(concurrency=1, command_margin_s=3), body)
    assert stuck.failure is FailureReason.TIMEOUT, (stuck.failure, stuck.error)
    assert "ran past 5 s" in stuck.error
    assert after.ok and sandbox_of(after) != sandbox_of(stuck)
    states = {s["id"]: s for s in e2b_standin.sandboxes()}
    assert states[sandbox_of(stuck)]["ended_by"] == "kill"


def test_check_explains_a_missing_key(monkeypatch):
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    assert "E2B_API_KEY is not set" in E2BBackend().check()
    assert E2BBackend({"debug": True}).check() is None
    monkeypatch.setenv("E2B_API_KEY", "e2b_any")
    assert E2BBackend().check() is None


def test_a_rust_candidate_builds_with_the_genesis_rust_toolchain(e2b_standin, e2b_api_key, tmp_path):
    """The toolchain the genesis-rust template installs (rustc, stable) builds the candidate inside the sandbox."""
    if shutil.which("rustc") is None:
        pytest.skip("the Rust toolchain (rustc) is not installed on this machine")
    pytest.importorskip("genesis_lang_rust")
    task = tmp_path / "rust_task"
    task.mkdir()
    (task / "evaluate.py").write_text(RUST_EVALUATOR)
    job = Job(id="rusty", language="rust", files={"main.rs": RUST_PROGRAM}, main_file="main.rs", task_dir=str(task),
              limits=Limits(wall_time_s=120))
    result = with_backend(e2b_standin.cloud_settings(template="genesis-rust"), lambda b: b.run(job), run_dir=tmp_path)
    assert result.ok, f"{result.failure}: {result.error}"
    assert result.score == float(sum(n * n for n in range(1, 1001)))
    assert "template genesis-rust" in result.artifacts["e2b"]
    assert result.build_seconds > 0


def test_genesis_run_evaluates_in_sandboxes(e2b_standin, e2b_api_key, tmp_path, genesis_cli):
    example = Path(__file__).resolve().parents[2] / "examples" / "circle_packing"
    results = tmp_path / "results"
    settings = e2b_standin.cloud_settings()
    out = genesis_cli(
        ["run", str(example), "--backend", "e2b", "--results", str(results), "-s", "run.max_evaluations=3",
         *(arg for key in ("api_url", "sandbox_url", "python") for arg in ("-s", f'backend.e2b.{key}="{settings[key]}"'))],
        env={"E2B_API_KEY": e2b_api_key, "GENESIS_LOAD_PLUGINS": "genesis-backend-e2b"},
    )
    assert out.returncode == 0, out
    story = [json.loads(line) for line in (results / "events.jsonl").read_text().splitlines()]
    assert story[0]["backend"] == "e2b"
    finished = [e for e in story if e["kind"] == "evaluation_finished"]
    assert len(finished) == 3 and any(e["score"] for e in finished), finished
    assert e2b_api_key not in out.stdout + out.stderr + (results / "events.jsonl").read_text()
