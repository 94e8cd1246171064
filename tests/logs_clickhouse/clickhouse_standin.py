"""A ClickHouse server stand-in for tests: ClickHouse's HTTP interface in front of chdb.

Where no ClickHouse server can be installed, this speaks the server's HTTP
protocol (the one clickhouse-connect uses: queries in the body or the
`query` parameter, `param_*` bind parameters, INSERT bodies in Native format,
compressed request bodies, Basic authentication, errors as
`X-ClickHouse-Exception-Code`) and runs every statement in chdb, the same
ClickHouse engine in-process, on a data folder that survives restarts.

Run: python clickhouse_standin.py DATA_DIR --user U --password P
It prints `PORT <n>` once it listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import re
import sys
import tempfile
import threading
import uuid
import zlib
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from chdb import session

INSERT_RE = re.compile(r"^\s*INSERT\s+INTO\s+(?P<target>.+?)\s+FORMAT\s+(?P<fmt>\w+)\s*$", re.IGNORECASE | re.DOTALL)
CODE_RE = re.compile(r"Code:\s*(\d+)")


def decompress(body: bytes, encoding: str | None) -> bytes:
    if not encoding or encoding == "identity":
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "lz4":
        import lz4.frame

        return lz4.frame.decompress(body)
    if encoding == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    raise ValueError(f"unsupported Content-Encoding {encoding}")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandIn

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        user, password = "default", ""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        elif self.headers.get("X-ClickHouse-User"):
            user, password = self.headers["X-ClickHouse-User"], self.headers.get("X-ClickHouse-Key", "")
        return (user, password) == (self.server.user, self.server.password)

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        if urlsplit(self.path).path.rstrip("/") == "/ping":
            self._reply(200, b"Ok.\n")
            return
        self._handle(b"")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(length)
        self._handle(decompress(body, self.headers.get("Content-Encoding")))

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _handle(self, body: bytes) -> None:
        query_id = str(uuid.uuid4())
        if not self._authorised():
            self._error(516, "Code: 516. DB::Exception: default: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)", query_id, status=403)
            return
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
            params.update(self._form_fields(body))
            body = b""
        binds = {k[len("param_"):]: v for k, v in params.items() if k.startswith("param_")}
        sql = params.get("query", "")
        data = b""
        if sql and body:
            data = body  # the statement is in the URL, the body is its data
        elif body:
            sql_bytes, data = self._split_statement(body)
            sql = (sql + " " if sql else "") + sql_bytes.decode()
        try:
            with self.server.lock:
                output = self._execute(sql, data, params, binds)
        except Exception as exc:  # chdb's error carries ClickHouse's code and message
            message = str(exc).strip()
            code = CODE_RE.search(message)
            self._error(int(code.group(1)) if code else 1000, message, query_id)
            return
        self._reply(200, output, {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": "UTC",
            "X-ClickHouse-Server-Display-Name": "chdb-standin",
            "X-ClickHouse-Summary": '{"read_rows":"0","written_rows":"0"}',
            "Content-Type": "application/octet-stream",
        })

    def _execute(self, sql: str, data: bytes, params: dict[str, str], binds: dict[str, str]) -> bytes:
        sess = self.server.sess
        if params.get("database"):
            sess.query(f"USE {params['database']}")
        match = INSERT_RE.match(sql)
        if match and data:
            return self._insert(match["target"], match["fmt"], data)
        return sess.query(sql, "TabSeparated", params=binds).bytes()

    def _form_fields(self, body: bytes) -> dict[str, str]:
        """Long queries and bind parameters come as form fields (`query`, `param_<name>`)."""
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[name] = part.get_payload(decode=True).decode()
        return fields

    @staticmethod
    def _split_statement(body: bytes) -> tuple[bytes, bytes]:
        """An INSERT's body is `INSERT ... FORMAT X` and a newline, then the data."""
        head = body[:64 * 1024]
        if head.lstrip()[:6].upper() == b"INSERT":
            match = re.search(rb"FORMAT\s+\w+[ \t]*\r?\n", head, re.IGNORECASE)
            if match:
                return body[: match.end()].strip(), body[match.end():]
        return body, b""

    def _insert(self, target: str, fmt: str, data: bytes) -> bytes:
        with tempfile.NamedTemporaryFile(dir=self.server.spool, suffix=".bin") as spool:
            spool.write(data)
            spool.flush()
            path = spool.name.replace("'", "\\'")
            self.server.sess.query(f"INSERT INTO {target} SELECT * FROM file('{path}', '{fmt}')")
        return b""

    def _error(self, code: int, message: str, query_id: str, status: int = 500) -> None:
        self._reply(status, (message + "\n").encode(), {
            "X-ClickHouse-Exception-Code": str(code),
            "X-ClickHouse-Query-Id": query_id,
            "Content-Type": "text/plain; charset=UTF-8",
        })


class StandIn(ThreadingHTTPServer):
    """One chdb session behind an HTTP server: a thread per connection (clients keep theirs open), one statement at a time."""

    daemon_threads = True

    def __init__(self, data_dir: Path, user: str, password: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.sess = session.Session(str(data_dir / "chdb"))
        self.spool = data_dir / "spool"
        self.spool.mkdir(exist_ok=True)
        self.user, self.password = user, password


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--user", default="default")
    parser.add_argument("--password", default="")
    args = parser.parse_args()
    server = StandIn(args.data_dir, args.user, args.password)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.sess.close()


if __name__ == "__main__":
    sys.exit(main())
