"""The benchmark suite runs: `python -m bench --quick` prints every row and writes it to results.json.

Benchmarks are not tests: nothing here checks a timing. What is checked is
what a user running the documented command sees: exit status 0, a table with
every measure, and a results file where every row has a number and a status.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEBIAN_REGISTRY = Path("/usr/share/cargo/registry")
QUICK_POPULATIONS = (100, 300)

pytestmark = pytest.mark.slow


def run_bench(args: list[str], output: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENESIS_")}
    return subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )


def check_rows(proc: subprocess.CompletedProcess, output: Path, expected: list[str]) -> dict:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
    data = json.loads(output.read_text())
    assert data["mode"] == "quick"
    assert data["machine"]["cores"] >= 1
    rows = {row["key"]: row for row in data["rows"]}
    assert sorted(rows) == sorted(expected)
    for key in expected:
        row = rows[key]
        assert isinstance(row["value"], (int, float)) and row["value"] >= 0, row
        assert row["measure"] in proc.stdout, f"the printed table lacks '{row['measure']}'"
        if row["target"] is None:
            assert row["met"] is None and row["status"] == "-"
        else:
            assert row["met"] in (True, False)
            assert row["status"] == "met" if row["met"] else row["status"].startswith("MISSED by"), row
    return rows


def test_engine_evaluation_and_pipeline_rows(tmp_path):
    output = tmp_path / "results.json"
    proc = run_bench(["--only", "overhead", "--only", "evaluation", "--only", "pipeline"], output)
    expected = [
        f"overhead.{measure}.{population}"
        for population in QUICK_POPULATIONS
        for measure in ("median_ms", "p99_ms", "cpu_ms", "llm_ms", "resume_s")
    ]
    expected += [
        "llm.genesis_llm_client_cpu_ms", "llm.genesis_llm_client_sdk_cpu_ms", "llm.openai_sdk_create_cpu_ms", "llm.bare_http_cpu_ms",
        "overhead.growth", "overhead.cpu_growth", "memory.peak_mb",
        "evaluation.warm_ms", "evaluation.cold_ms", "evaluation.fresh_ms",
        "pipeline.utilisation", "pipeline.achieved_per_s", "pipeline.ideal_per_s",
    ]
    rows = check_rows(proc, output, expected)
    # Every measured candidate went the whole way: the mock LLM's edits apply and pass the checks.
    for population in QUICK_POPULATIONS:
        outcomes = rows[f"overhead.median_ms.{population}"]["details"]["outcomes"]
        assert outcomes.get("evaluated", 0) >= 25, outcomes
        assert not set(outcomes) - {"evaluated", "not_novel"}, outcomes
    assert rows["pipeline.ideal_per_s"]["value"] == pytest.approx(20.0)
    assert rows["pipeline.utilisation"]["details"]["llm_requests_in_flight_max"] <= 4
    assert rows["evaluation.warm_ms"]["details"]["evaluations"] == 5

    # The same table, as docs/performance.md shows it, from the results file.
    shown = subprocess.run([sys.executable, "-m", "bench.report", str(output)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "with `python -m bench --quick`" in shown.stdout
    for row in rows.values():
        assert row["measure"] in shown.stdout and row["status"] in shown.stdout


def test_compile_reuse_rows(tmp_path):
    missing = [exe for exe in ("cargo", "rustc") if shutil.which(exe) is None]
    if missing or not DEBIAN_REGISTRY.is_dir():
        pytest.skip(
            f"the Rust benchmark needs rustc and cargo on PATH and Debian's crates in {DEBIAN_REGISTRY} "
            f"(apt-get install librust-rayon-dev); missing: {', '.join(missing) or DEBIAN_REGISTRY}"
        )
    output = tmp_path / "results.json"
    proc = run_bench(["--only", "compile"], output)
    rows = check_rows(proc, output, ["compile.cold_s", "compile.rebuild_s", "compile.ratio"])
    assert rows["compile.ratio"]["value"] == pytest.approx(rows["compile.rebuild_s"]["value"] / rows["compile.cold_s"]["value"])


def test_unknown_benchmark_is_refused(tmp_path):
    output = tmp_path / "results.json"
    proc = run_bench(["--only", "nonsense"], output)
    assert proc.returncode == 2
    assert "invalid choice: 'nonsense'" in proc.stderr
    assert not output.exists()


def test_parts_prints_every_part_of_a_candidate_with_its_cpu():
    proc = subprocess.run([sys.executable, "-m", "bench.parts", "5"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    parts = {line.split("  ")[0].strip(): float(line.split(" ms")[0].split()[-1]) for line in lines}
    for name in ("LLM call", "syntax check", "novelty", "database: pending row", "database: LLM call", "database: result", "events"):
        assert any(part.startswith(name) for part in parts), (name, lines)
    assert all(ms > 0 for ms in parts.values()), lines
    assert parts["sum"] == pytest.approx(sum(ms for part, ms in parts.items() if part != "sum"), abs=0.01)
