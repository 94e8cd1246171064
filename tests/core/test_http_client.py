"""Genesis's lean HTTP/1.1 client against a loopback server that sends exactly the bytes each test scripts."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json

import pytest
from genesis_core.llm import ProviderError
from genesis_core.providers.http_client import HTTPClient, proxy_for


async def _serve(answers: list[bytes], *, close_after: bool = False):
    """A server that reads one request per scripted answer on each connection and writes the answer's bytes."""
    seen: list[bytes] = []
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        with contextlib.suppress(asyncio.IncompleteReadError):  # the client closed the connection
            while answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0)
                seen.append(head + await reader.readexactly(length))
                writer.write(answers.pop(0))
                await writer.drain()
                if close_after:
                    break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1", seen, connections


def _run(answers: list[bytes], requests: int = 1, **kwargs):
    async def main():
        server, url, seen, connections = await _serve(answers, **kwargs)
        client = HTTPClient(url, {"Authorization": "Bearer k"}, timeout_s=kwargs.get("timeout_s", 5))
        try:
            results = [await client.post("/chat/completions", {"n": i}) for i in range(requests)]
        finally:
            await client.close()
            server.close()
        return results, seen, connections

    return asyncio.run(main())


def _answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_the_request_carries_the_path_headers_and_json_body():
    body = json.dumps({"ok": True}).encode()
    (response,), seen, _ = _run([_answer(body, f"Content-Length: {len(body)}")])
    assert response.status == 200 and response.json() == {"ok": True}
    head, _, sent = seen[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nAuthorization: Bearer k" in head and b"\r\nContent-Type: application/json" in head
    assert json.loads(sent) == {"n": 0}


def test_a_chunked_gzip_body_is_joined_and_decompressed():
    packed = gzip.compress(json.dumps({"text": "x" * 5000}).encode())
    chunks = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (packed[:100], packed[100:]))
    (response,), _, _ = _run([_answer(chunks + b"0\r\nX-Trailer: 1\r\n\r\n", "Transfer-Encoding: chunked", "Content-Encoding: gzip")])
    assert response.json() == {"text": "x" * 5000}


def test_kept_alive_connections_are_reused_and_closed_ones_are_not():
    body = b"{}"
    answer = _answer(body, "Content-Length: 2")
    _, seen, connections = _run([answer, answer, answer], requests=3)
    assert len(seen) == 3 and len(connections) == 1

    closing = _answer(body, "Content-Length: 2", "Connection: close")
    _, seen, connections = _run([closing, closing], requests=2, close_after=True)
    assert len(seen) == 2 and len(connections) == 2


def test_a_body_without_length_is_read_to_the_end_of_the_connection():
    (response,), _, _ = _run([_answer(b'{"a": 1}', "Connection: close")], close_after=True)
    assert response.json() == {"a": 1}


def test_an_interim_100_continue_is_skipped():
    (response,), _, _ = _run([b"HTTP/1.1 100 Continue\r\n\r\n" + _answer(b"{}", "Content-Length: 2", status="201 Created")])
    assert response.status == 201


def test_an_error_status_comes_back_with_its_headers():
    body = b'{"error": {"message": "slow down"}}'
    (response,), _, _ = _run([_answer(body, f"Content-Length: {len(body)}", "Retry-After: 3", status="429 Too Many Requests")])
    assert response.status == 429 and response.headers["retry-after"] == "3"


@pytest.mark.parametrize(
    ("answer", "reason", "words"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "bad_response", "not valid HTTP/1.1"),
        (_answer(b'{"a": ', "Content-Length: 20"), "connection", "closed after 6 bytes"),
        (_answer(b"not json", "Content-Length: 8"), "bad_response", "not valid JSON"),
        (_answer(b"{}", "Content-Length: 2", "Content-Encoding: br"), "bad_response", "encoded as 'br'"),
    ],
)
def test_broken_answers_are_classified(answer, reason, words):
    with pytest.raises(ProviderError) as caught:
        (response,), _, _ = _run([answer], close_after=True)
        response.json()
    assert caught.value.reason == reason
    assert words in str(caught.value)


def test_no_answer_within_the_timeout_is_a_timeout():
    async def main():
        async def silent(reader, writer):
            await reader.read(1 << 16)
            await asyncio.sleep(5)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        client = HTTPClient(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", timeout_s=0.2)
        try:
            await client.post("/x", {})
        finally:
            await client.close()
            server.close()

    with pytest.raises(ProviderError) as caught:
        asyncio.run(main())
    assert caught.value.reason == "timeout" and "within 0.2 s" in str(caught.value)


def test_nothing_listening_is_a_connection_failure():
    async def main():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        client = HTTPClient(f"http://127.0.0.1:{port}/v1")
        await client.post("/x", {})

    with pytest.raises(ProviderError) as caught:
        asyncio.run(main())
    assert caught.value.reason == "connection" and "could not connect to http://127.0.0.1" in str(caught.value)


def test_only_http_urls_are_accepted():
    with pytest.raises(ValueError, match="expected an http:// or https:// URL"):
        HTTPClient("ftp://example.com")


def test_proxy_variables_and_no_proxy_are_honoured(monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert proxy_for("https://api.openai.com/v1") is None
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    assert proxy_for("https://api.openai.com/v1") == "http://proxy.example:3128"
    assert proxy_for("http://127.0.0.1:8000/v1") is None  # only https is proxied
    monkeypatch.setenv("no_proxy", "api.openai.com")
    assert proxy_for("https://api.openai.com/v1") is None
