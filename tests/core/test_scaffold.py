"""`genesis plugins new` round trip: new -> pip install -e -> listed -> its tests pass.

Each scaffold installs into its own throw-away virtualenv that sees this
session's packages through a .pth file, so the shared environment stays clean.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

KINDS = {
    "language": ("genesis-lang-shelly", "languages", "shelly"),
    "backend": ("genesis-backend-spawn", "backends", "spawn"),
    "llm": ("genesis-llm-acme", "llm_providers", "acme"),
    "strategy": ("genesis-strategy-tourney", "strategies", "tourney"),
}


def _run(cmd, **kwargs):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENESIS_", "PYTHONPATH"))}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, **kwargs)


@pytest.fixture
def scratch_venv(tmp_path):
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    assert _run([base, "-m", "venv", "--without-pip", str(venv)]).returncode == 0
    purelib = next((venv / "lib").glob("python3*/site-packages"))
    # `import` lines of a .pth run at start-up; addsitedir also reads the .pth files
    # there (the editable installs of this session).
    lines = [f"import site; site.addsitedir({path!r})" for path in site.getsitepackages()]
    (purelib / "genesis_session.pth").write_text("\n".join(lines) + "\n")
    return venv


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_scaffold_round_trip(kind, scratch_venv, tmp_path, genesis_cli):
    dist, provides_key, name = KINDS[kind]
    made = genesis_cli(["plugins", "new", dist, "--kind", kind, "--dir", str(tmp_path)])
    assert made.returncode == 0, made
    folder = tmp_path / dist
    python = str(scratch_venv / "bin" / "python")

    installed = _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(folder)])
    assert installed.returncode == 0, installed.stderr[-3000:]

    listed = _run([python, "-m", "genesis_core", "plugins", "list", "--json"])
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows[dist]["status"] == "ok", rows[dist]["error"]
    assert rows[dist]["provides"] == {provides_key: [name]}

    tested = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "tests")], cwd=folder)
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-2000:]
    assert " passed" in tested.stdout


def test_scaffold_refuses_to_overwrite_and_bad_names(genesis_cli, tmp_path):
    assert genesis_cli(["plugins", "new", "genesis-x", "--kind", "strategy", "--dir", str(tmp_path)]).returncode == 0
    again = genesis_cli(["plugins", "new", "genesis-x", "--kind", "strategy", "--dir", str(tmp_path)])
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = genesis_cli(["plugins", "new", "not a name!", "--kind", "strategy", "--dir", str(tmp_path)])
    assert bad.returncode == 2 and "not a valid distribution name" in bad.stderr
