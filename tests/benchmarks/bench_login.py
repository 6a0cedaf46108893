"""Sign-in costs: a right password, a wrong one, an unknown email and a device-token resume, on a
throwaway embedded PostgreSQL. Prints mean/median per path and the ratios that matter:
unknown ÷ wrong should be ≈ 1 (no user enumeration by timing), resume ÷ right ≪ 1 (no hashing).

    .venv/bin/python tests/benchmarks/bench_login.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from sqlalchemy import update

from ecomdesk.db import migrate
from ecomdesk.db.embedded import EmbeddedServer
from ecomdesk.db.engine import make_engine
from ecomdesk.db.models import User
from ecomdesk.services.errors import AuthenticationError
from ecomdesk.services.registry import Services

PASSWORD = "benchmark passphrase 2026"


def timed(call: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        with contextlib.suppress(AuthenticationError):
            call()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp) / "cluster", extra_settings=("fsync=off",))
        server.start()
        try:
            with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench")
            engine = make_engine(server.url("bench"))
            migrate.upgrade(engine)
            services = Services.build(engine)
            services.users.bootstrap_user(
                email="bench@shop.example", role="admin", first_name="Ben", last_name="Ch", password=PASSWORD
            )
            token = services.auth.authenticate("bench@shop.example", PASSWORD, remember=True).token
            assert token

            def wrong() -> object:
                # keep the account under the throttle so every attempt checks the hash
                with engine.begin() as conn:
                    conn.execute(update(User).values(failed_login_count=0))
                return services.auth.authenticate("bench@shop.example", "not the password at all")

            def reset_then_unknown() -> object:
                with engine.begin() as conn:  # same extra statement as `wrong`, for a fair comparison
                    conn.execute(update(User).values(failed_login_count=0))
                return services.auth.authenticate("ghost@shop.example", "not the password at all")

            paths: dict[str, Callable[[], object]] = {
                "right password": lambda: services.auth.authenticate("bench@shop.example", PASSWORD),
                "wrong password": wrong,
                "unknown email": reset_then_unknown,
                "resume token": lambda: services.auth.resume(token),
            }
            for call in paths.values():  # warm up connections and caches
                with contextlib.suppress(AuthenticationError):
                    call()
            results = {name: timed(call, rounds) for name, call in paths.items()}
            engine.dispose()
        finally:
            server.destroy()

    print(f"{'path':16} {'mean ms':>9} {'median ms':>10} {'stdev ms':>9}  (n={rounds})")
    for name, times in results.items():
        print(
            f"{name:16} {statistics.mean(times) * 1e3:9.1f} {statistics.median(times) * 1e3:10.1f} "
            f"{statistics.stdev(times) * 1e3:9.1f}"
        )
    mean = {name: statistics.mean(times) for name, times in results.items()}
    print(f"unknown ÷ wrong (mean): {mean['unknown email'] / mean['wrong password']:.2f}  (target ≈ 1.0)")
    print(f"resume ÷ right  (mean): {mean['resume token'] / mean['right password']:.2f}  (target ≪ 1)")


if __name__ == "__main__":
    main()
