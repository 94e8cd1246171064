"""Loopback LLM servers that speak the real wire formats, for tests and the benchmark.

`MockLLMServer` listens on 127.0.0.1 at an ephemeral port and answers

- `POST /v1/chat/completions` (OpenAI Chat Completions),
- `POST /v1/embeddings` (OpenAI embeddings),
- `POST /v1/messages` (Anthropic Messages, with thinking blocks),
- `GET /v1/models`,

with the JSON shapes the official SDKs parse (ids, usage, finish_reason /
stop_reason). What it answers is scripted: a queue of replies and faults
(`script`), a `responder(request_json)` callable, per-model behaviour
(`on_model`), and faults drawn at random (`fault_rate`). Faults are the ones
real services produce: 429 with Retry-After, 500/503, a stall past the
client's timeout, a dropped connection, malformed JSON, a truncated body.

It answers at once unless told to wait (`delay_s`), writes each response in
one `send` with TCP_NODELAY, and keeps connections alive, so one round trip
costs about a millisecond. Every request is logged (`requests`) with the
fault it got, and the server tracks how many requests were in flight at once
(`max_in_flight`), so tests can check a client's concurrency limit.

    with MockLLMServer(responder=lambda req: "hello") as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="sk-test")
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Fault(StrEnum):
    """A failure the server can produce instead of an answer."""

    RATE_LIMIT = "rate_limit"  # 429 with Retry-After
    SERVER_ERROR = "server_error"  # 500
    UNAVAILABLE = "unavailable"  # 503
    STALL = "stall"  # no answer until `stall_s` has passed
    DROP = "drop"  # the connection is closed without an answer
    MALFORMED = "malformed"  # 200 whose body is not JSON
    TRUNCATED = "truncated"  # 200 whose body stops half-way
    AUTH = "auth"  # 401


ALL_FAULTS: tuple[Fault, ...] = (
    Fault.RATE_LIMIT,
    Fault.SERVER_ERROR,
    Fault.UNAVAILABLE,
    Fault.STALL,
    Fault.DROP,
    Fault.MALFORMED,
    Fault.TRUNCATED,
)


@dataclass
class Reply:
    """A scripted answer; token counts default to an estimate from the text."""

    text: str
    reasoning: str = ""
    tokens_in: int | None = None
    tokens_out: int | None = None
    finish_reason: str = "stop"
    delay_s: float = 0.0


Answer = str | Reply | Fault
Responder = Callable[[dict[str, Any]], Answer]


@dataclass
class RequestRecord:
    """One request as the server saw it."""

    path: str
    model: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    fault: Fault | None = None
    started: float = 0.0
    finished: float = 0.0


@dataclass
class _ModelBehaviour:
    responder: Responder | None = None
    fault_rate: float | None = None
    delay_s: float | None = None
    queue: deque[Answer] = field(default_factory=deque)


def estimate_tokens(text: str) -> int:
    """About four characters per token, at least one."""
    return max(1, math.ceil(len(text) / 4))


def _prompt_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    system = body.get("system")
    if isinstance(system, str):
        parts.append(system)
    elif isinstance(system, list):
        parts.extend(str(b.get("text", "")) for b in system if isinstance(b, dict))
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return "\n".join(parts)


def last_user_message(body: dict[str, Any]) -> str:
    """The text of the last user message of a chat or messages request."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
            return str(content or "")
    return ""


def text_embedding(text: str, dimensions: int = 64) -> list[float]:
    """A deterministic unit vector from the text's character trigrams: similar texts, similar vectors."""
    vector = [0.0] * dimensions
    padded = f"  {text}  "
    for i in range(len(padded) - 2):
        digest = hashlib.blake2b(padded[i:i + 3].encode("utf-8"), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.mock._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.mock._track(self.connection, add=False)

    def do_POST(self) -> None:  # noqa: N802 - the http.server naming
        self.server.mock._handle(self, "POST")

    def do_GET(self) -> None:  # noqa: N802
        self.server.mock._handle(self, "GET")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet: the request log is `MockLLMServer.requests`."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    mock: MockLLMServer


class MockLLMServer:
    """An OpenAI- and Anthropic-compatible server on 127.0.0.1 with scripted answers and faults.

    responder: answers a request (its parsed JSON) with text, a `Reply` or a `Fault`;
        default: a short fixed text naming the model.
    delay_s: wait before every answer (0: answer at once).
    fault_rate, faults: the probability that a request gets a fault, and the kinds drawn from.
    retry_after: the Retry-After header of 429 answers, in seconds (fractions allowed).
    stall_s: how long a stalled request waits before answering (set it past the client's timeout).
    api_key: when set, requests without this key get 401 (the message repeats the key it got,
        as some real services do, so tests can check that clients scrub it).
    """

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        delay_s: float = 0.0,
        fault_rate: float = 0.0,
        faults: tuple[Fault, ...] = ALL_FAULTS,
        retry_after: float = 0.05,
        stall_s: float = 30.0,
        api_key: str | None = None,
        seed: int = 0,
        embedding_dimensions: int = 64,
    ) -> None:
        self.responder = responder
        self.delay_s = delay_s
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.retry_after = retry_after
        self.stall_s = stall_s
        self.api_key = api_key
        self.embedding_dimensions = embedding_dimensions
        self.requests: list[RequestRecord] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.max_in_flight_by_model: dict[str, int] = {}
        self._in_flight_by_model: dict[str, int] = {}
        self._queue: deque[Answer] = deque()
        self._models: dict[str, _ModelBehaviour] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self.connections_opened = 0
        self._counter = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> MockLLMServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.mock = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="mock-llm", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; stalled requests end and open connections are closed."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def close_connections(self) -> None:
        """Close every open client connection, as a server does with idle kept-alive ones."""
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> MockLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("The mock LLM server is not started; use it as a context manager or call start().")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """The root URL, `http://127.0.0.1:PORT` (what the Anthropic SDK takes)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1` (what the OpenAI SDK takes)."""
        return f"{self.base_url}/v1"

    anthropic_base_url = base_url

    # -- scripting ------------------------------------------------------------

    def script(self, *answers: Answer, model: str | None = None) -> None:
        """Queue answers (texts, `Reply`s or `Fault`s) for the next requests, of one model or of any."""
        with self._lock:
            queue = self._behaviour(model).queue if model else self._queue
            queue.extend(answers)

    def on_model(
        self,
        model: str,
        responder: Responder | None = None,
        *,
        fault_rate: float | None = None,
        delay_s: float | None = None,
    ) -> None:
        """Give requests for one model their own responder, fault rate or delay."""
        with self._lock:
            behaviour = self._behaviour(model)
            behaviour.responder = responder or behaviour.responder
            behaviour.fault_rate = fault_rate if fault_rate is not None else behaviour.fault_rate
            behaviour.delay_s = delay_s if delay_s is not None else behaviour.delay_s

    def _behaviour(self, model: str) -> _ModelBehaviour:
        return self._models.setdefault(model, _ModelBehaviour())

    def reset(self) -> None:
        """Forget the log, queued answers and concurrency counts (the responders stay)."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            for behaviour in self._models.values():
                behaviour.queue.clear()
            self.max_in_flight = 0
            self.max_in_flight_by_model.clear()

    def faults_served(self) -> dict[str, int]:
        """How many requests got each fault."""
        counts: dict[str, int] = {}
        for record in list(self.requests):
            if record.fault is not None:
                counts[record.fault.value] = counts.get(record.fault.value, 0) + 1
        return counts

    # -- serving --------------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
                self.connections_opened += 1
            else:
                self._connections.discard(conn)

    def _handle(self, handler: _Handler, method: str) -> None:
        path = handler.path.split("?", 1)[0].rstrip("/")
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        if method == "GET":
            if path.endswith("/models"):
                names = sorted(self._models) or ["mock-model"]
                _send_json(handler, 200, {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "mock"} for n in names]})
            else:
                _send_json(handler, 404, {"error": {"message": f"No route GET {path}", "type": "invalid_request_error"}})
            return
        wire = "openai" if path.endswith("/chat/completions") else "embeddings" if path.endswith("/embeddings") else "anthropic" if path.endswith("/messages") else None
        if wire is None:
            _send_json(handler, 404, {"error": {"message": f"No route POST {path}", "type": "invalid_request_error"}})
            return
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError as exc:
            _send_error(handler, wire, 400, "invalid_request_error", f"The body is not JSON: {exc}")
            return
        model = str(body.get("model", ""))
        record = RequestRecord(path=path, model=model, body=body, headers=headers, started=time.monotonic())
        with self._lock:
            self.requests.append(record)
            self._counter += 1
            number = self._counter
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            current = self._in_flight_by_model.get(model, 0) + 1
            self._in_flight_by_model[model] = current
            self.max_in_flight_by_model[model] = max(self.max_in_flight_by_model.get(model, 0), current)
        try:
            self._answer(handler, wire, body, model, record, number)
        finally:
            record.finished = time.monotonic()
            with self._lock:
                self.in_flight -= 1
                self._in_flight_by_model[model] -= 1

    def _choose(self, body: dict[str, Any], model: str) -> Answer:
        with self._lock:
            behaviour = self._models.get(model)
            if behaviour is not None and behaviour.queue:
                return behaviour.queue.popleft()
            if self._queue:
                return self._queue.popleft()
            rate = behaviour.fault_rate if behaviour is not None and behaviour.fault_rate is not None else self.fault_rate
            if rate > 0 and self._rng.random() < rate:
                return self._rng.choice(self.faults)
            responder = (behaviour.responder if behaviour is not None else None) or self.responder
        if responder is None:
            return f"Mock answer from {model or 'the mock model'}."
        return responder(body)

    def _delay(self, model: str) -> float:
        behaviour = self._models.get(model)
        if behaviour is not None and behaviour.delay_s is not None:
            return behaviour.delay_s
        return self.delay_s

    def _answer(self, handler: _Handler, wire: str, body: dict[str, Any], model: str, record: RequestRecord, number: int) -> None:
        if self.api_key is not None:
            given = headers_key(record.headers)
            if given != self.api_key:
                record.fault = Fault.AUTH
                _send_error(handler, wire, 401, "authentication_error", f"Incorrect API key provided: {given}.")
                return
        answer = self._choose(body, model)
        delay = self._delay(model) + (answer.delay_s if isinstance(answer, Reply) else 0.0)
        if delay > 0:
            self._stopping.wait(delay)
        if isinstance(answer, Fault):
            record.fault = answer
            if answer is Fault.STALL:
                self._stopping.wait(self.stall_s)
                answer = f"Late answer from {model}."
            else:
                self._fault(handler, wire, answer, body, model, number)
                return
        reply = answer if isinstance(answer, Reply) else Reply(text=str(answer))
        if wire == "embeddings":
            _send_json(handler, 200, self._embeddings(body, model))
        elif wire == "openai":
            _send_json(handler, 200, _chat_completion(body, model, reply, number))
        else:
            _send_json(handler, 200, _anthropic_message(body, model, reply, number))

    def _fault(self, handler: _Handler, wire: str, fault: Fault, body: dict[str, Any], model: str, number: int) -> None:
        if fault is Fault.RATE_LIMIT:
            retry = f"{self.retry_after:g}"
            extra = {"Retry-After": retry, "retry-after-ms": f"{self.retry_after * 1000:g}"}
            _send_error(handler, wire, 429, "rate_limit_error", "Rate limit reached for requests; slow down.", extra)
        elif fault is Fault.SERVER_ERROR:
            _send_error(handler, wire, 500, "api_error", "The server had an error while processing your request.")
        elif fault is Fault.UNAVAILABLE:
            _send_error(handler, wire, 503, "overloaded_error", "The engine is currently overloaded, please try again later.")
        elif fault is Fault.AUTH:
            _send_error(handler, wire, 401, "authentication_error", "Invalid authentication.")
        elif fault is Fault.DROP:
            handler.close_connection = True
            _hang_up(handler)
        elif fault is Fault.MALFORMED:
            payload = b'{"id": "broken", "choices": [{"message": {"content": "half'
            _send_raw(handler, 200, payload, "application/json")
        elif fault is Fault.TRUNCATED:
            reply = Reply(text=f"A long answer from {model} that will be cut off. " * 20)
            if wire == "embeddings":
                full = self._embeddings(body, model)
            elif wire == "openai":
                full = _chat_completion(body, model, reply, number)
            else:
                full = _anthropic_message(body, model, reply, number)
            payload = json.dumps(full).encode()
            head = _head(200, len(payload), "application/json")
            handler.close_connection = True
            try:
                handler.wfile.write(head + payload[: len(payload) // 2])
                handler.wfile.flush()
            except OSError:
                pass
            _hang_up(handler)

    def _embeddings(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        inputs = body.get("input", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        dims = int(body.get("dimensions") or self.embedding_dimensions)
        data = [{"object": "embedding", "index": i, "embedding": text_embedding(str(text), dims)} for i, text in enumerate(inputs)]
        tokens = sum(estimate_tokens(str(t)) for t in inputs)
        return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def headers_key(headers: dict[str, str]) -> str:
    """The API key a request carried (OpenAI's bearer token or Anthropic's x-api-key)."""
    if "x-api-key" in headers:
        return headers["x-api-key"]
    auth = headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else auth


def _chat_completion(body: dict[str, Any], model: str, reply: Reply, number: int) -> dict[str, Any]:
    tokens_in = reply.tokens_in if reply.tokens_in is not None else estimate_tokens(_prompt_text(body))
    tokens_out = reply.tokens_out if reply.tokens_out is not None else estimate_tokens(reply.text + reply.reasoning)
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    usage: dict[str, Any] = {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out}
    if reply.reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": estimate_tokens(reply.reasoning)}
    return {
        "id": f"chatcmpl-mock{number:06d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_mock",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
        "usage": usage,
    }


_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}


def _anthropic_message(body: dict[str, Any], model: str, reply: Reply, number: int) -> dict[str, Any]:
    tokens_in = reply.tokens_in if reply.tokens_in is not None else estimate_tokens(_prompt_text(body))
    thinking_on = isinstance(body.get("thinking"), dict) and body["thinking"].get("type") == "enabled"
    reasoning = reply.reasoning or (f"Thinking about the request to {model}." if thinking_on else "")
    content: list[dict[str, Any]] = []
    if reasoning and thinking_on:
        content.append({"type": "thinking", "thinking": reasoning, "signature": f"mock-signature-{number}"})
    content.append({"type": "text", "text": reply.text})
    tokens_out = reply.tokens_out if reply.tokens_out is not None else estimate_tokens(reply.text + (reasoning if thinking_on else ""))
    return {
        "id": f"msg_mock{number:06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _STOP_REASONS.get(reply.finish_reason, reply.finish_reason),
        "stop_sequence": None,
        "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    }


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def _head(status: int, length: int, content_type: str, extra: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"Content-Type: {content_type}", f"Content-Length: {length}"]
    lines.extend(f"{k}: {v}" for k, v in (extra or {}).items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _send_raw(handler: _Handler, status: int, payload: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
    try:
        handler.wfile.write(_head(status, len(payload), content_type, extra) + payload)
        handler.wfile.flush()
    except OSError:
        handler.close_connection = True


def _send_json(handler: _Handler, status: int, data: dict[str, Any], extra: dict[str, str] | None = None) -> None:
    _send_raw(handler, status, json.dumps(data).encode(), "application/json", extra)


def _send_error(handler: _Handler, wire: str, status: int, kind: str, message: str, extra: dict[str, str] | None = None) -> None:
    if wire == "anthropic":
        data: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        data = {"error": {"message": message, "type": kind, "param": None, "code": kind}}
    _send_json(handler, status, data, extra)


def _hang_up(handler: _Handler) -> None:
    try:
        handler.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# -- responders -------------------------------------------------------------------

_FENCE_RE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)


def program_in_prompt(body: dict[str, Any]) -> tuple[str, str] | None:
    """The first fenced program holding an EVOLVE-BLOCK-START marker in the last user message,
    with its comment prefix; None when the prompt shows none."""
    for code in _FENCE_RE.findall(last_user_message(body)):
        at = code.find("EVOLVE-BLOCK-START")
        while at >= 0:  # the first marker with a comment prefix before it on its line
            prefix = code[code.rfind("\n", 0, at) + 1:at].strip()
            if prefix:
                return code, prefix
            at = code.find("EVOLVE-BLOCK-START", at + 1)
    return None


def program_edit_responder(seed: int = 0) -> Responder:
    """A responder that answers like a model asked for a change: it finds the program in the
    prompt and proposes a random edit of its EVOLVE-BLOCKs (the offline provider's edits), as
    SEARCH/REPLACE blocks when the prompt mentions them, else as a whole program."""
    from genesis_core.llm import ProposalContext
    from genesis_core.providers.offline import propose_edit

    counter = iter(range(10**12))
    lock = threading.Lock()

    def respond(body: dict[str, Any]) -> Answer:
        found = program_in_prompt(body)
        if found is None:
            return "I see no program with EVOLVE-BLOCK markers in the prompt."
        code, comment = found
        kind = "diff" if "SEARCH" in _prompt_text(body) else "rewrite"
        with lock:
            n = next(counter)
        context = ProposalContext(parent_code=code, comment=comment, patch_kind=kind)
        return propose_edit(context, random.Random(seed * 1_000_003 + n))

    return respond
