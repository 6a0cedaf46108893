"""Webhooks in: requests per second the listener takes on this machine, on a throwaway embedded
PostgreSQL, over real HTTP from a few client threads (httpx, one keep-alive connection each).

Measured, in this order and each with the same number of requests and threads:
- `GET /health` — the reference: HTTP, routing and logging with no signature and no database;
- new signed generic events (distinct ids, one new order each): verify, parse, one write unit
  (the inbound record, the merge, the metrics of the day, the audit entry);
- the same events again: verify, parse, the inbound record's conflict, no merge.

The rate limit is raised out of the way. Prints req/s, p50/p99 latency and the ratios.

    .venv/bin/python tests/benchmarks/bench_inbound.py [--requests 2000] [--threads 4]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg

from ecomdesk.db import migrate
from ecomdesk.db.embedded import EmbeddedServer
from ecomdesk.db.engine import make_engine
from ecomdesk.listener import ListenerConfig, start_listener
from ecomdesk.services.registry import Services

SECRET = "bench-inbound-secret"


def event_body(n: int) -> bytes:
    return json.dumps(
        {
            "id": f"evt-{n}",
            "type": "order.paid",
            "created": "2026-11-20T10:00:00Z",
            "data": {
                "order_id": f"B-{n}",
                "customer_id": f"C-{n % 500}",
                "amount": f"{10 + n % 90}.50",
                "currency": "EUR",
                "occurred_at": f"2026-11-{1 + n % 27:02d}T10:00:00Z",
                "channel": ("web", "app", "store")[n % 3],
                "lines": [{"sku": f"SKU-{n % 50}", "quantity": 1 + n % 3, "unit_price": "5.00"}],
            },
        }
    ).encode()


def signed(body: bytes) -> str:
    t = int(time.time())
    return f"t={t},v1={hmac.new(SECRET.encode(), f'{t}.'.encode() + body, hashlib.sha256).hexdigest()}"


def run(
    url: str, requests: int, threads: int, send: Callable[[httpx.Client, int], httpx.Response]
) -> tuple[float, list[float]]:
    """Requests 0..requests-1 split over `threads` clients: (seconds in all, each latency)."""
    latencies: list[float] = []
    lock = threading.Lock()
    failures: list[str] = []
    start_line = threading.Barrier(threads + 1)

    def client(first: int) -> None:
        mine: list[float] = []
        with httpx.Client(base_url=url, timeout=30) as c:
            c.get("/health")  # the connection is open before the clock starts
            start_line.wait()
            for n in range(first, requests, threads):
                t0 = time.perf_counter()
                response = send(c, n)
                mine.append(time.perf_counter() - t0)
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    start_line.wait()
    t0 = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp) / "cluster", extra_settings=("fsync=off",))
        server.start()
        try:
            with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench")
            engine = make_engine(server.url("bench"))
            migrate.upgrade(engine)
            config = ListenerConfig(generic_secret=SECRET, rate_limit=10**9)
            listener = start_listener(Services.build(engine), config=config)
            bodies = [event_body(n) for n in range(args.requests)]

            def post(c: httpx.Client, n: int) -> httpx.Response:
                body = bodies[n]
                return c.post("/webhooks/orders", content=body, headers={"Ecomdesk-Signature": signed(body)})

            cases: list[tuple[str, Callable[[httpx.Client, int], httpx.Response]]] = [
                ("GET /health (reference)", lambda c, n: c.get("/health")),
                ("new signed events", post),
                ("the same events again (duplicates)", post),
            ]
            rows = []
            try:
                for name, send in cases:
                    elapsed, latencies = run(listener.url, args.requests, args.threads, send)
                    latencies.sort()
                    rows.append(
                        (
                            name,
                            args.requests / elapsed,
                            statistics.median(latencies) * 1000,
                            latencies[int(len(latencies) * 0.99) - 1] * 1000,
                        )
                    )
            finally:
                listener.stop()
            with engine.connect() as db:
                stored = db.exec_driver_sql("SELECT count(*) FROM order_events").scalar() or 0
            engine.dispose()
        finally:
            server.stop()
    print(f"{args.requests:,} requests from {args.threads} client threads; {stored:,} orders stored")
    print(f"{'case':<38}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, rate, p50, p99 in rows:
        print(f"{name:<38}{rate:>10,.0f}{p50:>10.1f}{p99:>10.1f}")
    reference = rows[0][1]
    new, duplicate = rows[1][1], rows[2][1]
    print(
        f"new events: {new / reference:.2f} × the health check's rate; duplicates: "
        f"{duplicate / reference:.2f} ×; new / duplicate: {new / duplicate:.2f}"
    )


if __name__ == "__main__":
    main()
