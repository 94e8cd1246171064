"""Fixtures of the E2B backend tests: the local E2B stand-in, started once per session.

The stand-in (envd_standin.py) runs as its own process on an ephemeral
loopback port and serves both envd (the agent inside a sandbox) and the
control-plane calls that create and kill sandboxes. The real `e2b` SDK
talks to it: in debug mode through `sandbox_url`, otherwise through
`api_url` and `sandbox_url` with the API key below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).parent
# A made-up key the stand-in checks (X-API-Key); tests assert it never shows in output.
API_KEY = "e2b_genesis_test_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
TEMPLATES = ("genesis-python", "genesis-rust", "genesis-cpp", "genesis-go", "genesis-full")


@dataclass
class StandIn:
    url: str
    root: Path
    process: subprocess.Popen
    log: Path

    def sandboxes(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url}/_standin/sandboxes", timeout=10) as response:
            return json.loads(response.read())

    def debug_settings(self, **settings) -> dict:
        """Backend settings for E2B's debug mode against this agent."""
        return {"debug": True, "sandbox_url": self.url, "python": sys.executable, **settings}

    def cloud_settings(self, **settings) -> dict:
        """Backend settings that create and kill sandboxes through the control plane."""
        return {"api_url": self.url, "sandbox_url": self.url, "python": sys.executable, **settings}


def start_standin(root: Path, log: Path) -> StandIn:
    pytest.importorskip("uvicorn", reason="the E2B stand-in is served by uvicorn: pip install -e './genesis_backend_e2b[test]'")
    env = {**os.environ, "E2B_STANDIN_API_KEY": API_KEY}
    out = log.open("w")
    process = subprocess.Popen(
        [sys.executable, str(HERE / "envd_standin.py"), "--root", str(root), "--templates", ",".join(TEMPLATES)],
        stdout=subprocess.PIPE, stderr=out, text=True, env=env,
    )
    deadline = time.monotonic() + 30
    line = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("LISTENING") or process.poll() is not None:
            break
    if not line.startswith("LISTENING"):
        process.kill()
        raise RuntimeError(f"the E2B stand-in did not start: {log.read_text()[-2000:]}")
    return StandIn(f"http://127.0.0.1:{int(line.split()[1])}", root, process, log)


def stop_standin(standin: StandIn) -> None:
    standin.process.terminate()
    try:
        standin.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        standin.process.kill()
        standin.process.wait(timeout=10)


@pytest.fixture(scope="session")
def e2b_standin(tmp_path_factory) -> StandIn:
    """One stand-in for the whole session."""
    base = tmp_path_factory.mktemp("e2b-standin")
    standin = start_standin(base / "sandboxes", base / "standin.log")
    yield standin
    stop_standin(standin)


@pytest.fixture
def fresh_standin(tmp_path) -> StandIn:
    """A stand-in of the test's own, for tests that kill sandboxes."""
    standin = start_standin(tmp_path / "sandboxes", tmp_path / "standin.log")
    yield standin
    stop_standin(standin)


@pytest.fixture
def e2b_api_key(monkeypatch) -> str:
    monkeypatch.setenv("E2B_API_KEY", API_KEY)
    return API_KEY
