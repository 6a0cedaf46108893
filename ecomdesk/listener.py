"""The worker's HTTP listener for webhooks in: a Starlette app served by uvicorn in a thread.

Routes: `POST /webhooks/orders` (the generic signed format), `POST /webhooks/stripe` (Stripe's
events and signature) and `GET /health`. Every webhook request is counted against its client
address's rate limit before anything else is read; the body is capped; the signature is checked
on the raw bytes before the body is parsed; the database work (`services.inbound`) runs in the
thread pool, as the services are synchronous.

Answers, so a sender knows whether to retry: 200 taken (or a duplicate, or ignored), 400 a body a
developer must fix, 401 a bad signature or an old timestamp, 413 too large, 429 too many (with
Retry-After), 503 when this side cannot take it now (no secret configured, the database away).

No Qt, no signal handlers: the worker owns the process's signals and stops the listener itself.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ecomdesk.services import inbound
from ecomdesk.services.context import ServiceContext
from ecomdesk.services.errors import Conflict, Unavailable
from ecomdesk.services.inbound import InboundService, MalformedEvent, SignatureRejected

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY: Final = 256 * 1024
#: Seconds a sender is told to wait when the database cannot take an event right now.
UNAVAILABLE_RETRY_S: Final = 30
GENERIC_SIGNATURE_HEADER: Final = "Ecomdesk-Signature"
STRIPE_SIGNATURE_HEADER: Final = "Stripe-Signature"


@dataclass(frozen=True)
class ListenerConfig:
    """The listener's secrets and limits. A route whose secret is None answers 503: it never
    accepts unsigned events. Secrets come from the worker (`config.worker_secret`), not the DB."""

    generic_secret: str | None = field(default=None, repr=False)
    stripe_secret: str | None = field(default=None, repr=False)
    max_body: int = DEFAULT_MAX_BODY
    tolerance_s: float = inbound.DEFAULT_TOLERANCE_S
    #: Requests per client address per window, counting every request to a webhook route.
    rate_limit: int = 100
    rate_window_s: float = 900.0
    #: Client addresses remembered at most (the least recently seen are forgotten first).
    rate_clients: int = 10_000


class RateLimiter:
    """At most `limit` requests per `window` seconds per client: a sliding log of each client's
    request times. Thread-safe; memory bounded by `max_clients` × `limit` times."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self.clock = clock
        self._lock = threading.Lock()
        self._clients: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()

    def acquire(self, client: str) -> float | None:
        """Count a request of `client`: None when it may go ahead, else the seconds until a slot
        frees (what Retry-After says). A refused request is not counted."""
        now = self.clock()
        with self._lock:
            times = self._clients.get(client)
            if times is None:
                self._forget(now)
                times = collections.deque()
                self._clients[client] = times
            else:
                self._clients.move_to_end(client)
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.limit:
                return max(times[0] + self.window - now, 0.0)
            times.append(now)
            return None

    def _forget(self, now: float) -> None:
        """Drop clients silent for a whole window, and the least recently seen beyond the cap."""
        clients = self._clients
        while clients:
            oldest_client, oldest = next(iter(clients.items()))
            stale = not oldest or oldest[-1] <= now - self.window
            if not stale and len(clients) < self.max_clients:
                break
            del clients[oldest_client]

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (`_TooLarge`) by its Content-Length at once or as soon as the stream
    passes `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def make_app(target: Any, config: ListenerConfig) -> Starlette:
    """The ASGI app over `target`: `Services`, a `ServiceContext` or an `InboundService`."""
    service = _inbound_service(target)
    limiter = RateLimiter(config.rate_limit, config.rate_window_s, max_clients=config.rate_clients)
    secrets = {inbound.GENERIC: config.generic_secret, inbound.STRIPE: config.stripe_secret}
    headers = {inbound.GENERIC: GENERIC_SIGNATURE_HEADER, inbound.STRIPE: STRIPE_SIGNATURE_HEADER}

    async def receive(request: Request, source: str) -> Response:
        retry = limiter.acquire(_client(request))
        if retry is not None:
            seconds = max(math.ceil(retry), 1)
            return _error(
                429,
                f"Too many requests: at most {config.rate_limit} per {config.rate_window_s:g} s. "
                f"Retry in {seconds} s.",
                {"Retry-After": str(seconds)},
            )
        secret = secrets[source]
        if not secret:
            log.error(
                "webhook %s refused: no %s secret is configured (ecomdesk worker secret set …)",
                source,
                source,
            )
            return _error(503, f"This listener has no secret for {source} events configured.")
        try:
            body = await _read_body(request, config.max_body)
        except _TooLarge:
            return _error(413, f"The body is larger than {config.max_body:,} bytes.")
        try:
            inbound.verify_signature(
                secret,
                request.headers.get(headers[source]),
                body,
                now=time.time(),
                tolerance_s=config.tolerance_s,
            )
            event = inbound.parse(source, body)
            taken = await run_in_threadpool(service.take, event)
        except SignatureRejected as exc:
            return _error(401, exc.message)
        except MalformedEvent as exc:
            return _error(400, exc.message)
        except (Unavailable, Conflict) as exc:
            log.warning("webhook %s not taken, the sender should retry: %s", source, exc.message)
            return _error(503, exc.message, {"Retry-After": str(UNAVAILABLE_RETRY_S)})
        if taken.duplicate:
            return JSONResponse({"received": True, "duplicate": True})
        if taken.ignored:
            return JSONResponse({"received": True, "ignored": taken.ignored, "orders": []})
        return JSONResponse({"received": True, "orders": list(taken.orders)})

    async def orders_route(request: Request) -> Response:
        return await receive(request, inbound.GENERIC)

    async def stripe_route(request: Request) -> Response:
        return await receive(request, inbound.STRIPE)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/webhooks/orders", orders_route, methods=["POST"]),
            Route("/webhooks/stripe", stripe_route, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
    app.add_middleware(_AccessLog)
    return app


def _inbound_service(target: Any) -> InboundService:
    if isinstance(target, InboundService):
        return target
    if isinstance(target, ServiceContext):
        return InboundService(target)
    ctx = getattr(target, "ctx", None)
    if isinstance(ctx, ServiceContext):
        return InboundService(ctx)
    raise TypeError(f"make_app needs Services, a ServiceContext or an InboundService, not {target!r}")


_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_ASGIApp = Callable[
    [_Scope, Callable[[], Awaitable[_Message]], Callable[[_Message], Awaitable[None]]], Awaitable[None]
]


class _AccessLog:
    """One INFO line per request: method, path, status, milliseconds, client (never a body)."""

    def __init__(self, app: _ASGIApp) -> None:
        self.app = app

    async def __call__(
        self,
        scope: _Scope,
        receive: Callable[[], Awaitable[_Message]],
        send: Callable[[_Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: _Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client")
            log.info(
                "%s %s %s %.0f ms %s",
                scope.get("method"),
                scope.get("path"),
                status,
                (time.perf_counter() - start) * 1000,
                client[0] if client else "-",
            )


# -- serving --------------------------------------------------------------------------------------


class RunningListener:
    """A listener serving in its own thread until `stop`."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, address: str) -> None:
        self._server = server
        self._thread = thread
        #: "host:port" as bound (the real port when 0 was asked).
        self.address = address

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking connections, let requests in flight finish (up to `timeout`), then end."""
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(2.0)


def start_listener(
    target: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    config: ListenerConfig | None = None,
    startup_timeout: float = 10.0,
) -> RunningListener:
    """Serve `make_app(target, config)` on host:port in a daemon thread; returns once it accepts
    connections. Raises OSError when the address cannot be bound (in use, not this machine's)."""
    app = make_app(target, config or ListenerConfig())
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP said, not left 0: asyncio sets TCP_NODELAY only on sockets whose protocol says
    # TCP, and without it every response waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound_host, bound_port = sock.getsockname()[:2]
    address = f"[{bound_host}]:{bound_port}" if family == socket.AF_INET6 else f"{bound_host}:{bound_port}"
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", server_header=False)
    )
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the starting thread below, or logged
            failure.append(exc)
            log.exception("the webhook listener on %s stopped", address)
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    thread = threading.Thread(target=serve, name=f"webhook-listener-{bound_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise OSError(
                f"the webhook listener on {address} did not start: {failure[0] if failure else 'timeout'}"
            )
        time.sleep(0.01)
    log.info("listening for webhooks on http://%s", address)
    return RunningListener(server, thread, address)
