"""A user's first minutes: a fresh virtualenv with nothing but pip.

`pip install ./genesis_core` alone gives a working `genesis` with its built-ins;
`pip install ./genesis_lang_rust` adds the Rust language; the plugin template
ships inside the genesis-core wheel. No workspace tool is involved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENESIS_", "VIRTUAL_ENV", "PYTHONPATH"))}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, **kwargs)


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    # The base interpreter, not this test session's virtualenv.
    base = getattr(sys, "_base_executable", sys.executable)
    created = run([base, "-m", "venv", str(venv)])
    assert created.returncode == 0, created.stderr
    return venv


def test_core_alone_then_a_language(fresh_venv, tmp_path):
    pip = [str(fresh_venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    genesis = str(fresh_venv / "bin" / "genesis")

    installed = run([*pip, str(REPO / "genesis_core")])
    assert installed.returncode == 0, installed.stderr[-3000:]
    listed = run([genesis, "plugins", "list", "--json", "--all"])
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert list(rows) == ["genesis-core"]
    core = rows["genesis-core"]
    assert core["status"] == "ok", core["error"]
    assert "python" in core["provides"]["languages"]
    assert "local" in core["provides"]["backends"]
    assert {"openai", "anthropic", "offline"} <= set(core["provides"]["llm_providers"])
    assert "islands" in core["provides"]["strategies"]

    installed = run([*pip, str(REPO / "genesis_lang_rust")])
    assert installed.returncode == 0, installed.stderr[-3000:]
    rows = {row["name"]: row for row in json.loads(run([genesis, "plugins", "list", "--json"]).stdout)}
    assert rows["genesis-lang-rust"]["version"] == "0.1.0"
    assert rows["genesis-lang-rust"]["provides"]["languages"] == ["rust"]
    assert rows["genesis-lang-rust"]["status"] == "ok"

    # The template travels inside the genesis-core wheel.
    made = run([genesis, "plugins", "new", "genesis-lang-demo", "--kind", "language", "--dir", str(tmp_path)])
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "genesis-lang-demo" / "src" / "genesis_lang_demo" / "plugin.py").is_file()
