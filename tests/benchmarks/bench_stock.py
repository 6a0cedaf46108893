"""Concurrent stock adjustments: 100 clients, each with its own connection, make 50 adjustments each
on the same 10 items, on a throwaway embedded PostgreSQL (durable commits, as in production).

Prints throughput and latency, then the checks that matter: lost updates (each item's level
against its opening level plus every accepted delta), negative levels, and whether the movement
log chains exactly. Two references from the same run: the same adjustments made by one client in
sequence (what concurrency costs or gains), and a naive read-then-write client pool (SELECT the
level, UPDATE it to the new value) that shows the lost updates the one-statement adjustment avoids.

    .venv/bin/python tests/benchmarks/bench_stock.py [--clients 100] [--each 50] [--items 10]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, select, text

from ecomdesk.db import migrate
from ecomdesk.db.embedded import EmbeddedServer
from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import InventoryItem, MovementKind, StockMovement
from ecomdesk.services.context import Actor, ServiceContext
from ecomdesk.services.errors import Conflict
from ecomdesk.services.inventory import ItemFields
from ecomdesk.services.registry import Services
from ecomdesk.services.stock import Adjustment

PASSWORD = "benchmark passphrase 2026"
OPENING = 200
KINDS = (
    MovementKind.RECEIVE,
    MovementKind.SHIP,
    MovementKind.SHIP,
    MovementKind.RESERVE,
    MovementKind.RELEASE,
)


def plan(clients: int, each: int, items: list[int], seed: int = 7) -> list[list[tuple[int, Adjustment]]]:
    rng = random.Random(seed)
    return [
        [
            (rng.choice(items), Adjustment(rng.choice(KINDS), rng.randint(1, 5), f"client {c} #{n}"))
            for n in range(each)
        ]
        for c in range(clients)
    ]


Result = tuple[list[tuple[int, int, int]], int, list[float]]


def _client_threads(
    url: str, actor: Actor, work: list[list[tuple[int, Adjustment]]], start: Any, out: Any
) -> None:
    """One process's share of the clients, each on its own thread and connection."""
    accepted: list[tuple[int, int, int]] = []
    latencies: list[float] = []
    refused = 0
    lock = threading.Lock()
    engines = [make_engine(url, pool_size=1, max_overflow=0) for _ in work]
    ready = threading.Barrier(len(work) + 1)

    def client(engine: Engine, jobs: list[tuple[int, Adjustment]]) -> None:
        nonlocal refused
        stock = Services.from_context(ServiceContext(engine)).stock
        ready.wait()
        for item_id, adjustment in jobs:
            began = time.perf_counter()
            try:
                stock.adjust(actor, item_id, adjustment)
            except Conflict:
                with lock:
                    refused += 1
            else:
                with lock:
                    accepted.append((item_id, *adjustment.deltas()))
            with lock:
                latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=client, args=(e, jobs)) for e, jobs in zip(engines, work, strict=True)]
    for thread in threads:
        thread.start()
    start.wait()
    ready.wait()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    out.put((accepted, refused, latencies))


def run_clients(
    url: str, actor: Actor, work: list[list[tuple[int, Adjustment]]], processes: int
) -> tuple[float, list[tuple[int, int, int]], int, list[float]]:
    """The clients spread over `processes` processes (threads in each), so the benchmark measures
    the database and the service, not one interpreter's lock; returns (seconds, accepted deltas,
    refused count, latencies)."""
    mp = multiprocessing.get_context("fork")
    processes = max(1, min(processes, len(work)))
    start, out = mp.Barrier(processes + 1), mp.Queue()
    shares = [work[i::processes] for i in range(processes)]
    workers = [mp.Process(target=_client_threads, args=(url, actor, share, start, out)) for share in shares]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    results: list[Result] = [out.get() for _ in workers]
    seconds = time.perf_counter() - began
    for worker in workers:
        worker.join()
    accepted = [a for result in results for a in result[0]]
    latencies = [lat for result in results for lat in result[2]]
    return seconds, accepted, sum(result[1] for result in results), latencies


def check(engine: Engine, items: list[int], accepted: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """(items whose level differs from opening + accepted deltas, negative levels, broken chains)."""
    lost = negative = broken = 0
    with engine.connect() as conn:
        for item_id in items:
            stock, reserved = conn.execute(
                select(InventoryItem.stock, InventoryItem.reserved).where(InventoryItem.id == item_id)
            ).one()
            want_stock = OPENING + sum(ds for i, ds, _ in accepted if i == item_id)
            want_reserved = sum(dr for i, _, dr in accepted if i == item_id)
            lost += (stock, reserved) != (want_stock, want_reserved)
            s = r = 0
            for move in conn.execute(
                select(StockMovement).where(StockMovement.item_id == item_id).order_by(StockMovement.id)
            ):
                s, r = s + move.stock_delta, r + move.reserved_delta
                broken += (move.stock_after, move.reserved_after) != (s, r)
                negative += (
                    move.stock_after < 0 or move.reserved_after < 0 or move.reserved_after > move.stock_after
                )
    return lost, negative, broken


def naive_lost_updates(url: str, items: list[int], clients: int, each: int) -> tuple[float, int]:
    """The classic mistake for comparison: read the level, then write the new value back."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE inventory_items SET stock = 1000000, reserved = 0 WHERE id = ANY(%s)", (items,))
    start = threading.Barrier(clients + 1)
    applied: list[tuple[int, int]] = []
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with psycopg.connect(url, autocommit=True) as conn:
            start.wait()
            for _ in range(each):
                item_id, delta = rng.choice(items), rng.randint(1, 5)
                (stock,) = conn.execute(
                    "SELECT stock FROM inventory_items WHERE id = %s", (item_id,)
                ).fetchone()  # type: ignore[misc]
                conn.execute("UPDATE inventory_items SET stock = %s WHERE id = %s", (stock + delta, item_id))
                with lock:
                    applied.append((item_id, delta))

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    with psycopg.connect(url) as conn:
        final: dict[int, int] = dict(
            conn.execute("SELECT id, stock FROM inventory_items WHERE id = ANY(%s)", (items,)).fetchall()
        )
    lost = sum(1_000_000 + sum(d for i, d in applied if i == item_id) - final[item_id] for item_id in items)
    return seconds, lost


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--each", type=int, default=50)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--processes", type=int, default=4, help="client processes (threads in each)")
    args = parser.parse_args()
    total = args.clients * args.each
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(
            Path(tmp) / "cluster", extra_settings=(f"max_connections={args.clients + 50}",)
        )
        server.start()
        try:
            with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench")
            url = server.url("bench")
            engine = make_engine(url)
            migrate.upgrade(engine)
            services = Services.build(engine)
            services.users.bootstrap_user(
                email="bench@shop.example",
                role="manager",
                first_name="Ben",
                last_name="Ch",
                password=PASSWORD,
            )
            actor = services.auth.authenticate("bench@shop.example", PASSWORD).actor

            def fresh_items(prefix: str) -> list[int]:
                return [
                    services.inventory.create_item(
                        actor,
                        ItemFields(
                            f"{prefix}-{n}", f"Item {n}", "Bench", "Acme", Decimal("9.99"), Decimal("4.00")
                        ),
                        stock=OPENING,
                    ).id
                    for n in range(args.items)
                ]

            # Reference 1: the same adjustments, one client, one after another.
            seq_items = fresh_items("SEQ")
            sequential = [[job for jobs in plan(args.clients, args.each, seq_items) for job in jobs]]
            seq_seconds, seq_accepted, seq_refused, seq_lat = run_clients(url, actor, sequential, 1)
            seq_check = check(engine, seq_items, seq_accepted)

            # The measurement: every client at once on the same items.
            items = fresh_items("HOT")
            seconds, accepted, refused, latencies = run_clients(
                url, actor, plan(args.clients, args.each, items), args.processes
            )
            lost, negative, broken = check(engine, items, accepted)

            # Reference 2: the naive read-then-write on the same number of clients.
            naive_seconds, naive_lost = naive_lost_updates(url, items, args.clients, args.each)
            with engine.connect() as db:
                version = db.scalar(text("SHOW server_version"))
            engine.dispose()
        finally:
            server.destroy()

    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else values[0] * 1000

    print(
        f"PostgreSQL {version}, durable commits; "
        f"{args.clients} clients x {args.each} adjustments on {args.items} items; "
        f"clients in {args.processes} processes on {os.cpu_count()} cores"
    )
    print(
        f"{'run':38} {'seconds':>8} {'adj/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'accepted':>9} {'refused':>8}"
    )
    print(
        f"{'one client, in sequence (reference)':38} {seq_seconds:8.2f} {total / seq_seconds:8.0f} "
        f"{pct(seq_lat, 50):8.1f} {pct(seq_lat, 95):8.1f} {len(seq_accepted):9} {seq_refused:8}"
    )
    print(
        f"{f'{args.clients} clients at once':38} {seconds:8.2f} {total / seconds:8.0f} "
        f"{pct(latencies, 50):8.1f} {pct(latencies, 95):8.1f} {len(accepted):9} {refused:8}"
    )
    print(f"throughput ratio, concurrent / sequential: {seq_seconds / seconds:.2f}")
    print(f"lost updates: {lost} items off (reference run: {seq_check[0]})")
    print(
        f"negative or over-reserved levels in the movement log: {negative}; broken movement chains: {broken}"
    )
    print(
        f"naive read-then-write, {args.clients} clients x {args.each}: {naive_seconds:.2f} s, "
        f"{naive_lost:,} units of stock lost"
    )
    ok = lost == 0 and negative == 0 and broken == 0 and seq_check == (0, 0, 0)
    print("RESULT:", "zero lost updates, zero negative levels" if ok else "FAILED")


if __name__ == "__main__":
    main()
