"""A webhook receiver written for the tests, independently of the app's code: a real HTTP server on
127.0.0.1 that checks `Ecomdesk-Signature` itself (with `hmac`/`hashlib`, from the header's text
as the issue specifies it), records what it got, and answers as it is told (fail N times, 429
with Retry-After, a redirect, or hang)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    #: Seconds to wait before answering (a receiver that hangs).
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    #: The signature checked against the secret the receiver was given.
    signature_ok: bool

    @property
    def json(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.body)
        return document


def signature_valid(secret: str, header: str, body: bytes) -> bool:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>`, checked from scratch."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
        return False
    expected = hmac.new(secret.encode("utf-8"), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


class Receiver:
    """Answers each request with the next scripted `Answer` (then 200 "ok")."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.script: list[Answer] = []
        self.received: list[Received] = []
        self.lock = threading.Lock()
        #: Set at the end: a hanging answer stops waiting, so the server can shut down.
        self.closing = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, *answers: Answer) -> None:
        with self.lock:
            self.script.extend(answers)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Answer in one segment: headers and body written separately, with Nagle's algorithm on,
            # wait for the client's delayed ACK (40 ms a request) — no real receiver is that slow.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {key: value for key, value in self.headers.items()}
                ok = signature_valid(receiver.secret, headers.get("Ecomdesk-Signature", ""), body)
                with receiver.lock:
                    receiver.received.append(Received(self.path, headers, body, ok))
                    answer = receiver.script.pop(0) if receiver.script else Answer()
                if answer.delay:
                    receiver.closing.wait(answer.delay)
                    if receiver.closing.is_set():
                        return
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:  # the base class's name
                pass

        return Handler

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def running_receiver(secret: str) -> Iterator[Receiver]:
    receiver = Receiver(secret)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.close()
        thread.join(5)
