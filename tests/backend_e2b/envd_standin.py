"""A local stand-in for E2B: envd (the agent inside each sandbox) and the
small part of the control plane that creates and kills sandboxes.

The E2B backend's tests run the real `e2b` SDK against this server on
loopback, so they exercise the SDK's own wire protocol:

- envd's process service (`/process.Process/*`, Connect RPC), served by the
  ASGI application the `e2b` wheel itself ships
  (`e2b.envd.process.process_connect.ProcessASGIApplication`): commands run
  as the SDK sends them (`/bin/bash -l -c CMD`), output streams back with
  keepalives, the command's timeout is its request deadline;
- envd's files API as plain HTTP: `GET /files?path=`, and `POST /files`
  (multipart, one part named `file` per file, or application/octet-stream);
  `GET /health`;
- the control plane: `POST /v2/sandboxes` (checks the `X-API-Key`, refuses
  unknown templates with 404, kills the sandbox when its timeout passes),
  `DELETE /sandboxes/{id}`, `POST /sandboxes/{id}/timeout`.

The SDK in debug mode (`debug=True`) makes no control-plane call and talks
to envd as the sandbox `debug_sandbox_id`, which always exists here. Outside
debug mode the SDK is pointed here with `api_url` and `sandbox_url`, and envd
requests name their sandbox in the `E2b-Sandbox-Id` header. Each sandbox has
its own home folder under `--root`; a killed sandbox's running commands end
the way envd ends them (UNAVAILABLE) and its requests answer 502
"...was not found", as E2B's proxy does.

A login shell resets PATH from /etc/profile; each sandbox's `~/.bash_profile`
restores the agent's PATH (and rustup's RUSTUP_HOME and CARGO_HOME), as a
Genesis template's /etc/profile.d/genesis.sh does in a real sandbox.

Run: `python envd_standin.py --root DIR [--port 0] [--templates a,b]`; the
expected API key, if any, comes from the environment variable
E2B_STANDIN_API_KEY. It prints `LISTENING <port>` once it accepts
connections. `GET /_standin/sandboxes` lists every sandbox it made, for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.parser
import email.policy
import gzip
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import uvicorn
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from e2b.envd.process import process_connect, process_pb
from protobuf import Oneof

Event = process_pb.ProcessEvent
DEBUG_SANDBOX_ID = "debug_sandbox_id"
ENVD_VERSION = "0.6.4"


@dataclass
class Sandbox:
    id: str
    root: Path
    template: str
    access_token: str | None
    timeout_s: float | None
    created: float = field(default_factory=time.time)
    alive: bool = True
    ended_by: str | None = None  # 'kill' or 'timeout'
    procs: dict[int, asyncio.subprocess.Process] = field(default_factory=dict)
    configs: dict[int, process_pb.ProcessConfig] = field(default_factory=dict)
    streams: set[asyncio.Queue] = field(default_factory=set)
    timer: asyncio.TimerHandle | None = None

    def describe(self) -> dict:
        return {"id": self.id, "template": self.template, "alive": self.alive, "ended_by": self.ended_by,
                "timeout_s": self.timeout_s, "created": self.created, "root": str(self.root)}


class Cloud:
    """Every sandbox this stand-in made, and their lifecycles."""

    def __init__(self, base: Path, templates: set[str] | None, api_key: str | None) -> None:
        self.base = base
        self.templates = templates
        self.api_key = api_key
        self.sandboxes: dict[str, Sandbox] = {}

    def new(self, sandbox_id: str, template: str, timeout_s: float | None, token: str | None) -> Sandbox:
        root = self.base / sandbox_id
        root.mkdir(parents=True, exist_ok=True)
        (root / ".bash_profile").write_text(login_profile())
        sandbox = Sandbox(sandbox_id, root, template, token, timeout_s)
        self.sandboxes[sandbox_id] = sandbox
        self.set_timeout(sandbox, timeout_s)
        return sandbox

    def set_timeout(self, sandbox: Sandbox, timeout_s: float | None) -> None:
        if sandbox.timer is not None:
            sandbox.timer.cancel()
        sandbox.timeout_s = timeout_s
        if timeout_s:
            sandbox.timer = asyncio.get_running_loop().call_later(timeout_s, self.kill, sandbox, "timeout")

    def kill(self, sandbox: Sandbox, why: str) -> None:
        if not sandbox.alive:
            return
        sandbox.alive, sandbox.ended_by = False, why
        if sandbox.timer is not None:
            sandbox.timer.cancel()
        for queue in sandbox.streams:
            queue.put_nowait(("killed", None))
        kill_processes(sandbox)
        shutil.rmtree(sandbox.root, ignore_errors=True)

    def lookup(self, headers: dict[str, str]) -> Sandbox | None:
        """The live sandbox an envd request is for, or None when it is gone or the token is wrong."""
        sandbox_id = headers.get("e2b-sandbox-id", DEBUG_SANDBOX_ID)
        sandbox = self.sandboxes.get(sandbox_id)
        if sandbox is None and sandbox_id == DEBUG_SANDBOX_ID:
            sandbox = self.new(DEBUG_SANDBOX_ID, "debug", None, None)
        if sandbox is None or not sandbox.alive:
            return None
        return sandbox


def login_profile() -> str:
    """What a Genesis template's /etc/profile.d/genesis.sh does, for this machine's toolchains.

    A login shell resets PATH; the templates put the toolchains back
    (genesis-rust also sets RUSTUP_HOME and CARGO_HOME, which rustup needs
    once HOME is the sandbox user's).
    """
    lines = [f"export PATH={shlex.quote(os.environ.get('PATH', '/usr/bin:/bin'))}"]
    for variable, default in (("RUSTUP_HOME", Path.home() / ".rustup"), ("CARGO_HOME", Path.home() / ".cargo")):
        value = os.environ.get(variable) or (str(default) if default.is_dir() else "")
        if value:
            lines.append(f"export {variable}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"


def kill_processes(sandbox: Sandbox) -> None:
    for pid, proc in list(sandbox.procs.items()):
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def _not_found(headers: dict[str, str]) -> str:
    return f"The sandbox {headers.get('e2b-sandbox-id', DEBUG_SANDBOX_ID)} was not found"


def _event(kind: str, value) -> process_pb.StartResponse:
    return process_pb.StartResponse(event=Event(event=Oneof(kind, value)))


class ProcessService(process_connect.Process):
    """envd's `process.Process` service: start commands, stream their output, signal them."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def _sandbox(self, ctx) -> Sandbox:
        headers = {k.lower(): v for k, v in ctx.request_headers.items()}
        sandbox = self.cloud.lookup(headers)
        if sandbox is None:
            raise ConnectError(Code.UNAVAILABLE, _not_found(headers))
        if sandbox.access_token and headers.get("x-access-token") != sandbox.access_token:
            raise ConnectError(Code.UNAUTHENTICATED, "invalid access token")
        return sandbox

    async def start(self, request: process_pb.StartRequest, ctx):
        sandbox = self._sandbox(ctx)
        config = request.process
        cwd = config.cwd if config.has_field("cwd") and config.cwd else str(sandbox.root)
        if not os.path.isabs(cwd):
            cwd = str(sandbox.root / cwd)
        env = {"HOME": str(sandbox.root), "USER": "user", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        env.update(dict(config.envs))
        try:
            proc = await asyncio.create_subprocess_exec(
                config.cmd, *config.args, cwd=cwd, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise ConnectError(Code.INVALID_ARGUMENT, f"error starting process: {exc}") from None
        sandbox.procs[proc.pid] = proc
        sandbox.configs[proc.pid] = config
        interval = float(ctx.request_headers.get("keepalive-ping-interval") or 50)
        # The command's timeout arrives as the request's deadline; past it the
        # process is killed and the stream ends with DEADLINE_EXCEEDED, as in envd.
        loop = asyncio.get_running_loop()
        deadline = None if ctx.timeout_ms is None else loop.time() + ctx.timeout_ms / 1000
        queue: asyncio.Queue = asyncio.Queue()
        sandbox.streams.add(queue)

        async def pump(stream: asyncio.StreamReader, kind: str) -> None:
            while chunk := await stream.read(65536):
                await queue.put((kind, chunk))
            await queue.put((kind, None))

        readers = [asyncio.create_task(pump(proc.stdout, "stdout")), asyncio.create_task(pump(proc.stderr, "stderr"))]
        try:
            yield _event("start", Event.StartEvent(pid=proc.pid))
            open_streams = 2
            while open_streams:
                wait = interval
                if deadline is not None:
                    left = deadline - loop.time()
                    if left <= 0:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(proc.pid, signal.SIGKILL)
                        await proc.wait()
                        raise ConnectError(Code.DEADLINE_EXCEEDED, "context deadline exceeded")
                    wait = min(wait, left)
                try:
                    kind, chunk = await asyncio.wait_for(queue.get(), timeout=wait)
                except TimeoutError:
                    if deadline is None or deadline > loop.time():
                        yield _event("keepalive", Event.KeepAlive())
                    continue
                if kind == "killed":
                    raise ConnectError(Code.UNAVAILABLE, f"the connection to sandbox {sandbox.id} ended before the stream completed")
                if chunk is None:
                    open_streams -= 1
                    continue
                yield _event("data", Event.DataEvent(output=Oneof(kind, chunk)))
            code = await proc.wait()
            if code < 0:
                status = f"signal: {signal.Signals(-code).name.lower().removeprefix('sig')}"
                yield _event("end", Event.EndEvent(exit_code=-1, exited=False, status=status, error=status))
            else:
                yield _event("end", Event.EndEvent(exit_code=code, exited=True, status=f"exit status {code}"))
        finally:
            # A client that goes away leaves the process running, as envd does.
            sandbox.streams.discard(queue)
            for task in readers:
                task.cancel()
            if proc.returncode is not None:
                sandbox.procs.pop(proc.pid, None)
                sandbox.configs.pop(proc.pid, None)

    async def list(self, request, ctx) -> process_pb.ListResponse:
        sandbox = self._sandbox(ctx)
        return process_pb.ListResponse(
            processes=[process_pb.ProcessInfo(config=sandbox.configs[pid], pid=pid)
                       for pid, p in sandbox.procs.items() if p.returncode is None]
        )

    async def send_signal(self, request: process_pb.SendSignalRequest, ctx) -> process_pb.SendSignalResponse:
        sandbox = self._sandbox(ctx)
        selector = request.process.selector if request.process else None
        pid = selector.value if selector is not None and selector.field == "pid" else 0
        if pid not in sandbox.procs:
            raise ConnectError(Code.NOT_FOUND, f"process with pid {pid} not found")
        sig = signal.SIGKILL if request.signal == process_pb.Signal.SIGKILL else signal.SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        return process_pb.SendSignalResponse()


class StandIn:
    """The ASGI application: control plane, envd's process RPC, files, health."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.rpc = process_connect.ProcessASGIApplication(ProcessService(cloud))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    for sandbox in self.cloud.sandboxes.values():
                        kill_processes(sandbox)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path, method = scope["path"], scope["method"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if path.startswith("/process.Process/"):
            await self.rpc(scope, receive, send)
        elif path == "/v2/sandboxes" and method == "POST":
            await self.create(headers, await _read_body(receive), send)
        elif m := re.fullmatch(r"/sandboxes/([^/]+)(/timeout)?", path):
            await self.control(m.group(1), m.group(2), method, headers, await _read_body(receive), send)
        elif path == "/_standin/sandboxes":
            await _respond_json(send, 200, [s.describe() for s in self.cloud.sandboxes.values()])
        elif path in {"/files", "/health"}:
            sandbox = self.cloud.lookup(headers)
            if sandbox is None:
                await _respond_json(send, 502, {"code": 502, "message": _not_found(headers)})
            elif sandbox.access_token and headers.get("x-access-token") != sandbox.access_token:
                await _respond_json(send, 401, {"code": 401, "message": "invalid access token"})
            elif path == "/health":
                await _respond(send, 204, b"")
            else:
                await self.files(sandbox, scope, headers, receive, send)
        else:
            await _respond_json(send, 404, {"code": 404, "message": f"no route {method} {path}"})

    def _authorized(self, headers: dict[str, str]) -> bool:
        return self.cloud.api_key is None or secrets.compare_digest(headers.get("x-api-key", ""), self.cloud.api_key)

    async def create(self, headers: dict[str, str], body: bytes, send) -> None:
        if not self._authorized(headers):
            await _respond_json(send, 401, {"code": 401, "message": "Invalid API key"})
            return
        request = json.loads(body or b"{}")
        template = request.get("templateID", "")
        if self.cloud.templates is not None and template not in self.cloud.templates:
            await _respond_json(send, 404, {"code": 404, "message": f"template '{template}' not found"})
            return
        sandbox_id = "i" + secrets.token_hex(8)
        token = secrets.token_hex(16)
        self.cloud.new(sandbox_id, template, request.get("timeout", 15), token)
        await _respond_json(send, 201, {
            "templateID": template, "sandboxID": sandbox_id, "clientID": "standin",
            "envdVersion": ENVD_VERSION, "envdAccessToken": token,
        })

    async def control(self, sandbox_id: str, sub: str | None, method: str, headers: dict[str, str], body: bytes, send) -> None:
        if not self._authorized(headers):
            await _respond_json(send, 401, {"code": 401, "message": "Invalid API key"})
            return
        sandbox = self.cloud.sandboxes.get(sandbox_id)
        if sandbox is None or not sandbox.alive:
            await _respond_json(send, 404, {"code": 404, "message": f"sandbox '{sandbox_id}' not found"})
        elif sub is None and method == "DELETE":
            self.cloud.kill(sandbox, "kill")
            await _respond(send, 204, b"")
        elif sub == "/timeout" and method == "POST":
            self.cloud.set_timeout(sandbox, json.loads(body or b"{}").get("timeout"))
            await _respond(send, 204, b"")
        else:
            await _respond_json(send, 405, {"code": 405, "message": f"{method} not allowed here"})

    async def files(self, sandbox: Sandbox, scope, headers: dict[str, str], receive, send) -> None:
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}

        def resolve(path: str) -> Path:
            return Path(path) if os.path.isabs(path) else sandbox.root / path

        if scope["method"] == "GET":
            target = resolve(query.get("path", ""))
            if not target.is_file():
                await _respond_json(send, 404, {"code": 404, "message": f"path '{target}' does not exist"})
                return
            await _respond(send, 200, target.read_bytes(), "application/octet-stream")
            return
        if scope["method"] != "POST":
            await _respond_json(send, 405, {"code": 405, "message": "method not allowed"})
            return
        body = await _read_body(receive)
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if headers.get("content-type", "").startswith("multipart/form-data"):
            uploads = _multipart_files(headers["content-type"], body)
            if "path" in query and len(uploads) == 1:
                uploads = [(query["path"], uploads[0][1])]
        else:
            uploads = [(query.get("path", ""), body)]
        written = []
        for name, data in uploads:
            if not name:
                await _respond_json(send, 400, {"code": 400, "message": "no path given for an uploaded file"})
                return
            target = resolve(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.append({"name": target.name, "type": "file", "path": str(target)})
        await _respond_json(send, 200, written)


def _multipart_files(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    return [
        (part.get_filename() or "", part.get_payload(decode=True) or b"")
        for part in message.iter_parts()
        if part.get_param("name", header="content-disposition") == "file"
    ]


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _respond(send, status: int, body: bytes, content_type: str = "text/plain") -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type.encode())]})
    await send({"type": "http.response.body", "body": body})


async def _respond_json(send, status: int, payload) -> None:
    await _respond(send, status, json.dumps(payload).encode(), "application/json")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="folder holding each sandbox's home folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    parser.add_argument("--templates", default=None, help="comma-separated templates that exist (default: any)")
    args = parser.parse_args(argv)
    base = args.root.resolve()
    base.mkdir(parents=True, exist_ok=True)
    templates = {t for t in args.templates.split(",") if t} if args.templates else None
    cloud = Cloud(base, templates, os.environ.get("E2B_STANDIN_API_KEY") or None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(StandIn(cloud), log_level="warning", lifespan="on", timeout_graceful_shutdown=1))

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
                return
            await asyncio.sleep(0.02)
        print(f"LISTENING {sock.getsockname()[1]}", flush=True)
        await task

    try:
        asyncio.run(serve())
    finally:
        for sandbox in cloud.sandboxes.values():
            kill_processes(sandbox)


if __name__ == "__main__":
    main()
