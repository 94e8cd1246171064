"""The run-related commands as a user meets them: init, run, status, show, export, compare, and bad inputs."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from evolution_helpers import INITIAL, mock_model_settings, write_task
from genesis_core.database import SCHEMA_VERSION, Database, meta_table


def assert_clean_error(result, *needles: str) -> None:
    """Exit code 2, one paragraph on standard error, no traceback."""
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("Error: "), result.stderr
    for needle in needles:
        assert needle in message, message


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A task written by `genesis init`, run to its end with the offline provider."""
    import os
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESIS_")}

    def cli(*args: str):
        return subprocess.run([sys.executable, "-m", "genesis_core", *args], capture_output=True, text=True, cwd=root, env=env, timeout=600)

    init = cli("init", "demo", "--language", "python")
    assert init.returncode == 0, init.stderr
    run = cli("run", "demo", "-s", "run.max_evaluations=20", "-s", "run.seed=2")
    assert run.returncode == 0, run.stderr
    return root, run


def test_init_then_run_improves_the_template_task(finished_run):
    root, run = finished_run
    assert sorted(p.name for p in (root / "demo").iterdir()) == ["evaluate.py", "genesis.toml", "initial.py"]
    results = root / "results" / "demo"
    assert "Run 'demo' stopped (max_evaluations): 20 evaluations" in run.stdout
    assert f"Best program: {results / 'best.py'}" in run.stdout
    assert "using the offline provider" in run.stderr  # it says so when no model and no key are set
    with Database(f"sqlite:///{results / 'genesis.db'}", create=False) as db:
        first = next(db.iter_programs("demo"))
        best = db.best_program("demo")
    assert best.score > first.score


def test_status_reports_progress_best_cost_and_throughput(finished_run, genesis_cli):
    root, _ = finished_run
    result = genesis_cli(["status", str(root / "results" / "demo")])
    assert result.returncode == 0, result
    assert "Run 'demo' of task demo: finished (max_evaluations)" in result.stdout
    assert "evaluations: 20 of 20" in result.stdout
    assert re.search(r"best score: [-0-9.]+ \(program \d+, generation \d+\)", result.stdout)
    assert "cost: $0.0000" in result.stdout and "evaluations/s" in result.stdout
    info = json.loads(genesis_cli(["status", str(root / "results" / "demo"), "--json"]).stdout)
    assert info["evaluations"] == 20 and info["status"] == "finished" and info["best"]["score"] is not None


def test_show_best_and_a_program_with_its_diff(finished_run, genesis_cli):
    root, _ = finished_run
    results = root / "results" / "demo"
    best = genesis_cli(["show", str(results), "--best"])
    assert best.returncode == 0, best
    assert best.stdout.startswith("Best program ")
    assert "Code:" in best.stdout and "EVOLVE-BLOCK-START" in best.stdout
    shown = json.loads(genesis_cli(["show", str(results), "--best", "--json"]).stdout)
    assert shown["code"] == (results / "best.py").read_text()
    if shown["parent_id"] is not None:
        assert f"Diff against parent {shown['parent_id']}" in best.stdout
        assert "\n-" in shown["diff"] and "\n+" in shown["diff"]
    first = genesis_cli(["show", str(results), "--program", "1"])
    assert "Program 1 of run 'demo'" in first.stdout and "initial by (task file), no parent" in first.stdout
    missing = genesis_cli(["show", str(results), "--program", "999999"])
    assert_clean_error(missing, "has no program 999999")


def test_export_csv_and_json(finished_run, genesis_cli):
    root, _ = finished_run
    results = root / "results" / "demo"
    as_csv = genesis_cli(["export", str(results), "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) >= 20 and rows[0]["seq"] == "0" and "code" in rows[0]
    assert sum(1 for r in rows if r["failure"] in ("", "incorrect", "crash", "timeout")) >= 1
    out = root / "programs.json"
    as_json = genesis_cli(["export", str(results), "--format", "json", "--no-code", "-o", str(out)])
    assert as_json.returncode == 0 and f"Wrote {len(rows)} programs" in as_json.stderr
    data = json.loads(out.read_text())
    assert data["run"]["id"] == "demo" and len(data["programs"]) == len(rows) and "code" not in data["programs"][0]


def test_compare_three_strategies_writes_a_table_and_a_plot(tmp_path, genesis_cli):
    task = write_task(tmp_path / "task", toml=(
        "[run]\nmax_evaluations = 8\n"
        "[strategy.map-elites]\nfeatures = [\"x\"]\nranges = { x = [0.0, 14.0] }\n"
    ))
    result = genesis_cli(["compare", str(task), "--strategies", "islands,map-elites,funsearch", "--seeds", "2", "--results",
                          str(tmp_path / "cmp"), "-s", "run.max_proposals_in_flight=2"], timeout=900)
    assert result.returncode == 0, result
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    for strategy in ("islands", "map-elites", "funsearch"):
        assert re.search(rf"^\| {strategy} \| -?[0-9.e-]+ ± [0-9.e-]+ \|", table, re.M), table
    svg = (tmp_path / "cmp" / "comparison.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<path ") == 3 and "map-elites" in svg
    data = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert data["seeds"] == [0, 1] and data["budget"] == 8
    for row in data["strategies"]:
        assert len(row["per_seed_best"]) == 2 and row["evaluations_mean"] == 8
    # All six runs share one database, each sees only its own programs.
    with Database(f"sqlite:///{tmp_path / 'cmp' / 'compare.db'}", create=False) as db:
        runs = sorted(r.id for r in db.list_runs())
        assert runs == sorted(f"{s}-seed{k}" for s in ("islands", "map-elites", "funsearch") for k in (0, 1))
        assert all(db.totals(r).evaluations == 8 for r in runs)
    status = genesis_cli(["status", str(tmp_path / "cmp" / "funsearch-seed1")])
    assert "Run 'funsearch-seed1'" in status.stdout and "strategy funsearch" in status.stdout


# -- bad inputs: exit code 2, one paragraph, no traceback ------------------------------------


def test_a_task_without_markers(tmp_path, genesis_cli):
    task = write_task(tmp_path / "t", toml="", initial="def solve():\n    return 1.0\n")
    assert_clean_error(genesis_cli(["run", str(task), "--results", str(tmp_path / "r")]), "has no EVOLVE-BLOCK region")


def test_markers_that_do_not_pair(tmp_path, genesis_cli):
    task = write_task(tmp_path / "t", toml="", initial=INITIAL.replace("# EVOLVE-BLOCK-END\n", ""))
    assert_clean_error(genesis_cli(["run", str(task), "--results", str(tmp_path / "r")]), "is never closed", "line 3")


def test_an_evaluator_that_does_not_exist(tmp_path, genesis_cli):
    task = write_task(tmp_path / "t", toml='evaluator = "score.py"\n')
    assert_clean_error(genesis_cli(["run", str(task), "--results", str(tmp_path / "r")]), "score.py does not exist")


def test_an_evaluator_that_raises(tmp_path, genesis_cli):
    evaluator = "def evaluate(candidate):\n    raise ValueError('the reference data is missing')\n"
    task = write_task(tmp_path / "t", toml="", evaluator=evaluator)
    result = genesis_cli(["run", str(task), "--results", str(tmp_path / "r")])
    assert_clean_error(result, "could not be scored", "ValueError", "the reference data is missing")


def test_a_missing_initial_program(tmp_path, genesis_cli):
    task = write_task(tmp_path / "t", toml='initial_program = "start.py"\n')
    assert_clean_error(genesis_cli(["run", str(task), "--results", str(tmp_path / "r")]), "start.py does not exist")


def test_a_results_folder_from_an_incompatible_version(tmp_path, genesis_cli):
    task = write_task(tmp_path / "t", toml="[run]\nmax_evaluations = 2\n")
    results = tmp_path / "r"
    results.mkdir()
    (results / "run.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "genesis_version": "9.0.0", "run_id": "t"}))
    result = genesis_cli(["run", str(task), "--results", str(results)])
    assert_clean_error(result, "written by Genesis 9.0.0", "--results")
    assert sorted(p.name for p in results.iterdir()) == ["run.json"]  # nothing touched
    assert_clean_error(genesis_cli(["status", str(results)]), "written by Genesis 9.0.0")


def test_a_database_from_an_incompatible_version(tmp_path, genesis_cli):
    task = write_task(tmp_path / "t", toml="[run]\nmax_evaluations = 2\n")
    results = tmp_path / "r"
    assert genesis_cli(["run", str(task), "--results", str(results)]).returncode == 0
    with Database(f"sqlite:///{results / 'genesis.db'}") as db, db.engine.begin() as conn:
        conn.execute(meta_table.update().values(value="0"))
    assert_clean_error(genesis_cli(["run", str(task), "--results", str(results)]), "schema version 0")


def test_a_different_experiment_in_the_same_results_folder(tmp_path, genesis_cli):
    task = write_task(tmp_path / "t", toml="[run]\nmax_evaluations = 2\n")
    results = tmp_path / "r"
    assert genesis_cli(["run", str(task), "--results", str(results)]).returncode == 0
    changed = genesis_cli(["run", str(task), "--results", str(results), "-s", "run.seed=9"])
    assert_clean_error(changed, "different settings for run.seed", "--results NEW_DIR")


def test_status_of_a_folder_that_holds_no_run(tmp_path, genesis_cli):
    assert_clean_error(genesis_cli(["status", str(tmp_path)]), "not a Genesis results folder")
    assert_clean_error(genesis_cli(["status", str(tmp_path / "nothing")]), "No results folder")


def test_compare_with_an_unknown_strategy(tmp_path, genesis_cli):
    task = write_task(tmp_path / "t", toml="")
    result = genesis_cli(["compare", str(task), "--strategies", "islands,nope", "--results", str(tmp_path / "c")])
    assert_clean_error(result, "No strategy named 'nope'")
    assert not (tmp_path / "c" / "islands-seed0").exists()  # nothing ran


def test_run_of_a_folder_that_does_not_exist(tmp_path, genesis_cli):
    assert_clean_error(genesis_cli(["run", str(tmp_path / "absent")]), "No task folder", "genesis init")


def test_an_llm_that_refuses_every_call(tmp_path, genesis_cli):
    """A wrong key: the run stops after a few failed calls, says why, and can be continued once fixed."""
    from genesis_core.testing.mock_llm import Fault, MockLLMServer

    task = write_task(tmp_path / "t", toml="[run]\nmax_evaluations = 5\n")
    with MockLLMServer(responder=lambda body: Fault.AUTH) as server:
        settings = [f"-s{s}" for s in mock_model_settings(server)]
        result = genesis_cli(["run", str(task), "--results", str(tmp_path / "r"), *settings, "-s", "llm.max_attempts=1"])
    assert_clean_error(result, "every recent LLM call failed", "auth")
    assert "stopped (llm_failing)" in result.stdout
