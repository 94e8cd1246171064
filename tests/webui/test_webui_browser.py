"""The UI in a real browser (Debian's Chromium through Playwright) over real runs of `genesis run`
(of the task `genesis init --language python` writes, with the offline provider).

A finished run: the plot and the tree render with one point per evaluation
and one node per program, and clicking a program shows its diff. A live run:
new programs appear in the open page without reloading it. Plus the
comparison page and the strategy panels over a run with a known shape.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from genesis_core.results import open_results
from webui_runs import PROGRAMS, REPO, wait_until, write_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OFFLINE = ["-s", "llm.models=['offline:random-edits']"]


@pytest.fixture(scope="session")
def task(tmp_path_factory) -> Path:
    """The Python task `genesis init` writes: small, quick to evaluate, part of genesis-core."""
    folder = tmp_path_factory.mktemp("task") / "toy_task"
    done = subprocess.run([sys.executable, "-m", "genesis_core", "init", str(folder), "--language", "python"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def genesis_run_command(task: Path, results: Path, evaluations: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "genesis_core", "run", str(task), "--results", str(results), "--quiet",
            "-s", f"run.max_evaluations={evaluations}", *OFFLINE, *extra]


def offline_env() -> dict[str, str]:
    """No key of a real provider leaks into the test runs."""
    env = dict(os.environ)
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY"):
        env.pop(var, None)
    return env


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory, task) -> Path:
    """A finished run with the offline provider."""
    results = tmp_path_factory.mktemp("finished") / "toy_task"
    done = subprocess.run(genesis_run_command(task, results, 14), capture_output=True, text=True, timeout=600, cwd=REPO, env=offline_env())
    assert done.returncode == 0, done.stdout + done.stderr
    return results


def done_programs(folder: Path) -> tuple[int, list, list]:
    """(finished programs, evaluation rows, finished program records) of the run in `folder`, from its database."""
    opened = open_results(folder)
    try:
        totals = opened.db.totals(opened.run_id)
        records = [p for p in opened.db.iter_programs(opened.run_id) if p.status == "done"]
        return totals.programs - totals.pending, opened.db.evaluation_rows(opened.run_id), records
    finally:
        opened.db.close()


def open_run_page(page, server) -> None:
    page.goto(server.url + "/")
    page.locator("#runs a.run-link").first.click()
    page.wait_for_selector("#tree circle.node")


def test_finished_run_shows_plot_tree_and_a_programs_diff(page, ui_server, finished_run):
    programs, evaluations, records = done_programs(finished_run)
    assert programs > 1 and evaluations
    server = ui_server(finished_run.parent)
    open_run_page(page, server)
    assert page.locator("#tree circle.node").count() == programs
    assert page.locator("#tree-count").inner_text() == f"{programs} programs"
    assert page.locator("#plot-best").get_attribute("data-evaluations") == str(len(evaluations))
    assert page.locator("#plot-best circle.dot").count() == sum(e["score"] is not None for e in evaluations)
    assert page.locator("#plot-best path.line.best").count() == 1
    assert page.locator("#stat-evaluations").inner_text() == str(len(evaluations))
    by_id = {p.id: p for p in records}
    changed = next(p for p in records if p.parent_id in by_id and p.code and p.code != by_id[p.parent_id].code)
    added = next(line for line in changed.code.splitlines() if line.strip() and line not in by_id[changed.parent_id].code.splitlines())
    page.locator(f'#tree circle.node[data-id="{changed.id}"]').click()
    page.wait_for_selector("#diff .d-add")
    assert page.locator("#program h2").inner_text().startswith(f"Program #{changed.id}")
    assert f"Diff against parent #{changed.parent_id}" in page.locator("#program").inner_text()
    assert any(added.strip() in text for text in page.locator("#diff .d-add").all_inner_texts())
    assert page.locator("#code span").count() > 0  # highlighted, not plain text
    assert page.locator(f'#tree circle.node.selected[data-id="{changed.id}"]').count() == 1


def test_a_live_run_grows_in_the_open_page(page, ui_server, tmp_path, task):
    results = tmp_path / "live" / "toy_task"
    run = subprocess.Popen(genesis_run_command(task, results, 100_000, "-s", "run.max_evaluations_in_flight=1"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO, env=offline_env())
    try:
        def started() -> bool:
            assert run.poll() is None, run.communicate()[1]
            try:
                return done_programs(results)[0] >= 1
            except Exception:  # the folder and database appear as the run starts
                return False

        wait_until(started, timeout=120, what="the run's first program")
        server = ui_server(results.parent)
        open_run_page(page, server)
        page.wait_for_selector("#live:not([hidden])")
        before = page.locator("#tree circle.node").count()
        page.evaluate("window.__notReloaded = true")
        page.wait_for_function("n => document.querySelectorAll('#tree circle.node').length > n", arg=before, timeout=120_000)
        assert page.evaluate("window.__notReloaded") is True
        after = int(page.locator("#stat-programs").inner_text().replace(",", ""))
        assert after > before
    finally:
        run.send_signal(signal.SIGINT)
        try:
            run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()


def test_compare_page_shows_runs_side_by_side(page, ui_server, tmp_path):
    one = write_run(tmp_path / "results" / "one", run_id="one")
    two = write_run(tmp_path / "results" / "two", run_id="two")
    server = ui_server(tmp_path / "results")
    page.goto(server.url + "/")
    page.wait_for_selector("#runs tbody tr")
    boxes = page.locator("#runs tbody input[type=checkbox]")
    assert boxes.count() == 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.locator("#compare-btn").click()
    page.wait_for_selector("#plot-compare path.line.run")
    assert page.locator("#plot-compare path.line.run").count() == 2
    rows = page.locator("#compare-table tbody tr")
    assert rows.count() == 2
    best = max(p.score for p in PROGRAMS if p.failure is None)
    assert page.locator("#compare-table td.best").all_inner_texts() == [str(best), str(best)]
    assert {one.run_id, two.run_id} == set(page.locator("#compare-table tbody tr td:nth-child(2)").all_inner_texts())


def test_strategy_panels_and_failures(page, ui_server, synthetic_run):
    server = ui_server(synthetic_run.folder)
    open_run_page(page, server)
    assert page.locator("#tree circle.node").count() == len(PROGRAMS)
    assert page.locator("#tree circle.node.failed").count() == sum(p.failure is not None for p in PROGRAMS)
    islands = {p.island for p in PROGRAMS}
    strokes = {page.locator(f'#tree circle.node[data-island="{i}"]').first.get_attribute("stroke") for i in islands}
    assert len(strokes) == len(islands)  # each island its own colour
    assert page.locator("#tree path.edge.cross").count() == 1  # the crossover's second parent
    assert page.locator("#grid rect.cell").count() == 1
    assert page.locator("#preferences tbody tr").count() == 2
    assert page.locator("#failures tr[data-reason=build_error]").count() == 1
    page.locator(f'#tree circle.node[data-id="{synthetic_run.ids["a2"]}"]').click()
    page.wait_for_selector("#program #error")
    assert "expected ';'" in page.locator("#program").inner_text()
    page.locator("#program summary", has_text="Reasoning").click()
    assert "no segmentation fault" in page.locator("#program pre.reasoning").inner_text()
