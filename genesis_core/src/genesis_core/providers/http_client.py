"""A lean HTTP/1.1 client for JSON APIs: kept-alive connections on asyncio streams.

Why not the SDK's HTTP stack: one call through the `openai` SDK costs the
engine's process 3.5 to 5 ms of CPU (its request transformation, httpx over
anyio, its response models), against about 0.2 ms for the same request here
(see bench/llm_floor.py and docs/performance.md). With fast or local models
that CPU is most of what the engine spends per candidate, and it caps how many
candidates one engine process can drive.

It speaks what an LLM API needs and nothing more: POST and GET of JSON, TLS,
bodies by Content-Length, chunked or read to the end, gzip and deflate, and
kept-alive connections (one the server has closed while idle is replaced
before sending; a request is never sent twice, since the server may have
acted on it: the LLM client's retries decide). It does not speak to proxies:
`proxy_for` says when one applies, and the provider then goes through its SDK,
whose httpx honours the proxy variables.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import urllib.request
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from genesis_core.llm import ProviderError

MAX_IDLE_CONNECTIONS = 32


@dataclass
class HTTPResponse:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        """The body as JSON; a body that is not JSON is the server's fault: a `bad_response`."""
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ProviderError("bad_response", f"the answer is not valid JSON ({exc}): {self.body[:200]!r}") from None


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class HTTPClient:
    """Requests to one server root (`base_url`), on a small pool of kept-alive connections."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None, timeout_s: float = 120.0) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {base_url!r}")
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._tls = url.scheme == "https"
        self._prefix = url.path.rstrip("/")
        default_port = self._port == (443 if self._tls else 80)
        authority = self._host if default_port else f"{self._host}:{self._port}"
        if ":" in self._host and not default_port:  # an IPv6 literal
            authority = f"[{self._host}]:{self._port}"
        fixed = {"Host": authority, "Accept": "application/json", "Accept-Encoding": "gzip, deflate",
                 "Content-Type": "application/json", "User-Agent": "genesis", **(headers or {})}
        self._fixed_head = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self._idle: list[_Connection] = []
        self._ssl: ssl.SSLContext | None = None

    async def post(self, path: str, body: Any) -> HTTPResponse:
        return await self.request("POST", path, body)

    async def request(self, method: str, path: str, body: Any = None) -> HTTPResponse:
        """Send one request and read its whole answer; transport failures are `ProviderError`s."""
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {self._prefix}{path} HTTP/1.1\r\n{self._fixed_head}Content-Length: {len(payload)}\r\n\r\n"
        message = head.encode("latin-1") + payload
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._exchange(method, message)
        except TimeoutError:
            raise ProviderError("timeout", f"no answer from {self.base_url} within {self.timeout_s:g} s") from None

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    async def _exchange(self, method: str, message: bytes) -> HTTPResponse:
        connection = self._take_idle() or await self._connect()
        try:
            connection.writer.write(message)
            await connection.writer.drain()
            response, keep_alive = await self._read_response(connection.reader, method)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, zlib.error) as exc:
            connection.close()
            raise _transport_error(exc) from None
        except BaseException:  # cancelled or timed out half-way: the connection is in an unknown state
            connection.close()
            raise
        if keep_alive and len(self._idle) < MAX_IDLE_CONNECTIONS:
            self._idle.append(connection)
        else:
            connection.close()
        return response

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.usable():
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        tls = self._tls_context() if self._tls else None
        try:
            reader, writer = await asyncio.open_connection(self._host, self._port, ssl=tls, limit=1 << 20)
        except (OSError, ssl.SSLError) as exc:
            raise ProviderError("connection", f"could not connect to {self.base_url} ({type(exc).__name__}: {exc})") from None
        return _Connection(reader, writer)

    def _tls_context(self) -> ssl.SSLContext:
        """The system's trust store when SSL_CERT_FILE/SSL_CERT_DIR name one, else certifi's (as httpx does)."""
        if self._ssl is None:
            cafile = None
            if not (os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")):
                try:
                    import certifi

                    cafile = certifi.where()
                except ImportError:
                    cafile = None
            self._ssl = ssl.create_default_context(cafile=cafile)
        return self._ssl

    async def _read_response(self, reader: asyncio.StreamReader, method: str) -> tuple[HTTPResponse, bool]:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            version, _, rest = lines[0].partition(" ")
            status = int(rest[:3])
            if not version.startswith("HTTP/1."):
                raise ValueError(f"not an HTTP/1 answer: {lines[0]!r}")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
            if status >= 200:
                break  # 1xx answers (100 Continue) come before the real one
        keep_alive = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader)
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body = await reader.read()  # to the end of the connection
            keep_alive = False
        encoding = headers.get("content-encoding", "identity").lower()
        if encoding in ("gzip", "x-gzip"):
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding not in ("identity", ""):
            raise ProviderError("bad_response", f"the answer is encoded as {encoding!r}, which was not asked for")
        return HTTPResponse(status, headers, body), keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            line = await reader.readuntil(b"\r\n")
            while line != b"\r\n":  # trailer fields, unused
                line = await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _transport_error(exc: BaseException) -> ProviderError:
    if isinstance(exc, asyncio.IncompleteReadError):
        return ProviderError("connection", f"the connection closed after {len(exc.partial)} bytes of the answer")
    if isinstance(exc, (asyncio.LimitOverrunError, ValueError, zlib.error)):
        return ProviderError("bad_response", f"the answer is not valid HTTP/1.1: {exc}")
    return ProviderError("connection", f"the connection broke ({type(exc).__name__}: {exc})")


def proxy_for(url: str) -> str | None:
    """The proxy the environment (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY) sets for `url`, if any."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy
