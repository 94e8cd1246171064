"""A local stand-in for envd, the agent inside an E2B sandbox.

The real E2B SDK in debug mode (`debug=True`) makes no cloud call and talks
to the sandbox agent directly; this server is that agent, on loopback, so
the E2B backend's tests exercise the SDK's real wire protocol:

- the process service (`/process.Process/*`, Connect RPC), served by the
  ASGI application the `e2b` wheel itself ships
  (`e2b.envd.process.process_connect.ProcessASGIApplication`): commands run
  as the SDK sends them (`/bin/bash -l -c CMD`), their output streams back,
  keepalive events included;
- files as plain HTTP: `GET /files?path=` and `POST /files` (multipart, one
  part named `file` per file, or `application/octet-stream`);
- `GET /health`.

The sandbox's home folder is `--root`; relative paths resolve against it and
commands start there. Its login shell gets the agent's own PATH through
`~/.bash_profile`, as a Genesis template's `/etc/profile.d/genesis.sh` does
inside a real sandbox (a login shell would otherwise reset PATH).

Run: `python envd_standin.py --root DIR [--port 0]`; it prints
`LISTENING <port>` on standard output once it accepts connections.
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
import shlex
import signal
import socket
import sys
from pathlib import Path
from urllib.parse import parse_qs

import uvicorn
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from e2b.envd.process import process_connect, process_pb
from protobuf import Oneof

Event = process_pb.ProcessEvent


def _event(kind: str, value) -> process_pb.StartResponse:
    return process_pb.StartResponse(event=Event(event=Oneof(kind, value)))


class ProcessService(process_connect.Process):
    """The `process.Process` service: start commands, stream their output, signal them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        self.configs: dict[int, process_pb.ProcessConfig] = {}

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {
            "HOME": str(self.root),
            "USER": "user",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
        }
        env.update(extra)
        return env

    def _path(self, path: str) -> str:
        return str(self.root / path) if path and not os.path.isabs(path) else (path or str(self.root))

    async def start(self, request: process_pb.StartRequest, ctx):
        config = request.process
        cwd = self._path(config.cwd if config.has_field("cwd") else "")
        proc = await asyncio.create_subprocess_exec(
            config.cmd,
            *config.args,
            cwd=cwd,
            env=self._env(dict(config.envs)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        self.procs[proc.pid] = proc
        self.configs[proc.pid] = config
        interval = float(ctx.request_headers.get("keepalive-ping-interval") or 50)
        # The command's timeout arrives as the request's deadline; past it the
        # process is killed and the stream ends with DEADLINE_EXCEEDED, as in envd.
        remaining_ms = ctx.timeout_ms
        deadline = None if remaining_ms is None else asyncio.get_running_loop().time() + remaining_ms / 1000
        queue: asyncio.Queue = asyncio.Queue()

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
                    left = deadline - asyncio.get_running_loop().time()
                    if left <= 0:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(proc.pid, signal.SIGKILL)
                        await proc.wait()
                        raise ConnectError(Code.DEADLINE_EXCEEDED, "context deadline exceeded")
                    wait = min(wait, left)
                try:
                    kind, chunk = await asyncio.wait_for(queue.get(), timeout=wait)
                except TimeoutError:
                    if deadline is None or deadline > asyncio.get_running_loop().time():
                        yield _event("keepalive", Event.KeepAlive())
                    continue
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
            # A client that goes away leaves the process running, as envd does;
            # only the readers of this stream stop.
            for task in readers:
                task.cancel()
            if proc.returncode is not None:
                self.procs.pop(proc.pid, None)
                self.configs.pop(proc.pid, None)

    async def list(self, request, ctx) -> process_pb.ListResponse:
        return process_pb.ListResponse(
            processes=[process_pb.ProcessInfo(config=self.configs[pid], pid=pid) for pid, p in self.procs.items() if p.returncode is None]
        )

    async def send_signal(self, request: process_pb.SendSignalRequest, ctx) -> process_pb.SendSignalResponse:
        pid = request.process.selector.value if request.process.selector else 0
        sig = signal.SIGKILL if request.signal == process_pb.Signal.SIGNAL_SIGKILL else signal.SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        return process_pb.SendSignalResponse()

    def kill_all(self) -> None:
        for pid, proc in list(self.procs.items()):
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)


class Agent:
    """The ASGI application: process RPC, files, health."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.processes = ProcessService(root)
        self.rpc = process_connect.ProcessASGIApplication(self.processes)

    def _path(self, path: str) -> Path:
        return Path(path) if os.path.isabs(path) else self.root / path

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.processes.kill_all()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"].startswith("/process.Process/"):
            await self.rpc(scope, receive, send)
        elif scope["path"] == "/health":
            await _respond(send, 204, b"")
        elif scope["path"] == "/files":
            await self.files(scope, receive, send)
        else:
            await _respond_json(send, 404, {"code": 404, "message": f"no route {scope['path']}"})

    async def files(self, scope, receive, send) -> None:
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if scope["method"] == "GET":
            target = self._path(query.get("path", ""))
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
            target = self._path(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.append({"name": target.name, "type": "file", "path": str(target)})
        await _respond_json(send, 200, written)


def _multipart_files(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    files = []
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            files.append((part.get_filename() or "", part.get_payload(decode=True) or b""))
    return files


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send, status: int, body: bytes, content_type: str = "text/plain") -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type.encode())]})
    await send({"type": "http.response.body", "body": body})


async def _respond_json(send, status: int, payload) -> None:
    await _respond(send, status, json.dumps(payload).encode(), "application/json")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="the sandbox's home folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: an ephemeral port")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    # A login shell resets PATH from /etc/profile; keep the agent's, as a template's profile script does.
    (root / ".bash_profile").write_text(f"export PATH={shlex.quote(os.environ.get('PATH', '/usr/bin:/bin'))}\n")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(64)
    agent = Agent(root)
    server = uvicorn.Server(uvicorn.Config(agent, log_level="warning", lifespan="on", timeout_graceful_shutdown=1))

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
        agent.processes.kill_all()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
