"""Fixtures of the web UI tests: runs to show, the `genesis ui` server, and one Chromium per session.

The browser is Debian's Chromium (`apt-get install chromium`), driven by
Playwright's Python package with `executable_path`; nothing is downloaded or
installed at test time. Where that binary is missing the browser tests skip
and say so.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from webui_runs import REPO, SyntheticRun, write_run  # noqa: E402

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
URL_LINE = re.compile(r"Genesis UI: (http://\S+?)/?\s")


def find_chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


@pytest.fixture
def synthetic_run(tmp_path: Path) -> SyntheticRun:
    return write_run(tmp_path / "results" / "toy")


class UIServer:
    """`genesis ui` in a subprocess, on a free port of 127.0.0.1."""

    def __init__(self, *folders: Path, poll: float = 0.2, extra: tuple[str, ...] = ()) -> None:
        cmd = [sys.executable, "-m", "genesis_core", "ui", *map(str, folders), "--port", "0", "--poll", str(poll), *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
        self.output: list[str] = []
        self.url = self._wait_for_url()

    def _wait_for_url(self, timeout: float = 60.0) -> str:
        found: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                match = URL_LINE.search(line)
                if match and not found:
                    found.append(match.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        ready.wait(timeout)
        if not found:
            self.stop()
            raise AssertionError("genesis ui did not start:\n" + "".join(self.output))
        return found[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def ui_server() -> Iterator:
    """A factory: `ui_server(folder, ...)` starts a server; all are stopped after the test."""
    servers: list[UIServer] = []

    def start(*folders: Path, **kwargs) -> UIServer:
        server = UIServer(*folders, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def browser_context():
    """One headless Chromium for the whole session, with a fresh profile folder."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("Debian's Chromium is not installed (/usr/bin/chromium); install it with `apt-get install chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the Python package playwright is not installed (pip install playwright; no browser download is needed)")
    profile = tempfile.mkdtemp(prefix="genesis-chromium-")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=chromium, headless=True, args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser_context):
    """A new tab; page errors fail the test."""
    errors: list[str] = []
    tab = browser_context.new_page()
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    tab.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
