"""The UI's JSON over a run with a known genealogy, through the real Starlette app (no browser)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from genesis_webui.app import create_app
from genesis_webui.catalog import RunCatalog
from starlette.testclient import TestClient
from webui_runs import PROGRAMS, write_run


@pytest.fixture
def client(synthetic_run):
    catalog = RunCatalog([synthetic_run.folder.parent])
    with TestClient(create_app(catalog, poll_interval=0.05)) as test_client:
        yield test_client
    catalog.close()


def only_key(client) -> str:
    runs = client.get("/api/runs").json()["runs"]
    assert len(runs) == 1
    return runs[0]["key"]


def test_runs_list_finds_the_run_below_the_folder(client, synthetic_run):
    runs = client.get("/api/runs").json()["runs"]
    assert [(r["run_id"], r["task"], r["status"]) for r in runs] == [("synthetic", "toy", "finished")]
    run = runs[0]
    assert run["folder"] == str(synthetic_run.folder.resolve())
    assert run["programs"] == len(PROGRAMS)
    assert run["evaluations"] == sum(p.evaluated for p in PROGRAMS)
    best = max((p for p in PROGRAMS if p.failure is None), key=lambda p: p.score)
    assert run["best"] == {"id": synthetic_run.ids[best.key], "score": best.score, "seq": PROGRAMS.index(best)}


def test_run_page_data_matches_the_database(client, synthetic_run):
    data = client.get(f"/api/runs/{only_key(client)}").json()
    ids = synthetic_run.ids
    # the tree: every finished program with its parent, island and validity
    tree = {n["id"]: n for n in data["tree"]}
    assert set(tree) == set(ids.values())
    for prog in PROGRAMS:
        node = tree[ids[prog.key]]
        assert node["parent"] == (ids[prog.parent] if prog.parent else None)
        assert node["island"] == prog.island
        assert node["valid"] == (prog.failure is None)
        assert node["second_parent"] == (ids[prog.second_parent] if prog.second_parent else None)
    # one point per evaluation; the best so far never gets worse
    progress = data["progress"]
    evaluated = [p for p in PROGRAMS if p.evaluated]
    assert [p["program_id"] for p in progress] == [ids[p.key] for p in evaluated]
    bests = [p["best"] for p in progress]
    assert bests == sorted(bests)
    assert bests[-1] == max(p.score for p in evaluated if p.failure is None)
    costs = [p["cost_usd"] for p in progress]
    assert costs == sorted(costs) and costs[-1] > 0
    # failures by reason, model usage, the selector's preferences and the MAP-Elites archive
    assert {f["reason"]: f["count"] for f in data["failures"]["programs"]} == {"build_error": 1, "patch_error": 1}
    usage = {u["model"]: u for u in data["models"]["usage"]}
    assert usage["offline:b"]["calls"] == sum(1 for p in PROGRAMS if p.model == "offline:b")
    selector = data["models"]["selector"]
    assert selector["kind"] == "ucb1"
    prefs = {m["model"]: m["preference"] for m in selector["models"]}
    assert prefs["offline:a"] > prefs["offline:b"]  # 3 of 4 improved against 1 of 3, at the same cost
    assert sum(prefs.values()) == pytest.approx(1.0)
    assert data["grid"]["features"] == ["length", "speed"]
    assert data["grid"]["cells"][0]["program_id"] == ids["root"]


def test_program_view_has_the_diff_against_its_parent_and_the_llm_call(client, synthetic_run):
    key = only_key(client)
    pid = synthetic_run.ids["x"]
    prog = client.get(f"/api/runs/{key}/programs/{pid}").json()
    assert prog["parent_id"] == synthetic_run.ids["a1"]
    assert prog["code"] == synthetic_run.codes["x"]
    assert "-    return x  # a1" in prog["diff"] and "+    return x  # x" in prog["diff"]
    assert '<span class="d-add">' in prog["diff_html"]
    assert '<span class="k">def</span>' in prog["code_html"]  # highlighted as Python
    [call] = prog["llm_calls"]
    assert call["model"] == "offline:a"
    assert "no segmentation fault" in call["reasoning"]
    assert call["prompt"][1] == {"role": "user", "content": "Improve program a1."}
    failed = client.get(f"/api/runs/{key}/programs/{synthetic_run.ids['a2']}").json()
    assert failed["failure"] == "build_error"
    assert failed["artifacts"]["build_log"] == "main.c:3: error: expected ';'"


def test_code_is_escaped_not_markup(tmp_path):
    run = write_run(tmp_path / "r")
    from genesis_core.database import Database

    with Database(run.database_url) as db:
        db.set_code(run.ids["a"], "x = '<script>alert(1)</script>'\n", "h")
    catalog = RunCatalog([run.folder])
    with TestClient(create_app(catalog)) as client:
        key = only_key(client)
        prog = client.get(f"/api/runs/{key}/programs/{run.ids['a']}").json()
    catalog.close()
    assert "<script>" not in prog["code_html"] and "&lt;script&gt;" in prog["code_html"]
    assert "<script>" not in prog["diff_html"]


def test_stream_pushes_the_current_state_then_new_programs(client, synthetic_run):
    key = only_key(client)
    with client.stream("GET", f"/api/runs/{key}/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        event = next(line for line in lines if line.startswith("event:"))
        data = json.loads(next(lines).removeprefix("data: "))
    assert event == "event: update"
    assert len(data["new_programs"]) == len(PROGRAMS)
    assert data["summary"]["programs"] == len(PROGRAMS)


def test_only_reads_and_only_known_runs(client, synthetic_run):
    key = only_key(client)
    for path in ("/api/runs", f"/api/runs/{key}", f"/api/runs/{key}/programs/1"):
        assert client.post(path).status_code == 405
        assert client.delete(path).status_code == 405
    assert client.get("/api/runs/nope").status_code == 404
    assert client.get(f"/api/runs/{key}/programs/999999").status_code == 404
    assert client.get("/static/../catalog.py").status_code == 404
    assert client.get("/static/%2e%2e/catalog.py").status_code == 404
    page = client.get("/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text  # no CDN


def test_a_shared_database_shows_only_the_folders_own_run(tmp_path):
    """Two results folders whose run.json point at one database: each shows its own run, once."""
    first = write_run(tmp_path / "one" / "a", run_id="first")
    from genesis_core.results import ResultsFolder

    other = tmp_path / "one" / "b"
    other.mkdir(parents=True)
    ResultsFolder(other).write_run_json({"schema_version": 1, "run_id": "first", "database_url": first.database_url})
    catalog = RunCatalog([tmp_path / "one"])
    refs = catalog.refresh()
    catalog.close()
    assert [r.run_id for r in refs] == ["first"]


def test_compare_two_runs(tmp_path):
    write_run(tmp_path / "results" / "one", run_id="one")
    write_run(tmp_path / "results" / "two", run_id="two", status="running")
    catalog = RunCatalog([tmp_path / "results"])
    with TestClient(create_app(catalog)) as client:
        keys = [r["key"] for r in client.get("/api/runs").json()["runs"]]
        data = client.get("/api/compare", params={"runs": ",".join(keys)}).json()
    catalog.close()
    assert sorted(r["summary"]["run_id"] for r in data["runs"]) == ["one", "two"]
    for r in data["runs"]:
        assert len(r["progress"]) == r["summary"]["evaluations"]


def test_missing_folder_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "genesis_core", "ui", str(tmp_path / "nope"), "--port", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_ui_binds_to_loopback_by_default(ui_server, synthetic_run):
    server = ui_server(synthetic_run.folder)
    assert server.url.startswith("http://127.0.0.1:")


def test_ui_and_logs_are_commands_of_their_plugins():
    result = subprocess.run([sys.executable, "-m", "genesis_core", "plugins", "list", "--json"],
                            capture_output=True, text=True, timeout=60)
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["genesis-webui"]["provides"]["commands"] == ["ui"]
    assert rows["genesis-logs-clickhouse"]["provides"]["commands"] == ["logs"]


def test_help_is_quick_to_import():
    """The plugin module registers the command without importing starlette or uvicorn."""
    code = "import sys, genesis_webui.plugin; print(any(m.split('.')[0] in ('starlette', 'uvicorn') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_results_dir_default_is_results(tmp_path):
    write_run(tmp_path / "results" / "toy")
    proc = subprocess.Popen([sys.executable, "-m", "genesis_core", "ui", "--port", "0"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = next(line for line in proc.stdout if "Genesis UI:" in line)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert "(1 run(s) found" in line


