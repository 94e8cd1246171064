"""The web application: one HTML page, its static assets, and read-only JSON over the runs.

Every route answers GET only; nothing writes to a run. Live pages keep one
server-sent-events stream open per run: the server looks for a change every
`poll_interval` seconds (a database written by another process sends no
notification) and pushes the new programs and the refreshed summary when
there is one.
"""

from __future__ import annotations

import asyncio
import json
import math
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from genesis_webui import views
from genesis_webui.catalog import RunCatalog, RunRef
from genesis_webui.highlight import stylesheet

# Only this origin's own files: the page never loads anything from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
KEEPALIVE_S = 15.0
# A program stamped `finished_at` just before another may commit just after it: updates
# look this far back (the page drops programs it already has).
LATE_COMMIT_S = 5.0
MAX_COMPARED = 12


class SecurityHeaders:
    """ASGI middleware: every response says it loads nothing from elsewhere."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend((k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items())
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def _not_found(what: str) -> JSONResponse:
    return _json({"error": f"{what} not found"}, 404)


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)


def run_page(catalog: RunCatalog, ref: RunRef) -> dict[str, Any] | None:
    """Everything the run page shows at first load."""
    with catalog.reading(ref) as db:
        run = db.get_run(ref.run_id)
        if run is None:
            return None
        return {
            "summary": views.run_summary(db, ref, run),
            "progress": views.progress(db, run),
            "tree": views.tree(db, run.id),
            "failures": views.failures(db, run.id),
            "models": views.models(db, run),
            "grid": views.map_elites_grid(run),
        }


def run_update(catalog: RunCatalog, ref: RunRef, since: float | None) -> dict[str, Any] | None:
    """What changed on a live page: the programs finished at or after `since`, and everything cheap again."""
    with catalog.reading(ref) as db:
        run = db.get_run(ref.run_id)
        if run is None:
            return None
        return {
            "summary": views.run_summary(db, ref, run),
            "progress": views.progress(db, run),
            "new_programs": views.tree(db, run.id, since=None if since is None else since - LATE_COMMIT_S),
            "failures": views.failures(db, run.id),
            "models": views.models(db, run),
            "grid": views.map_elites_grid(run),
        }


def program_page(catalog: RunCatalog, ref: RunRef, program_id: int) -> dict[str, Any] | None:
    with catalog.reading(ref) as db:
        run = db.get_run(ref.run_id)
        return views.program(db, run, program_id) if run else None


def runs_list(catalog: RunCatalog) -> dict[str, Any]:
    rows = []
    comparisons = catalog.comparisons()
    for ref in catalog.refresh():
        with catalog.reading(ref) as db:
            run = db.get_run(ref.run_id)
            if run is not None:
                rows.append(views.run_summary(db, ref, run))
    rows.sort(key=lambda r: r["created_at"], reverse=True)
    return {"runs": rows, "comparisons": comparisons, "problems": catalog.problems}


def comparison(catalog: RunCatalog, keys: list[str]) -> dict[str, Any]:
    """Several runs side by side: their summaries and best-score curves."""
    out = []
    for key in keys:
        ref = catalog.get(key)
        if ref is None:
            continue
        with catalog.reading(ref) as db:
            run = db.get_run(ref.run_id)
            if run is None:
                continue
            points = views.progress(db, run)
            out.append({
                "summary": views.run_summary(db, ref, run),
                "progress": [{"n": p["n"], "best": p["best"], "cost_usd": p["cost_usd"]} for p in points],
            })
    return {"runs": out}


def create_app(catalog: RunCatalog, *, poll_interval: float = 1.0) -> Starlette:
    """The Starlette application over `catalog`'s runs."""
    page = resources.files("genesis_webui").joinpath("static", "index.html").read_text(encoding="utf-8")

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def highlight_css(request: Request) -> Response:
        return Response(stylesheet(), media_type="text/css")

    async def api_runs(request: Request) -> Response:
        return _json(await run_in_threadpool(runs_list, catalog))

    async def api_run(request: Request) -> Response:
        ref = await run_in_threadpool(catalog.get, request.path_params["key"])
        data = await run_in_threadpool(run_page, catalog, ref) if ref else None
        return _json(data) if data else _not_found("run")

    async def api_program(request: Request) -> Response:
        ref = await run_in_threadpool(catalog.get, request.path_params["key"])
        if ref is None:
            return _not_found("run")
        data = await run_in_threadpool(program_page, catalog, ref, request.path_params["program_id"])
        return _json(data) if data else _not_found("program")

    async def api_compare(request: Request) -> Response:
        keys = [k for k in request.query_params.get("runs", "").split(",") if k][:MAX_COMPARED]
        return _json(await run_in_threadpool(comparison, catalog, keys))

    async def api_stream(request: Request) -> Response:
        ref = await run_in_threadpool(catalog.get, request.path_params["key"])
        if ref is None:
            return _not_found("run")
        try:
            since: float | None = float(request.query_params.get("since", ""))
            if not math.isfinite(since):
                since = None
        except ValueError:
            since = None

        def marker() -> tuple:
            with catalog.reading(ref) as db:
                return views.change_marker(db, ref.run_id)

        async def events():
            nonlocal since
            last = None
            quiet = 0.0
            while not await request.is_disconnected():
                now = await run_in_threadpool(marker)
                if now != last:
                    last = now
                    update = await run_in_threadpool(run_update, catalog, ref, since)
                    if update is not None:
                        finished = [n["finished_at"] for n in update["new_programs"] if n["finished_at"] is not None]
                        if finished:
                            since = max(finished)
                        yield f"event: update\ndata: {_dumps(update)}\n\n"
                        quiet = 0.0
                elif quiet >= KEEPALIVE_S:
                    yield ": keep-alive\n\n"
                    quiet = 0.0
                await asyncio.sleep(poll_interval)
                quiet += poll_interval

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    static = resources.files("genesis_webui").joinpath("static")
    routes = [
        Route("/", index),
        Route("/runs/{key}", index),
        Route("/compare", index),
        Route("/highlight.css", highlight_css),
        Route("/api/runs", api_runs),
        Route("/api/runs/{key}", api_run),
        Route("/api/runs/{key}/programs/{program_id:int}", api_program),
        Route("/api/runs/{key}/stream", api_stream),
        Route("/api/compare", api_compare),
        Mount("/static", StaticFiles(directory=str(static)), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
