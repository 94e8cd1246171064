"""`genesis ui`: serve the web UI over some results folders.

Starlette and uvicorn are imported when the command runs, not when the CLI
starts.
"""

from __future__ import annotations

import socket
from pathlib import Path

import click
from genesis_core.errors import GenesisError


@click.command()
@click.argument("results_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The UI has no login: bind to other addresses only on networks you trust.")
@click.option("--database-url", default=None, help="SQLAlchemy URL of the runs' database, when run.json hides its password.")
@click.option("--poll", "poll_interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between looks for changes while a page watches a live run.")
def ui(results_dirs: tuple[Path, ...], port: int, host: str, database_url: str | None, poll_interval: float) -> None:
    """Watch runs live and look back at them in a browser.

    RESULTS_DIRS are results folders or folders of them (default: results).
    The UI only reads: it shows the runs in these folders and changes nothing.
    """
    import uvicorn

    from genesis_webui.app import create_app
    from genesis_webui.catalog import RunCatalog

    catalog = RunCatalog(list(results_dirs or (Path("results"),)), database_url=database_url)
    runs = catalog.refresh()
    app = create_app(catalog, poll_interval=poll_interval)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    sock = _listen(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    click.echo(f"Genesis UI: http://{shown}:{bound_port}/  ({len(runs)} run(s) found; Ctrl-C stops)")
    for folder, problem in catalog.problems.items():
        click.echo(f"  skipped {folder}: {problem}", err=True)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        catalog.close()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, so that the URL printed is the one served (also for --port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise GenesisError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Choose another --port (0 picks a free one) "
            f"or another --host."
        ) from None
    sock.listen(128)
    return sock
