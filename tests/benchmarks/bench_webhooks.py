"""Webhooks out: how fast `ecomdesk worker` processes deliver, on a throwaway embedded PostgreSQL, to
a local receiver (its own process: uvicorn + Starlette, checking every signature).

Measured for 1, 2 and 4 worker processes (`ecomdesk worker --queue webhook`):
- burst: N events committed in one transaction, then the workers started; throughput is
  deliveries per second from the first delivery to the last (process start-up left out), and
  commit → delivery p50/p99 is mostly time spent waiting in the queue;
- trickle: the workers idle, then one event committed every 20 ms for a few seconds; commit →
  delivery p50/p99 is the pickup latency (the jobs trigger's NOTIFY wakes an idle worker).

The reference, in the same run: the same receiver posted to directly by one httpx client, signing
each body, with no database (the ceiling one worker could reach if the queue cost nothing).

    .venv/bin/python tests/benchmarks/bench_webhooks.py [--events 10000] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import Engine, text

from ecomdesk.db import migrate
from ecomdesk.db.embedded import EmbeddedServer
from ecomdesk.db.engine import make_engine
from ecomdesk.services.events import emit, emit_many

SECRET = "whsec_bench-webhooks-secret-0123456789"

#: The receiver, run as its own process: records each event id with its arrival time.
RECEIVER = r'''
import hashlib, hmac, sys, time
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
import uvicorn, json

SECRET = sys.argv[2].encode()
seen = {}
bad = 0

async def hook(request):
    global bad
    body = await request.body()
    now = time.time()
    parts = dict(p.split("=", 1) for p in request.headers.get("ecomdesk-signature", "").split(","))
    want = hmac.new(SECRET, parts.get("t", "").encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, parts.get("v1", "")):
        bad += 1
        return PlainTextResponse("bad signature", status_code=401)
    event = json.loads(body)["id"]
    seen.setdefault(event, now)
    return PlainTextResponse("ok")

async def dump(request):
    return JSONResponse({"seen": seen, "bad": bad})

async def reset(request):
    global bad
    seen.clear(); bad = 0
    return PlainTextResponse("ok")

app = Starlette(routes=[
    Route("/hook", hook, methods=["POST"]), Route("/dump", dump), Route("/reset", reset, methods=["POST"])
])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
'''


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"receiver did not start at {url}")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _seen(base: str) -> dict[str, float]:
    document = httpx.get(f"{base}/dump", timeout=60).json()
    if document["bad"]:
        raise SystemExit(f"the receiver refused {document['bad']} signatures")
    return {k: float(v) for k, v in document["seen"].items()}


def _workers(url: str, count: int, logs: Path) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "ecomdesk", "worker", "--database-url", url, "--queue", "webhook"],
            stdout=(logs / f"worker-{count}-{n}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for n in range(count)
    ]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        if proc.wait(60) != 0:
            raise SystemExit(f"a worker exited {proc.returncode}")


def _pending(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT count(*) FROM jobs")) or 0)


def _reference(base: str, events: int) -> float:
    """Deliveries per second of one plain signing client, no database."""
    with httpx.Client() as client:
        started = time.perf_counter()
        for n in range(events):
            body = json.dumps({"id": str(uuid.uuid4()), "type": "user.created", "data": {"n": n}}).encode()
            stamp = int(time.time())
            mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
            client.post(f"{base}/hook", content=body, headers={"Ecomdesk-Signature": f"t={stamp},v1={mac}"})
        return events / (time.perf_counter() - started)


def _burst(engine: Engine, url: str, base: str, events: int, count: int, logs: Path) -> dict[str, float]:
    httpx.post(f"{base}/reset")
    with engine.begin() as conn:
        emit_many(conn, "user.created", [{"n": n} for n in range(events)])
    committed = time.time()
    with engine.connect() as conn:
        ids = set(conn.scalars(text("SELECT event_id FROM webhook_events WHERE type = 'user.created'")))
    procs = _workers(url, count, logs)
    try:
        while _pending(engine):
            time.sleep(0.2)
    finally:
        _stop(procs)
    seen = _seen(base)
    with engine.begin() as conn:  # the next run starts from an empty outbox
        conn.execute(text("DELETE FROM webhook_events"))
    got = [seen[i] for i in ids]
    if len(got) != events:
        raise SystemExit(f"{count} workers: {len(got)} of {events} delivered")
    span = max(got) - min(got)
    latency = [t - committed for t in got]
    return {"rate": events / span, "p50": _pct(latency, 0.5), "p99": _pct(latency, 0.99)}


def _trickle(engine: Engine, url: str, base: str, seconds: float, count: int, logs: Path) -> dict[str, float]:
    httpx.post(f"{base}/reset")
    procs = _workers(url, count, logs)
    try:
        time.sleep(2.0)  # started and idle, listening
        committed: dict[str, float] = {}
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with engine.begin() as conn:
                event = emit(conn, "report.completed", {"id": len(committed)})
            committed[event] = time.time()
            time.sleep(0.02)
        while _pending(engine):
            time.sleep(0.1)
    finally:
        _stop(procs)
    seen = _seen(base)
    latency = [(seen[e] - t) * 1000 for e, t in committed.items()]
    return {"events": len(committed), "p50": _pct(latency, 0.5), "p99": _pct(latency, 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--trickle-seconds", type=float, default=5.0)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        folder = Path(tmp)
        server = EmbeddedServer(folder / "pg", extra_settings=("fsync=off", "synchronous_commit=off"))
        server.start()
        port = _free_port()
        receiver = subprocess.Popen(
            [sys.executable, "-c", RECEIVER, str(port), SECRET], env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_for(f"{base}/dump")
            with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench")
            url = server.url("bench")
            engine = make_engine(url)
            migrate.upgrade(engine)
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO webhook_endpoints (url, events, secret, allow_private) "
                        "VALUES (:url, '[\"*\"]', :secret, true)"
                    ),
                    {"url": f"{base}/hook", "secret": SECRET},
                )
            reference = _reference(base, min(args.events, 5000))
            print(f"reference: one signing httpx client, no database: {reference:,.0f} deliveries/s")
            print(f"\nburst: {args.events:,} events committed at once, then the workers started")
            print(f"{'workers':>8} {'deliveries/s':>13} {'× reference':>12} {'p50 s':>8} {'p99 s':>8}")
            rates: dict[int, float] = {}
            for count in counts:
                result = _burst(engine, url, base, args.events, count, folder)
                rates[count] = result["rate"]
                print(
                    f"{count:>8} {result['rate']:>13,.0f} {result['rate'] / reference:>12.2f} "
                    f"{result['p50']:>8.1f} {result['p99']:>8.1f}"
                )
            first = counts[0]
            for count in counts[1:]:
                print(f"  {count} workers ÷ {first}: {rates[count] / rates[first]:.2f}×")
            seconds = args.trickle_seconds
            print(f"\ntrickle: one event committed every 20 ms for {seconds:.0f} s to idle workers")
            print(f"{'workers':>8} {'events':>7} {'p50 ms':>8} {'p99 ms':>8}")
            for count in counts:
                result = _trickle(engine, url, base, args.trickle_seconds, count, folder)
                print(f"{count:>8} {result['events']:>7,.0f} {result['p50']:>8.1f} {result['p99']:>8.1f}")
            engine.dispose()
        finally:
            receiver.terminate()
            receiver.wait(30)
            server.destroy()


if __name__ == "__main__":
    main()
