"""Fixtures of the core tests: a database URL for SQLite and for a real PostgreSQL server.

The PostgreSQL server is started once per test session by
`scripts/services/postgres.sh start` (idempotent; Debian's `postgresql`
package, as root), listens on 127.0.0.1 only, and every test gets a fresh
database of its own, dropped afterwards.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
POSTGRES_SCRIPT = REPO / "scripts" / "services" / "postgres.sh"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the test server (started here when it is not running)."""
    started = subprocess.run([str(POSTGRES_SCRIPT), "start"], capture_output=True, text=True, timeout=180)
    if started.returncode != 0:
        pytest.fail(
            f"Could not start the PostgreSQL test server with {POSTGRES_SCRIPT} start (install Debian's `postgresql` "
            f"package and run the tests as root):\n{started.stderr[-3000:]}"
        )
    url = subprocess.run([str(POSTGRES_SCRIPT), "url"], capture_output=True, text=True, check=True).stdout.strip()
    return url


def _admin(url: str, statement: str) -> None:
    import psycopg

    base = url.replace("postgresql+psycopg://", "postgresql://")
    admin = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture
def fresh_postgres_url(postgres_server: str):
    """A new, empty PostgreSQL database for one test."""
    name = f"genesis_test_{uuid.uuid4().hex[:12]}"
    _admin(postgres_server, f'CREATE DATABASE "{name}"')
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    _admin(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """The same test against SQLite in a temporary folder and against a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'genesis.db'}"
    return request.getfixturevalue("fresh_postgres_url")
