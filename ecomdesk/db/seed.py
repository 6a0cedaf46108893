"""Deterministic demo data for a freshly migrated database: staff, a catalogue, two years of orders.

The demo has to feel like a real shop (so grids, charts and reports have something to show) and
must also load a million inventory rows or ten years of orders in well under a minute (so the grid
and the dashboard can be tried at scale). Big tables are therefore generated in numpy and streamed
with PostgreSQL's COPY; small ones go through SQLAlchemy Core, which also keeps SQLite working.
Every table draws from its own random stream derived from one seed, so changing one table's volume
leaves the others' rows alone.

The daily figures (`sales_metrics`, `customer_metrics`, `customers`) are not simulated: the seed
writes orders and lets `db.metrics` derive the figures from them, exactly as order import
does, so every card on the dashboard traces back to orders, their customers and their lines.

Nothing reads the clock except to default `today`. Every event and change lies before midnight
UTC at the start of `today` (the anchor). The orders, their refunds and so the daily figures fill
whole shop days (in the shop's time zone), ending with the last one that is over by the anchor:
normally the day before `today`. So a fixed `today` and seed give fixed rows, and no day of the
history is cut short.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import time
import unicodedata
import zlib
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, cast

import numpy as np
import psycopg
from numpy.typing import NDArray
from sqlalchemy import Connection, Engine, Table, insert, select, text

from ecomdesk.db import catalog
from ecomdesk.db.catalog import DEMO_ACCOUNTS, DEMO_PASSWORD
from ecomdesk.db.metrics import rebuild, shop_day
from ecomdesk.db.models import OrderStatus, metadata
from ecomdesk.db.seed_catalogue import CATEGORIES, Category

CHANNELS: Final[tuple[str, ...]] = ("web", "mobile_app", "marketplace", "retail_pos", "social")

_CHUNK: Final = 50_000
_DAY: Final = 86_400

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SeedSummary:
    """What the seed wrote, for the CLI and the benchmark to print."""

    counts: dict[str, int]
    seconds: float


def is_seeded(engine: Engine) -> bool:
    """True once any user exists, so `ecomdesk demo` never seeds a database twice."""
    with engine.connect() as conn:
        return _has_users(conn)


#: Tables the demo fills; roles, permissions and migrations' bookkeeping are left alone.
#: Referencing tables come first, so SQLite can delete them in this order. The change log goes
#: too (its truncate triggers then log one "truncate" per table: running apps re-read everything).
DEMO_TABLES: Final = (
    "webhook_attempts", "webhook_deliveries", "webhook_events", "webhook_endpoints", "inbound_events",
    "email_messages", "schedule_marks", "worker_heartbeats",
    "stock_movements", "audit_log", "jobs", "report_chunks", "reports", "analytics_data",
    "customer_metrics", "sales_metrics", "item_sales_daily", "customer_periods", "order_lines",
    "order_events", "customers", "inventory_items", "device_sessions", "user_profiles", "files",
    "file_blobs", "users", "settings", "change_log",
)  # fmt: skip


def reset_demo_data(engine: Engine) -> None:
    """Empty every table the demo fills, so a database can be seeded again (demo and benchmarks)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(DEMO_TABLES)} RESTART IDENTITY"))
        else:
            for table in DEMO_TABLES:
                conn.execute(metadata.tables[table].delete())


def seed_demo_data(
    engine: Engine,
    *,
    hash_password: Callable[[str], str],
    scale: float = 1.0,
    inventory: int | None = None,
    years: float = 2,
    orders: int | None = None,
    random_seed: int = 20261127,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> SeedSummary:
    """Fill an empty, migrated database in one transaction: all of the demo or nothing.

    `scale` sizes everything (staff, catalogue, orders per day); `inventory` overrides the number
    of catalogue items, `years` the length of the order history and `orders` its volume (about
    that many rows in `order_events`, spread with the same rhythm). Ten years of daily figures for
    every channel from about a million orders: `years=10, orders=1_000_000`.

    `hash_password` is called once: argon2 is slow on purpose and every demo user shares
    `DEMO_PASSWORD`. Raises `ValueError` when the database already has users or lacks the
    built-in roles (run the migrations first).
    """
    started = time.perf_counter()
    if scale <= 0:
        raise ValueError("scale must be positive")
    history_days = round(365 * years)
    if history_days < 1:
        raise ValueError("years must cover at least one day")
    if orders is not None and orders < 1:
        raise ValueError("orders must be positive")
    day = today or dt.date.today()
    n_items = inventory if inventory is not None else round(400 * scale)
    if n_items < 0:
        raise ValueError("inventory must not be negative")
    report: Progress = progress or (lambda _message: None)
    counts: dict[str, int] = {}

    with engine.begin() as conn:
        if _has_users(conn):
            raise ValueError("the database already has users; demo data goes into an empty shop only")
        password_hash = hash_password(DEMO_PASSWORD)
        ctx = _Context(conn, random_seed, day, history_days, report)
        if ctx.is_postgres:
            # make_engine's 60 s guard is for interactive queries, not for one bulk load.
            conn.execute(text("SET LOCAL statement_timeout = 0"))
        counts["settings"] = _seed_settings(ctx)
        shop = _shop(ctx)
        staff = _seed_users(ctx, password_hash, max(len(DEMO_ACCOUNTS), round(25 * scale)))
        counts["users"] = counts["user_profiles"] = len(staff)
        samples, catalogue = _seed_inventory(ctx, n_items)
        counts["inventory_items"] = n_items
        sales = _simulate_sales(ctx, shop, scale, orders)
        made = _generate_orders(ctx, shop, sales, catalogue)
        counts["order_events"], counts["order_lines"] = _write_orders(ctx, shop, made, catalogue)
        counts.update(_derive_metrics(ctx))
        counts["analytics_data"] = _seed_analytics(ctx, shop, made, samples, round(400 * scale))
        reports = _seed_reports(ctx, shop, staff)
        counts["reports"] = len(reports)
        movements = _seed_stock_movements(ctx, staff, samples)
        counts["stock_movements"] = len(movements)
        counts["audit_log"] = _seed_audit_log(ctx, staff, samples, reports, movements, round(30 * scale))

    # VACUUM marks the freshly loaded pages all-visible, so the grids' windows and counts are
    # index-only scans from the start instead of after autovacuum comes by; ANALYZE feeds the planner.
    if engine.dialect.name == "postgresql":
        report("vacuum: refreshing planner statistics and the visibility map")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in (
                "inventory_items", "order_events", "order_lines", "customers", "sales_metrics",
                "customer_metrics", "item_sales_daily", "customer_periods", "analytics_data",
            ):  # fmt: skip
                conn.execute(text(f"VACUUM (ANALYZE) {table}"))
    seconds = time.perf_counter() - started
    report(f"done: {sum(counts.values()):,} rows in {seconds:.1f} s")
    return SeedSummary(counts=counts, seconds=seconds)


# --- shared plumbing ----------------------------------------------------------------------------


class _Context:
    """What every step needs: the one connection, the clock and independent random streams."""

    def __init__(
        self, conn: Connection, seed: int, today: dt.date, history_days: int, report: Progress
    ) -> None:
        self.conn = conn
        self.seed = seed
        self.today = today
        self.report = report
        self.is_postgres = conn.dialect.name == "postgresql"
        #: Every generated timestamp lies before this instant.
        self.anchor = dt.datetime.combine(today, dt.time.min, tzinfo=dt.UTC)
        self.anchor_s = int(self.anchor.timestamp())
        #: How many shop days of orders the demo has; staff and items arrived over the same span.
        self.history_days = history_days
        self.history_s = max(history_days, 2) * _DAY

    def np_rng(self, stream: str) -> np.random.Generator:
        return np.random.default_rng([self.seed % 2**63, zlib.crc32(stream.encode())])

    def py_rng(self, stream: str) -> random.Random:
        return random.Random(f"{self.seed}:{stream}")


def _table(name: str) -> Table:
    return metadata.tables[name]


def _has_users(conn: Connection) -> bool:
    users = _table("users")
    return conn.execute(select(users.c.id).limit(1)).first() is not None


def _ts(epoch_s: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC)


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _insert(ctx: _Context, table: str, rows: Sequence[dict[str, Any]]) -> int:
    if rows:
        ctx.conn.execute(insert(_table(table)), list(rows))
    return len(rows)


# --- settings -----------------------------------------------------------------------------------


def _seed_settings(ctx: _Context) -> int:
    """Only missing keys: a value someone already chose (or a migration wrote) wins."""
    settings = _table("settings")
    present = set(ctx.conn.execute(select(settings.c.key)).scalars())
    rows = [{"key": k, "value": v} for k, v in catalog.DEFAULT_SETTINGS.items() if k not in present]
    ctx.report(f"settings: {len(rows)} added")
    return _insert(ctx, "settings", rows)


# --- staff --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Staff:
    id: int
    email: str
    role: str
    active: bool
    created_at: dt.datetime
    #: When an admin deactivated the account; None while it is active.
    deactivated_at: dt.datetime | None


@dataclass(frozen=True)
class _Person:
    first_name: str
    last_name: str
    phone: str
    address: str


_TRANSLITERATION: Final = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def _email_part(name: str) -> str:
    """`Jürgen` -> `juergen`, `von der Heide` -> `von-der-heide`: plain ASCII local parts."""
    ascii_name = unicodedata.normalize("NFKD", name.lower().translate(_TRANSLITERATION))
    ascii_name = ascii_name.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-") or "staff"


def _people(ctx: _Context, count: int) -> list[_Person]:
    """Faker, seeded per locale; the locale itself is drawn from our own stream.

    Faker's multi-locale proxy picks locales with the global `random` module, which would make
    the output depend on whatever else ran before, so each locale gets its own instance.
    """
    from faker import Faker  # slow to import; only the seed needs it

    fakers = {locale: Faker(locale) for locale in ("en_US", "de_DE")}
    for index, fake in enumerate(fakers.values()):
        fake.seed_instance(ctx.seed + index)
    pick = ctx.py_rng("people")
    people = []
    for _ in range(count):
        locale = pick.choice(("en_US", "de_DE"))
        fake = fakers[locale]
        first, last, street = str(fake.first_name()), str(fake.last_name()), str(fake.street_address())
        if locale == "en_US":
            # Faker's US numbers carry extensions and 001- prefixes, its addresses military ones.
            phone = str(fake.numerify("+1 (%##) %##-####"))
            address = f"{street}, {fake.city()}, {fake.state_abbr()} {fake.postcode()}"
        else:
            phone, address = str(fake.phone_number()), f"{street}, {fake.postcode()} {fake.city()}"
        people.append(_Person(first, last, phone, address))
    return people


def _staff_roles(count: int) -> list[str]:
    """The demo accounts first, then roughly 3 admins : 7 managers : 12 viewers."""
    extra = max(0, count - len(DEMO_ACCOUNTS))
    admins, managers = round(extra * 3 / 22), round(extra * 7 / 22)
    return (
        [role for _email, role in DEMO_ACCOUNTS]
        + [catalog.ADMIN] * admins
        + [catalog.MANAGER] * managers
        + [catalog.VIEWER] * (extra - admins - managers)
    )


def _seed_users(ctx: _Context, password_hash: str, count: int) -> list[_Staff]:
    roles = _table("roles")
    role_ids = {
        str(name).lower(): int(role_id)
        for role_id, name in ctx.conn.execute(select(roles.c.id, roles.c.name))
    }
    missing = [role for _email, role in DEMO_ACCOUNTS if role not in role_ids]
    if missing:
        raise ValueError(f"built-in roles missing ({', '.join(missing)}); run the migrations first")

    rng = ctx.py_rng("users")
    people = _people(ctx, count)
    role_names = _staff_roles(count)
    # Sorted, so ids grow with the hire date as they would in a real shop.
    hired = sorted(
        ctx.anchor_s - rng.randrange(_DAY, ctx.history_s) for _ in range(count - len(DEMO_ACCOUNTS))
    )
    first_day = ctx.anchor_s - ctx.history_s + 9 * 3600
    taken: set[str] = {email for email, _role in DEMO_ACCOUNTS}

    user_rows: list[dict[str, Any]] = []
    profile_rows: list[dict[str, Any]] = []
    plans: list[tuple[str, str, bool, int, int | None]] = []
    for index, (person, role) in enumerate(zip(people, role_names, strict=True)):
        if index < len(DEMO_ACCOUNTS):
            email, created, active = DEMO_ACCOUNTS[index][0], first_day + index * 60, True
            first, last = "Demo", role.capitalize()
        else:
            first, last = person.first_name, person.last_name
            email = _unique_email(f"{_email_part(first)}.{_email_part(last)}", taken)
            created, active = hired[index - len(DEMO_ACCOUNTS)], rng.random() >= 0.1
        deactivated = None if active else created + int((ctx.anchor_s - created) * rng.uniform(0.3, 0.95))
        last_seen = deactivated or ctx.anchor_s
        last_login = None
        if rng.random() < 0.75:
            last_login = max(created, last_seen - rng.randrange(60, 30 * _DAY))
        plans.append((email, role, active, created, deactivated))
        changed = _ts(deactivated or created)
        user_rows.append(
            {
                "email": email,
                "password_hash": password_hash,
                "role_id": role_ids[role],
                "must_change_password": False,
                "failed_login_count": 0,
                "last_login_at": None if last_login is None else _ts(last_login),
                "created_at": _ts(created),
                "updated_at": changed,
            }
        )
        profile_rows.append(
            {
                "first_name": first,
                "last_name": last,
                "phone": person.phone,
                "address": person.address,
                "is_active": active,
                "created_at": _ts(created),
                "updated_at": changed,
            }
        )

    users = _table("users")
    ids = ctx.conn.execute(insert(users).returning(users.c.id, sort_by_parameter_order=True), user_rows)
    user_ids = [int(row_id) for row_id in ids.scalars()]
    for user_id, profile in zip(user_ids, profile_rows, strict=True):
        profile["user_id"] = user_id
    _insert(ctx, "user_profiles", profile_rows)
    ctx.report(f"users: {count:,} with profiles")
    return [
        _Staff(user_id, email, role, active, _ts(created), None if off is None else _ts(off))
        for user_id, (email, role, active, created, off) in zip(user_ids, plans, strict=True)
    ]


def _unique_email(local: str, taken: set[str]) -> str:
    candidate, suffix = f"{local}@demo.shop", 2
    while candidate in taken:
        candidate, suffix = f"{local}{suffix}@demo.shop", suffix + 1
    taken.add(candidate)
    return candidate


# --- inventory ----------------------------------------------------------------------------------


#: How a category's orders split over its suppliers, by how many it has.
_SUPPLIER_SHARES: Final[dict[int, tuple[float, ...]]] = {2: (0.75, 0.25), 3: (0.55, 0.3, 0.15)}
_PRICE_ENDINGS: Final = (np.array([99, 49, 95, 0, 90]), np.array([0.55, 0.15, 0.12, 0.1, 0.08]))
_REORDER_LEVELS: Final = (
    np.array([5, 10, 15, 20, 25, 30, 50, 75, 100]),
    np.array([0.12, 0.22, 0.12, 0.16, 0.1, 0.08, 0.12, 0.04, 0.04]),
)
_INVENTORY_COLUMNS: Final = (
    "sku", "name", "category", "supplier", "stock", "reserved", "price", "cost", "reorder_level",
    "created_at", "last_updated",
)  # fmt: skip


def _all_names(category: Category) -> NDArray[np.object_]:
    """Every name a category can produce, so a chunk picks names by index instead of formatting."""
    names = [
        category.pattern.format(a=a, m=m, n=n, v=v)
        for a in category.adjectives
        for m in category.materials
        for n in category.nouns
        for v in category.variants
    ]
    return np.array(names, dtype=object)


@dataclass(frozen=True)
class _ItemSample:
    """A generated item kept in memory so analytics and audit entries can point at real rows."""

    sku: str
    name: str
    category: str
    stock: int
    reserved: int
    price_cents: int
    reorder_level: int | None
    last_updated_s: int


@dataclass(frozen=True)
class _InventoryChunk:
    sku: list[str]
    name: list[str]
    category: list[str]
    supplier: list[str]
    stock: list[int]
    reserved: list[int]
    price_cents: list[int]
    cost_cents: list[int]
    #: -1 stands for NULL (the shop-wide threshold applies).
    reorder_level: list[int]
    created_s: list[int]
    updated_s: list[int]


class _InventoryGenerator:
    """Produces items chunk by chunk from one random stream; SKUs are numbered per category."""

    def __init__(self, ctx: _Context) -> None:
        self.rng = ctx.np_rng("inventory")
        self.anchor_s = ctx.anchor_s
        self.history_s = ctx.history_s
        self.names = [_all_names(category) for category in CATEGORIES]
        shares = np.array([category.share for category in CATEGORIES])
        self.shares = shares / shares.sum()
        self.counters = [0] * len(CATEGORIES)
        self.produced = 0

    def chunks(self, total: int) -> Iterator[_InventoryChunk]:
        while self.produced < total:
            chunk = self._chunk(min(_CHUNK, total - self.produced))
            self.produced += len(chunk.sku)
            yield chunk

    def _chunk(self, n: int) -> _InventoryChunk:
        rng = self.rng
        which = rng.choice(len(CATEGORIES), size=n, p=self.shares)
        sku = np.empty(n, dtype=object)
        name = np.empty(n, dtype=object)
        supplier = np.empty(n, dtype=object)
        price_units = np.empty(n, dtype=np.int64)
        for index, category in enumerate(CATEGORIES):
            rows = np.flatnonzero(which == index)
            k = len(rows)
            if not k:
                continue
            first = self.counters[index] + 1
            self.counters[index] += k
            sku[rows] = [f"{category.prefix}-{number:06d}" for number in range(first, first + k)]
            name[rows] = self.names[index][rng.integers(len(self.names[index]), size=k)]
            suppliers = np.array(category.suppliers, dtype=object)
            supplier[rows] = suppliers[rng.choice(len(suppliers), size=k, p=_SUPPLIER_SHARES[len(suppliers)])]
            low, high = category.price_range
            price_units[rows] = np.floor(np.exp(rng.uniform(math.log(low), math.log(high), size=k)))
        endings, ending_p = _PRICE_ENDINGS
        price = np.maximum(price_units, 1) * 100 + rng.choice(endings, size=n, p=ending_p)
        cost = np.rint(price * rng.uniform(0.40, 0.75, size=n)).astype(np.int64)

        # Mostly 11-500 on hand, with a share sold out, a share running low and a few bulk lines.
        bucket = rng.random(n)
        regular = np.minimum(11 + rng.gamma(1.6, 70.0, size=n).astype(np.int64), 500)
        stock = np.where(
            bucket < 0.07,
            0,
            np.where(
                bucket < 0.19,
                rng.integers(1, 11, size=n),
                np.where(bucket < 0.97, regular, rng.integers(500, 2001, size=n)),
            ),
        )
        reserved = np.where(rng.random(n) < 0.45, (stock * rng.random(n) * 0.25).astype(np.int64), 0)
        levels, level_p = _REORDER_LEVELS
        reorder = np.where(rng.random(n) < 0.6, rng.choice(levels, size=n, p=level_p), -1)

        created = self.anchor_s - rng.integers(3600, self.history_s, size=n)
        touched = rng.random(n) < 0.8
        since = (self.anchor_s - 60 - created) * (1.0 - rng.random(n) ** 3)
        updated = np.where(touched, created + since.astype(np.int64), created)

        category_names = np.array([category.name for category in CATEGORIES], dtype=object)
        return _InventoryChunk(
            sku=sku.tolist(),
            name=name.tolist(),
            category=category_names[which].tolist(),
            supplier=supplier.tolist(),
            stock=stock.tolist(),
            reserved=reserved.tolist(),
            price_cents=price.tolist(),
            cost_cents=cost.tolist(),
            reorder_level=reorder.tolist(),
            created_s=created.tolist(),
            updated_s=updated.tolist(),
        )


def _copy_text(chunk: _InventoryChunk) -> str:
    """COPY's text format; our words contain no tab, newline or backslash, so nothing to escape."""
    created = np.datetime_as_string(np.array(chunk.created_s, dtype="datetime64[s]"), unit="s").tolist()
    updated = np.datetime_as_string(np.array(chunk.updated_s, dtype="datetime64[s]"), unit="s").tolist()
    reorder = [r"\N" if level < 0 else str(level) for level in chunk.reorder_level]
    return "".join(
        [
            f"{sku}\t{name}\t{category}\t{supplier}\t{stock}\t{reserved}\t{price // 100}.{price % 100:02d}\t"
            f"{cost // 100}.{cost % 100:02d}\t{level}\t{made}+00\t{changed}+00\n"
            for sku, name, category, supplier, stock, reserved, price, cost, level, made, changed in zip(
                chunk.sku,
                chunk.name,
                chunk.category,
                chunk.supplier,
                chunk.stock,
                chunk.reserved,
                chunk.price_cents,
                chunk.cost_cents,
                reorder,
                created,
                updated,
                strict=True,
            )
        ]
    )


def _core_rows(chunk: _InventoryChunk) -> list[dict[str, Any]]:
    return [
        {
            "sku": sku,
            "name": name,
            "category": category,
            "supplier": supplier,
            "stock": stock,
            "reserved": reserved,
            "price": _money(price),
            "cost": _money(cost),
            "reorder_level": None if level < 0 else level,
            "created_at": _ts(made),
            "last_updated": _ts(changed),
        }
        for sku, name, category, supplier, stock, reserved, price, cost, level, made, changed in zip(
            chunk.sku,
            chunk.name,
            chunk.category,
            chunk.supplier,
            chunk.stock,
            chunk.reserved,
            chunk.price_cents,
            chunk.cost_cents,
            chunk.reorder_level,
            chunk.created_s,
            chunk.updated_s,
            strict=True,
        )
    ]


def _samples(chunk: _InventoryChunk, count: int) -> list[_ItemSample]:
    return [
        _ItemSample(
            sku=chunk.sku[i],
            name=chunk.name[i],
            category=chunk.category[i],
            stock=chunk.stock[i],
            reserved=chunk.reserved[i],
            price_cents=chunk.price_cents[i],
            reorder_level=None if chunk.reorder_level[i] < 0 else chunk.reorder_level[i],
            last_updated_s=chunk.updated_s[i],
        )
        for i in range(min(count, len(chunk.sku)))
    ]


@dataclass(frozen=True)
class _Catalogue:
    """The items orders are made of: the shop's active range, at most `_ACTIVE_RANGE` items."""

    sku: NDArray[np.object_]
    price_cents: NDArray[np.int64]


#: How many items sell at all: the rest of a big catalogue is the long tail that never moves.
_ACTIVE_RANGE: Final = 2_000


def _catalogue(chunk: _InventoryChunk) -> _Catalogue:
    count = min(_ACTIVE_RANGE, len(chunk.sku))
    return _Catalogue(
        np.array(chunk.sku[:count], dtype=object), np.array(chunk.price_cents[:count], dtype=np.int64)
    )


def _seed_inventory(ctx: _Context, total: int) -> tuple[list[_ItemSample], _Catalogue]:
    """Insert `total` items chunk by chunk; returns the first few for the events and the audit log,
    and the first chunk's active range for the orders."""
    generator = _InventoryGenerator(ctx)
    samples: list[_ItemSample] = []
    catalogue = _Catalogue(np.array([], dtype=object), np.array([], dtype=np.int64))
    ctx.report(f"inventory: 0 / {total:,}")
    if ctx.is_postgres and total:
        loading = _copy(ctx, "inventory_items", _INVENTORY_COLUMNS)
        with _bulk_load(ctx, "inventory_items"), loading as copy:
            for chunk in generator.chunks(total):
                if not samples:
                    samples, catalogue = _samples(chunk, 300), _catalogue(chunk)
                copy.write(_copy_text(chunk))
                ctx.report(f"inventory: {generator.produced:,} / {total:,}")
        return samples, catalogue
    for chunk in generator.chunks(total):
        if not samples:
            samples, catalogue = _samples(chunk, 300), _catalogue(chunk)
        _insert(ctx, "inventory_items", _core_rows(chunk))
        ctx.report(f"inventory: {generator.produced:,} / {total:,}")
    return samples, catalogue


@contextmanager
def _copy(ctx: _Context, table: str, columns: Sequence[str]) -> Iterator[psycopg.Copy]:
    """One COPY for all chunks, inside the seed's transaction.

    The default (synchronous) writer is kept on purpose: it makes progress follow what the
    server has taken in. A queued writer thread measured only ~1 s faster per million rows.
    """
    raw = cast(psycopg.Connection[Any], ctx.conn.connection.driver_connection)
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        yield copy


@contextmanager
def _bulk_load(ctx: _Context, *tables: str) -> Iterator[None]:
    """Build the tables' secondary indexes and unique constraints, and check their foreign keys,
    once after the load instead of row by row during it.

    That halves a million-row inventory load (about 20 s -> 10 s on two cores); for the order
    lines, checking the key against the orders in one join instead of once per line takes 0.2 s
    instead of 6 s per 600,000 lines. The definitions come from the database itself, so whatever
    the migrations created is recreated exactly; primary keys stay (their ids only ever append),
    and the transaction makes it all or nothing.
    """
    names = {"tables": list(tables)}
    foreign_keys = ctx.conn.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'f' AND (conrelid::regclass::text = ANY(:tables)"
            " OR confrelid::regclass::text = ANY(:tables)) ORDER BY 1, 2"
        ),
        names,
    ).all()
    uniques = ctx.conn.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'u' AND conrelid::regclass::text = ANY(:tables) ORDER BY 1, 2"
        ),
        names,
    ).all()
    indexes = ctx.conn.execute(
        text(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid::regclass::text = ANY(:tables)"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
            " ORDER BY 1"
        ),
        names,
    ).all()
    for table, name, _definition in (*foreign_keys, *uniques):
        ctx.conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _definition in indexes:
        ctx.conn.exec_driver_sql(f"DROP INDEX {name}")
    yield
    label = ", ".join(tables)
    ctx.report(f"{label}: building {len(indexes) + len(uniques)} indexes, checking {len(foreign_keys)} keys")
    ctx.conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '128MB'")
    for _name, definition in indexes:
        ctx.conn.exec_driver_sql(definition)
    for table, name, definition in (*uniques, *foreign_keys):
        ctx.conn.exec_driver_sql(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


# --- orders, customers and sessions -------------------------------------------------------------

#: Paid orders on a typical day at the start of the history (scale 1), per channel.
_BASE_ORDERS: Final = np.array([180.0, 120.0, 90.0, 60.0, 12.0])
#: Growth per year, per channel: selling through social media starts small and catches up.
_GROWTH: Final = np.array([1.12, 1.12, 1.12, 1.12, 1.35])
#: Average order value in euros, per channel: what each channel's item mix aims at.
_BASE_AOV: Final = np.array([62.0, 48.0, 39.0, 35.0, 44.0])
#: Conversion (orders per storefront session), per channel.
_CONVERSION: Final = np.array([0.026, 0.019, 0.034, 0.031, 0.017])
#: Monday..Sunday multipliers: web peaks on Sundays, the app on whole weekends, the shop
#: floor on Saturdays (and is nearly closed on Sundays), the marketplace barely cares, social
#: follows the weekend scrolling.
_WEEKLY: Final = np.array(
    [
        [1.00, 0.98, 0.97, 0.99, 0.95, 1.08, 1.22],
        [0.92, 0.90, 0.91, 0.95, 1.02, 1.28, 1.33],
        [1.06, 1.02, 1.00, 1.00, 0.98, 0.96, 1.00],
        [0.88, 0.92, 0.95, 1.00, 1.18, 1.55, 0.18],
        [0.94, 0.92, 0.95, 0.98, 1.04, 1.14, 1.22],
    ]
).T
#: Orders per local hour 0..23, relative, per channel: evenings online, opening hours in the shop.
_HOURLY: Final = np.array(
    [
        [2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 7, 6, 6, 6, 7, 8, 10, 11, 10, 7, 4],
        [3, 2, 1, 1, 1, 1, 2, 4, 5, 5, 5, 6, 7, 6, 5, 5, 6, 7, 9, 11, 12, 11, 8, 5],
        [3, 2, 2, 1, 1, 2, 3, 4, 5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 6, 5, 4],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 7, 9, 10, 9, 8, 8, 9, 10, 9, 6, 0, 0, 0, 0],
        [3, 2, 1, 1, 0, 0, 1, 2, 3, 3, 4, 5, 6, 5, 4, 4, 5, 6, 8, 10, 12, 12, 10, 6],
    ],
    dtype=np.float64,
)
#: An order has 1 + Binomial(3, p) lines, p per channel; the December rush adds gift baskets.
_EXTRA_LINE: Final = np.array([0.22, 0.17, 0.08, 0.20, 0.12])
_QUANTITIES: Final = (np.array([1, 2, 3, 4, 6]), np.array([0.84, 0.10, 0.03, 0.02, 0.01]))
#: How likely the n-th most popular item sells, against the first: n ** -_POPULARITY.
_POPULARITY: Final = 0.55
#: Cheaper items sell better, by (1 + price / _CHEAP) ** -b with b fitted per channel: below
#: about this price (euros) cheaper no longer helps much, so no cheap trinket tops every list.
_CHEAP: Final = 20.0
#: Payment methods per channel, the most common first.
_PAYMENTS: Final[tuple[tuple[str, ...], ...]] = (
    ("card", "paypal", "klarna", "apple_pay"),
    ("apple_pay", "google_pay", "card", "paypal"),
    ("marketplace",),
    ("card", "cash"),
    ("card", "paypal", "apple_pay"),
)
_REFUND_REASONS: Final = ("damaged", "wrong_size", "not_as_described", "changed_mind", "arrived_late")
_REFUND_RATE: Final = 0.03
_CANCEL_RATE: Final = 0.015
#: Share of orders placed by first-time buyers once the shop is established ...
_NEW_SHARE_FLOOR: Final = 0.20
#: ... and how fast a young shop's all-new customers settle towards it: with a customer base of
#: this many days' orders, half the excess over the floor is gone.
_NEW_SHARE_SETTLE: Final = 6.0
#: How much likelier one customer is than another to come back: log-normal (sigma), capped.
_LOYALTY: Final = (0.9, 12.0)
#: The pull of the last order fades with the days since: fast at first, with a long tail
#: ((weight, days) of two exponential decays). Tuned so that about a quarter of a month's new
#: customers order again the next month, fewer in the months after.
_RECENCY: Final = ((1.0, 30.0), (0.1, 150.0))
#: Statuses by code, as `_Orders.status` holds them.
_STATUSES: Final = (OrderStatus.PAID, OrderStatus.REFUNDED, OrderStatus.PENDING, OrderStatus.CANCELLED)
_PAID, _REFUNDED, _PENDING, _CANCELLED = range(4)
_ORDER_COLUMNS: Final = (
    "order_id", "customer_id", "channel", "currency", "status", "amount", "occurred_at", "paid_date",
    "refund_amount", "refunded_at", "refund_date", "metadata", "created_at", "updated_at",
)  # fmt: skip
_LINE_COLUMNS: Final = ("order_id", "line_no", "sku", "quantity", "unit_price")


@dataclass(frozen=True)
class _Shop:
    """What the orders depend on: the shop's settings and the shop days of the history."""

    zone: zoneinfo.ZoneInfo
    currency: str
    #: The history's shop days, oldest first; the last one is over by the anchor.
    dates: list[dt.date]
    #: When each day of `dates` begins (UTC epoch seconds), then when the day after the last begins.
    starts: NDArray[np.int64]

    def days(self, epoch_s: NDArray[np.int64]) -> NDArray[np.int64]:
        """The shop days of UTC moments, as offsets from the first day of the history.

        Asked of `metrics.shop_day` moment by moment (about a second per million), so the seed's
        days are the ones order import would give, in any time zone.
        """
        zone, first = self.zone, self.dates[0].toordinal()
        days = (
            shop_day(dt.datetime.fromtimestamp(moment, dt.UTC), zone).toordinal() - first
            for moment in epoch_s.tolist()
        )
        return np.fromiter(days, dtype=np.int64, count=len(epoch_s))


def _shop(ctx: _Context) -> _Shop:
    """The shop's time zone and currency as the settings hold them (the demo's own defaults unless
    someone chose otherwise), and the whole shop days before the anchor."""
    settings = _table("settings")
    stored: dict[str, Any] = {
        key: value for key, value in ctx.conn.execute(select(settings.c.key, settings.c.value))
    }
    zone_name = str(stored.get("shop.timezone", catalog.DEFAULT_SETTINGS["shop.timezone"]))
    currency = str(stored.get("shop.currency", catalog.DEFAULT_SETTINGS["shop.currency"]))
    zone = zoneinfo.ZoneInfo(zone_name)
    last = shop_day(ctx.anchor, zone) - dt.timedelta(days=1)
    dates = [last - dt.timedelta(days=ctx.history_days - 1 - i) for i in range(ctx.history_days)]
    starts = np.array(
        [
            int(dt.datetime.combine(day, dt.time.min, tzinfo=zone).timestamp())
            for day in (*dates, last + dt.timedelta(days=1))
        ],
        dtype=np.int64,
    )
    return _Shop(zone, currency, dates, starts)


@dataclass(frozen=True)
class _Sales:
    """The daily simulation the orders are drawn from."""

    dates: list[dt.date]
    #: Paid orders per shop day and channel, shape (days, channels); at least one each.
    orders: NDArray[np.int64]
    #: Shape (days,): how far into the peak season each day is, 0..1.
    season_peak: NDArray[np.float64]


def _black_friday(year: int) -> dt.date:
    november_first = dt.date(year, 11, 1)
    return november_first + dt.timedelta(days=(4 - november_first.weekday()) % 7 + 21)


def _season(day: dt.date) -> tuple[float, float]:
    """(demand multiplier, peak-season weight): November/December up, a summer dip, holidays."""
    doy = day.timetuple().tm_yday
    peak = math.exp(-0.5 * ((doy - 338) / 16) ** 2)
    factor = 1.0 - 0.15 * math.exp(-0.5 * ((doy - 212) / 24) ** 2) + 0.45 * peak
    days_after_black_friday = (day - _black_friday(day.year)).days
    factor *= {0: 2.3, 1: 1.6, 2: 1.4, 3: 1.9}.get(days_after_black_friday, 1.0)
    factor *= {(12, 24): 0.55, (12, 25): 0.4, (12, 26): 0.6, (12, 31): 0.7, (1, 1): 0.5}.get(
        (day.month, day.day), 1.0
    )
    return factor, peak


def _simulate_sales(ctx: _Context, shop: _Shop, scale: float, orders: int | None) -> _Sales:
    """How many orders each shop day and channel gets: weekly rhythm, seasons, growth and noise,
    `scale` times the base volume, or as much as makes about `orders` orders in all."""
    rng = ctx.np_rng("sales")
    dates = shop.dates
    n = len(dates)
    seasons = np.array([_season(day) for day in dates])
    weekly = _WEEKLY[[day.weekday() for day in dates]]
    growth = _GROWTH ** (np.arange(n) / 365.25)[:, None]
    shared_noise = rng.lognormal(0.0, 0.05, size=(n, 1))
    expected = (
        _BASE_ORDERS
        * weekly
        * seasons[:, :1]
        * growth
        * shared_noise
        * rng.lognormal(0.0, 0.07, size=(n, len(CHANNELS)))
    )
    # The shop floor opens only for a few hours on these public holidays.
    short_hours = np.array([(day.month, day.day) in {(12, 25), (12, 26), (1, 1)} for day in dates])
    expected[short_hours, CHANNELS.index("retail_pos")] *= 0.2
    volume = scale if orders is None else orders / (1 + _CANCEL_RATE) / expected.sum()
    # At least one order a day keeps every day's conversion rate defined for the charts.
    paid = np.maximum(rng.poisson(expected * volume), 1).astype(np.int64)
    return _Sales(dates, paid, seasons[:, 1])


def _customers_by_day(ctx: _Context, sales: _Sales) -> tuple[NDArray[np.int64], int]:
    """Who placed each paid order, day by day: a first-time buyer (a large share while the shop is
    young and in the Christmas rush) or a returning one, drawn by loyalty times recency.

    Returns each paid order's customer, for the orders laid out day by day as `sales.orders`
    counts them, and how many customers there are (numbered from 0 by their first day).
    A recency weight exp(-(day - last) / tau) is kept as exp((last - ref) / tau), so a day only
    touches the customers who order on it; `ref` moves on before the numbers grow too large.
    """
    rng = ctx.np_rng("customers")
    per_day = sales.orders.sum(axis=1)
    total = int(per_day.sum())
    (weight_fast, tau_fast), (weight_slow, tau_slow) = _RECENCY
    sigma, cap = _LOYALTY
    loyalty = np.empty(total)
    fast = np.empty(total)
    slow = np.empty(total)
    who = np.empty(total, dtype=np.int64)
    known = placed = ref = 0
    for day, (count, peak) in enumerate(zip(per_day.tolist(), sales.season_peak.tolist(), strict=True)):
        if day - ref > 1_000:
            fast[:known] *= math.exp((ref - day) / tau_fast)
            slow[:known] *= math.exp((ref - day) / tau_slow)
            ref = day
        settle = _NEW_SHARE_SETTLE * count
        share = _NEW_SHARE_FLOOR + 0.08 * peak + (1 - _NEW_SHARE_FLOOR) * settle / (settle + known)
        new = int(rng.binomial(count, min(share, 1.0)))
        chosen = np.empty(count, dtype=np.int64)
        chosen[:new] = np.arange(known, known + new)
        loyalty[known : known + new] = np.minimum(rng.lognormal(0.0, sigma, new), cap)
        if count > new:
            pull = weight_fast * math.exp((ref - day) / tau_fast) * fast[:known]
            pull += weight_slow * math.exp((ref - day) / tau_slow) * slow[:known]
            cumulative = np.cumsum(pull)
            drawn = np.searchsorted(cumulative, rng.random(count - new) * cumulative[-1], side="right")
            chosen[new:] = np.minimum(drawn, known - 1)
        known += new
        fast[chosen] = loyalty[chosen] * math.exp((day - ref) / tau_fast)
        slow[chosen] = loyalty[chosen] * math.exp((day - ref) / tau_slow)
        who[placed : placed + count] = rng.permutation(chosen)
        placed += count
    return who, known


@dataclass(frozen=True)
class _Orders:
    """Every generated order, oldest first, as parallel columns, then their lines."""

    #: Numbered from 0 in the order of each customer's first order.
    customer: NDArray[np.int64]
    channel: NDArray[np.int64]
    #: Index into `_STATUSES`.
    status: NDArray[np.int64]
    amount_cents: NDArray[np.int64]
    occurred_s: NDArray[np.int64]
    updated_s: NDArray[np.int64]
    #: The shop day of `occurred_s` (of the payment, for paid orders), from the history's first day.
    day: NDArray[np.int64]
    #: 0 where there is no refund; then `refunded_s` and `refund_day` mean nothing.
    refund_cents: NDArray[np.int64]
    refunded_s: NDArray[np.int64]
    refund_day: NDArray[np.int64]
    #: Index into the flattened `_PAYMENTS`.
    payment: NDArray[np.int64]
    #: Index into `_REFUND_REASONS`; -1 without a refund.
    reason: NDArray[np.int64]
    #: The lines, grouped by order in order: which order (an index into the columns above), the
    #: line number from 1, the item (an index into the catalogue) and how many.
    line_order: NDArray[np.int64]
    line_no: NDArray[np.int64]
    line_item: NDArray[np.int64]
    line_quantity: NDArray[np.int64]


def _generate_orders(ctx: _Context, shop: _Shop, sales: _Sales, catalogue: _Catalogue) -> _Orders:
    """The paid orders the simulation counts, their customers, lines and refunds, plus cancelled
    orders over the whole history and a few recent ones still awaiting payment."""
    rng = ctx.np_rng("orders")
    n_days, n_channels = sales.orders.shape
    paid_day = np.repeat(np.arange(n_days), sales.orders.sum(axis=1))
    paid_channel = np.repeat(np.tile(np.arange(n_channels), n_days), sales.orders.ravel())
    ctx.report(f"orders: choosing the customers of {len(paid_day):,} orders")
    paid_customer, customers = _customers_by_day(ctx, sales)
    paid_at = _moments(rng, shop, paid_day, paid_channel)
    n_paid = len(paid_day)

    # Somebody changed their mind: cancelled, and (mostly) ordered again shortly after.
    again = rng.integers(0, n_paid, size=round(n_paid * _CANCEL_RATE))
    cancelled_at = np.maximum(paid_at[again] - rng.integers(900, 3 * 3600, size=len(again)), shop.starts[0])
    # Awaiting payment as the history ends: half of them by people who never bought before.
    online = np.array([c for c, name in enumerate(CHANNELS) if name != "retail_pos"])
    last_day = sales.orders[-1, online]
    pending = max(3, round(0.012 * int(sales.orders[-1].sum())))
    pending_channel = online[rng.choice(len(online), size=pending, p=last_day / last_day.sum())]
    recent = np.flatnonzero(paid_day >= n_days - 30)
    pending_customer = np.where(
        rng.random(pending) < 0.5,
        customers + np.arange(pending),
        paid_customer[rng.choice(recent, size=pending)],
    )
    pending_at = shop.starts[-1] - rng.integers(60, 3 * 3600, size=pending)

    channel = np.concatenate([paid_channel, pending_channel, paid_channel[again]])
    customer = np.concatenate([paid_customer, pending_customer, paid_customer[again]])
    occurred = np.concatenate([paid_at, pending_at, cancelled_at])
    status = np.concatenate(
        [np.full(n_paid, _PAID), np.full(pending, _PENDING), np.full(len(again), _CANCELLED)]
    )
    updated = occurred.copy()
    updated[status == _CANCELLED] += rng.integers(60, 900, size=len(again))
    ctx.report(f"orders: shop days of {len(occurred):,} orders in {shop.zone.key}")
    day = shop.days(occurred)
    amount, lines = _order_lines(
        ctx.np_rng("order-lines"), catalogue, channel, sales.season_peak[np.clip(day, 0, n_days - 1)]
    )

    # Refunds 1-20 days after the payment; one not made within the history leaves the order paid.
    refund_cents = np.zeros(len(status), dtype=np.int64)
    refunded = np.zeros(len(status), dtype=np.int64)
    refund_day = np.zeros(len(status), dtype=np.int64)
    reason = np.full(len(status), -1, dtype=np.int64)
    candidates = np.flatnonzero(rng.random(n_paid) < _REFUND_RATE)
    moment = paid_at[candidates] + (rng.uniform(1.0, 20.0, size=len(candidates)) * _DAY).astype(np.int64)
    whole = rng.random(len(candidates)) < 0.7
    part = np.maximum(np.rint(amount[candidates] * rng.uniform(0.2, 0.8, size=len(candidates))), 1)
    reasons = rng.integers(0, len(_REFUND_REASONS), size=len(candidates))
    in_history = moment < shop.starts[-1]
    refunds = candidates[in_history]
    refund_cents[refunds] = np.where(whole, amount[candidates], part)[in_history]
    refunded[refunds] = moment[in_history]
    refund_day[refunds] = shop.days(moment[in_history])
    reason[refunds] = reasons[in_history]
    status[refunds] = _REFUNDED
    updated[refunds] = moment[in_history]

    payment = np.empty(len(status), dtype=np.int64)
    offset = 0
    for c, methods in enumerate(_PAYMENTS):
        rows = np.flatnonzero(channel == c)
        odds = 0.5 ** np.arange(len(methods))
        payment[rows] = offset + rng.choice(len(methods), size=len(rows), p=odds / odds.sum())
        offset += len(methods)

    # Oldest first; customers renumbered by their first order, as a shop's own numbers would run.
    order = np.argsort(occurred, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    line_order, line_no, line_item, line_quantity = lines
    line_rank = rank[line_order]
    by_order = np.lexsort((line_no, line_rank))
    first_seen = np.unique(customer[order], return_index=True)
    number = np.empty(int(customer.max()) + 1, dtype=np.int64)
    number[first_seen[0][np.argsort(first_seen[1])]] = np.arange(len(first_seen[0]))
    return _Orders(
        customer=number[customer[order]],
        channel=channel[order],
        status=status[order],
        amount_cents=amount[order],
        occurred_s=occurred[order],
        updated_s=updated[order],
        day=day[order],
        refund_cents=refund_cents[order],
        refunded_s=refunded[order],
        refund_day=refund_day[order],
        payment=payment[order],
        reason=reason[order],
        line_order=line_rank[by_order],
        line_no=line_no[by_order],
        line_item=line_item[by_order],
        line_quantity=line_quantity[by_order],
    )


def _moments(
    rng: np.random.Generator, shop: _Shop, day: NDArray[np.int64], channel: NDArray[np.int64]
) -> NDArray[np.int64]:
    """A time on each order's shop day, by the clock on the wall and its channel's hours. On the
    few days the clocks change, the zone's rules turn each wall time into its moment."""
    hour = np.empty(len(day), dtype=np.int64)
    for c in range(len(CHANNELS)):
        rows = np.flatnonzero(channel == c)
        hour[rows] = rng.choice(24, size=len(rows), p=_HOURLY[c] / _HOURLY[c].sum())
    wall = hour * 3600 + rng.integers(0, 3600, size=len(day))
    start, end = shop.starts[day], shop.starts[day + 1]
    moment = start + wall
    for i in np.flatnonzero(end - start != _DAY).tolist():
        local = dt.datetime.combine(shop.dates[day[i]], dt.time.min) + dt.timedelta(seconds=int(wall[i]))
        moment[i] = int(local.replace(tzinfo=shop.zone).timestamp())
    return np.clip(moment, start, end - 1)


_Lines = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]


def _order_lines(
    rng: np.random.Generator, catalogue: _Catalogue, channel: NDArray[np.int64], peak: NDArray[np.float64]
) -> tuple[NDArray[np.int64], _Lines]:
    """Each order's amount and its lines: 1-4 different items, popular (and cheaper) ones more
    often, mostly one of each; the amount is what the lines add up to. Without a catalogue the
    orders have no lines and their amounts follow the channel's average order value."""
    n = len(channel)
    aov = _BASE_AOV[channel] * (1.0 + 0.08 * peak)
    if not len(catalogue.sku):
        sigma = 0.55
        cents = np.maximum(np.rint(100 * aov * rng.lognormal(-(sigma**2) / 2, sigma, size=n)), 100)
        empty = np.array([], dtype=np.int64)
        return cents.astype(np.int64), (empty, empty, empty, empty)
    size = len(catalogue.sku)
    popularity = ((rng.permutation(size) + 1.0) ** -_POPULARITY).astype(np.float64)
    price = (catalogue.price_cents / 100).astype(np.float64)
    quantities, quantity_p = _QUANTITIES
    picks = np.empty((n, 4), dtype=np.int64)
    for c in range(len(CHANNELS)):
        rows = np.flatnonzero(channel == c)
        wanted = _BASE_AOV[c] / ((1 + 3 * _EXTRA_LINE[c]) * float(quantities @ quantity_p))
        weights = popularity * (1 + price / _CHEAP) ** -_price_taste(popularity, price, wanted)
        cumulative = np.cumsum(weights)
        drawn = np.searchsorted(cumulative, rng.random((len(rows), 4)) * cumulative[-1], side="right")
        picks[rows] = np.minimum(drawn, size - 1)
    count = 1 + rng.binomial(3, np.minimum(_EXTRA_LINE[channel] + 0.1 * peak, 1.0))
    keep = np.arange(4) < count[:, None]
    for j in range(1, 4):  # an item drawn twice is one line
        for i in range(j):
            keep[:, j] &= picks[:, j] != picks[:, i]
    quantity = rng.choice(quantities, size=(n, 4), p=quantity_p)
    order, slot = (index.astype(np.int64) for index in np.nonzero(keep))
    line_no = np.cumsum(keep, axis=1, dtype=np.int64)[order, slot]
    item, how_many = picks[order, slot], quantity[order, slot].astype(np.int64)
    cents = np.bincount(order, weights=how_many * catalogue.price_cents[item], minlength=n)
    return np.rint(cents).astype(np.int64), (order, line_no, item, how_many)


def _price_taste(popularity: NDArray[np.float64], price: NDArray[np.float64], wanted: float) -> float:
    """The exponent b for which items weighted popularity * (1 + price / _CHEAP) ** -b cost
    `wanted` on average: bisection, as the average falls as b grows; within [-2, 6] whatever the
    catalogue."""
    low, high = -2.0, 6.0
    for _ in range(40):
        middle = (low + high) / 2
        weights = popularity * (1 + price / _CHEAP) ** -middle
        if float(weights @ price / weights.sum()) > wanted:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _write_orders(ctx: _Context, shop: _Shop, made: _Orders, catalogue: _Catalogue) -> tuple[int, int]:
    """COPY the orders, then their lines, in chunks; the secondary indexes are built afterwards."""
    n_orders, n_lines = len(made.status), len(made.line_order)
    first = shop.dates[0]
    low, high = int(min(made.day.min(), 0)), int(max(made.day.max(), made.refund_day.max()))
    dates = [first + dt.timedelta(days=offset) for offset in range(low, high + 1)]
    iso = np.array([day.isoformat() for day in dates], dtype=object)
    year = np.array([day.year for day in dates], dtype=np.int64)
    numbered = zip(year[made.day - low].tolist(), range(1, n_orders + 1), strict=True)
    order_ids = np.array([f"D-{y}-{n:07d}" for y, n in numbered], dtype=object)
    payments = [method for methods in _PAYMENTS for method in methods]
    meta = np.array(
        [
            [f'{{"payment": "{method}"}}']
            + [f'{{"payment": "{method}", "refund_reason": "{why}"}}' for why in _REFUND_REASONS]
            for method in payments
        ],
        dtype=object,
    )
    ctx.report(f"orders: writing {n_orders:,} orders and {n_lines:,} lines")
    if not ctx.is_postgres:
        _insert_orders(ctx, shop, made, catalogue, order_ids)
        return n_orders, n_lines
    with _bulk_load(ctx, "order_events", "order_lines"):
        with _copy(ctx, "order_events", _ORDER_COLUMNS) as copy:
            for start in range(0, n_orders, _CHUNK):
                rows = slice(start, start + _CHUNK)
                copy.write(_orders_text(made, rows, shop.currency, order_ids, iso, low, meta))
                ctx.report(f"orders: {min(start + _CHUNK, n_orders):,} / {n_orders:,}")
        with _copy(ctx, "order_lines", _LINE_COLUMNS) as copy:
            for start in range(0, n_lines, _CHUNK):
                rows = slice(start, start + _CHUNK)
                item = made.line_item[rows]
                copy.write(
                    "".join(
                        [
                            f"{order_id}\t{line_no}\t{sku}\t{quantity}\t{price // 100}.{price % 100:02d}\n"
                            for order_id, line_no, sku, quantity, price in zip(
                                order_ids[made.line_order[rows]].tolist(),
                                made.line_no[rows].tolist(),
                                catalogue.sku[item].tolist(),
                                made.line_quantity[rows].tolist(),
                                catalogue.price_cents[item].tolist(),
                                strict=True,
                            )
                        ]
                    )
                )
                ctx.report(f"order lines: {min(start + _CHUNK, n_lines):,} / {n_lines:,}")
    return n_orders, n_lines


def _orders_text(
    made: _Orders,
    rows: slice,
    currency: str,
    order_ids: NDArray[np.object_],
    iso: NDArray[np.object_],
    low: int,
    meta: NDArray[np.object_],
) -> str:
    """COPY's text format for a slice of the orders. Our values contain no tab, newline or
    backslash, so nothing needs escaping; each column is prepared whole, then one f-string per row
    (about twice as fast as joining every value)."""
    status = made.status[rows]
    paid = np.where(status <= _REFUNDED, iso[made.day[rows] - low], r"\N")
    refunds = np.full(len(status), "\\N\t\\N\t\\N", dtype=object)
    refunded = np.flatnonzero(made.refund_cents[rows] > 0)
    if len(refunded):
        at = refunded + (rows.start or 0)
        refunds[refunded] = [
            f"{cents // 100}.{cents % 100:02d}\t{moment}+00\t{day}"
            for cents, moment, day in zip(
                made.refund_cents[at].tolist(),
                _timestamps(made.refunded_s[at]),
                iso[made.refund_day[at] - low].tolist(),
                strict=True,
            )
        ]
    channels, statuses = CHANNELS, [str(code) for code in _STATUSES]
    columns = zip(
        order_ids[rows].tolist(),
        made.customer[rows].tolist(),
        made.channel[rows].tolist(),
        status.tolist(),
        made.amount_cents[rows].tolist(),
        _timestamps(made.occurred_s[rows]),
        paid.tolist(),
        refunds.tolist(),
        meta[made.payment[rows], made.reason[rows] + 1].tolist(),
        _timestamps(made.updated_s[rows]),
        strict=True,
    )
    return "".join(
        [
            f"{order_id}\tC{customer:06d}\t{channels[channel]}\t{currency}\t{statuses[code]}\t"
            f"{cents // 100}.{cents % 100:02d}\t{placed}+00\t{paid_on}\t{refund}\t{about}\t"
            f"{placed}+00\t{updated}+00\n"
            for order_id, customer, channel, code, cents, placed, paid_on, refund, about, updated in columns
        ]
    )


def _timestamps(epoch_s: NDArray[np.int64]) -> list[str]:
    """ISO 8601 in UTC, without the offset (the caller adds +00)."""
    return np.datetime_as_string(epoch_s.astype("datetime64[s]"), unit="s").tolist()  # type: ignore[no-any-return]


def _insert_orders(
    ctx: _Context, shop: _Shop, made: _Orders, catalogue: _Catalogue, order_ids: NDArray[np.object_]
) -> None:
    """The same rows through SQLAlchemy Core, for databases without COPY."""
    first = shop.dates[0]
    payments = [method for methods in _PAYMENTS for method in methods]
    for start in range(0, len(made.status), _CHUNK):
        rows = []
        for i in range(start, min(start + _CHUNK, len(made.status))):
            paid = made.status[i] <= _REFUNDED
            refund = made.refund_cents[i] > 0
            meta: dict[str, Any] = {"payment": payments[made.payment[i]]}
            if refund:
                meta["refund_reason"] = _REFUND_REASONS[made.reason[i]]
            rows.append(
                {
                    "order_id": order_ids[i],
                    "customer_id": f"C{made.customer[i]:06d}",
                    "channel": CHANNELS[made.channel[i]],
                    "currency": shop.currency,
                    "status": str(_STATUSES[made.status[i]]),
                    "amount": _money(int(made.amount_cents[i])),
                    "occurred_at": _ts(int(made.occurred_s[i])),
                    "paid_date": first + dt.timedelta(days=int(made.day[i])) if paid else None,
                    "refund_amount": _money(int(made.refund_cents[i])) if refund else None,
                    "refunded_at": _ts(int(made.refunded_s[i])) if refund else None,
                    "refund_date": first + dt.timedelta(days=int(made.refund_day[i])) if refund else None,
                    "metadata": meta,
                    "created_at": _ts(int(made.occurred_s[i])),
                    "updated_at": _ts(int(made.updated_s[i])),
                }
            )
        _insert(ctx, "order_events", rows)
    for start in range(0, len(made.line_order), _CHUNK):
        stop = min(start + _CHUNK, len(made.line_order))
        _insert(
            ctx,
            "order_lines",
            [
                {
                    "order_id": order_ids[made.line_order[i]],
                    "line_no": int(made.line_no[i]),
                    "sku": catalogue.sku[made.line_item[i]],
                    "quantity": int(made.line_quantity[i]),
                    "unit_price": _money(int(catalogue.price_cents[made.line_item[i]])),
                }
                for i in range(start, stop)
            ],
        )


def _derive_metrics(ctx: _Context) -> dict[str, int]:
    """The customers and the daily figures, from the orders, by the code order import uses."""
    ctx.report("metrics: deriving customers and daily figures from the orders")
    rebuild(ctx.conn)
    return {
        table: int(ctx.conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
        for table in ("customers", "sales_metrics", "customer_metrics")
    }


_REFERRERS: Final = ("google", "direct", "newsletter", "instagram", "bing", "price-comparison")
_SIGNUP_SOURCES: Final = ("checkout", "newsletter", "account-page", "social-login")
_PAGES: Final = ("/", "/cart", "/account", "/search", "/help/shipping", "/sale")


def _seed_analytics(ctx: _Context, shop: _Shop, made: _Orders, items: list[_ItemSample], events: int) -> int:
    """Daily storefront sessions per shop day and channel, from that day's paid orders (so
    orders/sessions stays within 1.5-4 %), plus loose events."""
    rng = ctx.np_rng("sessions")
    n_days, n_channels = len(shop.dates), len(CHANNELS)
    paid = made.status <= _REFUNDED
    cell = made.day[paid] * n_channels + made.channel[paid]
    orders = np.bincount(cell, minlength=n_days * n_channels).reshape(n_days, n_channels)
    conversion = np.clip(_CONVERSION * rng.lognormal(0.0, 0.08, size=orders.shape), 0.016, 0.039)
    sessions = np.rint(orders / conversion).astype(np.int64)
    # Local noon: the same calendar day whether a query reads it in UTC or in the shop's zone.
    noon = shop.starts[:-1] + (shop.starts[1:] - shop.starts[:-1]) // 2
    rows: list[dict[str, Any]] = [
        {
            "user_id": None,
            "metric_type": "storefront_sessions",
            "value": Decimal(int(sessions[i, c])),
            "metadata": {"channel": channel},
            "recorded_at": _ts(int(noon[i])),
        }
        for i in range(n_days)
        for c, channel in enumerate(CHANNELS)
        if orders[i, c]
    ]
    rows.extend(_loose_events(ctx, items, events))
    ctx.report(f"analytics events: {len(rows):,}")
    return _insert(ctx, "analytics_data", rows)


def _loose_events(ctx: _Context, items: list[_ItemSample], count: int) -> list[dict[str, Any]]:
    """Anonymous page views, cart additions and sign-ups of the last 90 days, oldest first."""
    rng = ctx.py_rng("events")
    online = tuple(channel for channel in CHANNELS if channel != "retail_pos")
    moments = sorted(ctx.anchor_s - int(90 * _DAY * rng.random() ** 1.5) - 1 for _ in range(count))
    rows: list[dict[str, Any]] = []
    for moment in moments:
        kind = rng.choices(("page_view", "add_to_cart", "signup"), weights=(0.72, 0.18, 0.10))[0]
        channel = rng.choice(online)
        value = Decimal(1)
        meta: dict[str, Any] = {"channel": channel}
        if kind == "page_view":
            page = rng.choice(_PAGES)
            if items and rng.random() < 0.6:
                page = f"/p/{rng.choice(items).sku.lower()}"
            meta.update(path=page, referrer=rng.choice(_REFERRERS))
        elif kind == "add_to_cart" and items:
            item, quantity = rng.choice(items), rng.choices((1, 2, 3), weights=(0.8, 0.15, 0.05))[0]
            value = _money(item.price_cents * quantity)
            meta.update(sku=item.sku, quantity=quantity)
        else:
            kind = "signup"
            meta.update(source=rng.choice(_SIGNUP_SOURCES))
        rows.append(
            {
                "user_id": None,
                "metric_type": kind,
                "value": value,
                "metadata": meta,
                "recorded_at": _ts(moment),
            }
        )
    return rows


# --- reports and the audit trail ----------------------------------------------------------------


@dataclass(frozen=True)
class _Report:
    id: int
    kind: str
    format: str
    parameters: dict[str, Any]
    requested_by: _Staff
    created_at: dt.datetime


#: How many example reports `_report_plans` makes.
_REPORTS: Final = 8


def _report_plans(requested: Sequence[dt.date]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(title, kind, format, parameters) for each example report, parameters in the stored form
    the report kinds give them; `requested` holds the shop day each was asked for on. A sales
    summary covers only days that were over by then."""
    last_full_day = requested[0] - dt.timedelta(days=1)
    thirty_days = last_full_day - dt.timedelta(days=29)
    month_end = requested[1].replace(day=1) - dt.timedelta(days=1)
    month_start = month_end.replace(day=1)
    as_of = requested[7] - dt.timedelta(days=1)
    return [
        ("Sales summary - last 30 days", "sales-summary", "csv",
         {"date_from": thirty_days.isoformat(), "date_to": last_full_day.isoformat(), "granularity": "day",
          "channels": []}),
        (f"Sales summary - {month_start:%B %Y}", "sales-summary", "json",
         {"date_from": month_start.isoformat(), "date_to": month_end.isoformat(), "granularity": "week",
          "channels": []}),
        ("Inventory valuation by category", "inventory-valuation", "csv",
         {"group_by": "category", "include_archived": False}),
        ("Inventory valuation by supplier", "inventory-valuation", "json",
         {"group_by": "supplier", "include_archived": False}),
        ("Low stock - reorder levels", "low-stock", "csv", {"threshold": None, "category": None}),
        ("Low stock - Apparel", "low-stock", "csv", {"threshold": 25, "category": "Apparel"}),
        ("Staff directory", "user-directory", "csv", {"include_inactive": False}),
        (f"Customer segments as of {as_of.isoformat()}", "customer-segments", "csv",
         {"as_of": as_of.isoformat(), "channels": [], "segment": None}),
    ]  # fmt: skip


def _seed_reports(ctx: _Context, shop: _Shop, staff: list[_Staff]) -> list[_Report]:
    """Example reports requested by admins and managers: one failed long ago, the others waiting in
    the queue — the demo's first start generates them (`bootstrap.prepare_demo`), as any app would."""
    rng = ctx.py_rng("reports")
    authors = [person for person in staff if person.active and person.role != catalog.VIEWER]
    days_ago = sorted((rng.uniform(0.5, 45.0) for _ in range(_REPORTS)), reverse=True)
    requested = [ctx.anchor - dt.timedelta(days=age) for age in days_ago]
    plans = _report_plans([shop_day(moment, shop.zone) for moment in requested])
    failed_title = "Low stock - Apparel"
    rows: list[dict[str, Any]] = []
    made: list[tuple[str, str, dict[str, Any], _Staff, dt.datetime]] = []
    for (title, kind, fmt, parameters), created in zip(plans, requested, strict=True):
        author = rng.choice(authors)
        failed = title == failed_title
        finished = created + dt.timedelta(seconds=rng.uniform(1.5, 60.0)) if failed else None
        rows.append(
            {
                "title": title,
                "kind": kind,
                "parameters": parameters,
                "format": fmt,
                "status": "failed" if failed else "pending",
                "error": "canceling statement due to statement timeout" if failed else None,
                "generated_by": author.id,
                "file_path": None,
                "size_bytes": None,
                "started_at": created if failed else None,
                "finished_at": finished,
                "created_at": created,
                "updated_at": finished or created,
            }
        )
        made.append((kind, fmt, parameters, author, created))
    reports = _table("reports")
    ids = list(
        ctx.conn.execute(
            insert(reports).returning(reports.c.id, sort_by_parameter_order=True), rows
        ).scalars()
    )
    waiting = [
        {
            "queue": "report",
            "payload": {"report_id": int(report_id)},
            "status": "queued",
            "created_at": row["created_at"],
        }
        for report_id, row in zip(ids, rows, strict=True)
        if row["status"] == "pending"
    ]
    ctx.conn.execute(insert(_table("jobs")), waiting)
    ctx.report(f"reports: {len(rows)} ({len(waiting)} queued)")
    return [
        _Report(int(report_id), kind, fmt, parameters, author, created)
        for report_id, (kind, fmt, parameters, author, created) in zip(ids, made, strict=True)
    ]


def _seed_audit_log(
    ctx: _Context,
    staff: list[_Staff],
    items: list[_ItemSample],
    reports: list[_Report],
    movements: list[dict[str, Any]],
    item_changes: int,
) -> int:
    """Entries that agree with the data: each `after` is the row's current state, and each stock
    adjustment's entry matches its movement."""
    rng = ctx.py_rng("audit")
    admin = staff[0]
    editors = [person for person in staff if person.active and person.role != catalog.VIEWER]
    entries: list[dict[str, Any]] = []
    for person in staff[len(DEMO_ACCOUNTS) :]:
        created = {"email": person.email, "role": person.role, "is_active": True}
        entries.append(_audit_row(person.created_at, admin, "user.created", "user", person.id, None, created))
        if person.deactivated_at is not None:
            entries.append(
                _audit_row(
                    person.deactivated_at,
                    admin,
                    "user.deactivated",
                    "user",
                    person.id,
                    {"is_active": True},
                    {"is_active": False},
                )
            )
    for report in reports:
        request = {"kind": report.kind, "format": report.format, "parameters": report.parameters}
        entries.append(
            _audit_row(
                report.created_at, report.requested_by, "report.requested", "report", report.id, None, request
            )
        )
    key = "inventory.low_stock_threshold"
    entries.append(
        _audit_row(
            ctx.anchor - dt.timedelta(days=rng.uniform(300, 600)),
            admin,
            "settings.changed",
            "setting",
            key,
            {"value": 5},
            {"value": catalog.DEFAULT_SETTINGS[key]},
        )
    )
    by_id = {person.id: person for person in staff}
    for move in movements:
        if move["kind"] != "opening":
            levels = {"stock": move["stock_after"], "reserved": move["reserved_after"]}
            before = {
                "stock": levels["stock"] - move["stock_delta"],
                "reserved": levels["reserved"] - move["reserved_delta"],
            }
            after = levels | {"movement": move["kind"], "reason": move["reason"]}
            entries.append(
                _audit_row(
                    move["occurred_at"], by_id[move["actor_id"]], "inventory.stock_adjusted",
                    "inventory_item", move["item_id"], before, after,
                )
            )  # fmt: skip
    item_ids = _item_ids(ctx, [item.sku for item in items])
    for item in rng.sample(items, min(item_changes, len(items))):
        action, before, after = _item_change(rng, item)
        entries.append(
            _audit_row(
                _ts(item.last_updated_s),
                rng.choice(editors),
                action,
                "inventory_item",
                item_ids[item.sku],
                before,
                after,
            )
        )
    entries.sort(key=lambda row: (row["occurred_at"], row["action"], row["entity_id"]))
    ctx.report(f"audit log: {len(entries)} entries")
    return _insert(ctx, "audit_log", entries)


def _audit_row(
    when: dt.datetime,
    actor: _Staff,
    action: str,
    entity_type: str,
    entity_id: int | str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "occurred_at": when,
        "actor_id": actor.id,
        "actor_email": actor.email,
        "action": action,
        "entity_type": entity_type,
        "entity_id": str(entity_id),
        "before": before,
        "after": after,
    }


def _item_change(rng: random.Random, item: _ItemSample) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The last edit made to an item: a new price or a new reorder level (stock moves are movements)."""
    if rng.random() < 0.65:
        old_cents = max(99, int(item.price_cents * rng.uniform(0.85, 1.1)) // 100 * 100 + 99)
        return (
            "inventory.item_updated",
            {"price": str(_money(old_cents))},
            {"price": str(_money(item.price_cents))},
        )
    old_level = rng.choice([level for level in (None, 5, 10, 20) if level != item.reorder_level])
    return "inventory.item_updated", {"reorder_level": old_level}, {"reorder_level": item.reorder_level}


_REASONS: Final = {
    "receive": ("Delivery note {n}", "Purchase order PO-{n}", "Supplier restock {n}"),
    "ship": ("Order #{n}", "Order #{n} shipped", "Marketplace order {n}"),
    "reserve": ("Order #{n} awaiting payment", "Held for order #{n}"),
    "release": ("Order #{n} cancelled", "Payment for #{n} expired"),
    "correct": ("Stocktake", "Damaged in warehouse", "Found during stocktake"),
}


def _seed_stock_movements(
    ctx: _Context, staff: list[_Staff], items: list[_ItemSample]
) -> list[dict[str, Any]]:
    """A believable history for the sample items that ends exactly at each item's current levels.

    Walked backwards from today's levels, one movement at a time, so every step before stays
    valid (nothing below zero, reserved within stock) and the chain adds up to the row."""
    rng = ctx.py_rng("movements")
    movers = [person for person in staff if person.active and person.role != catalog.VIEWER]
    item_ids = _item_ids(ctx, [item.sku for item in items])
    rows: list[dict[str, Any]] = []
    for item in items:
        stock, reserved = item.stock, item.reserved
        steps: list[tuple[str, int, int]] = []
        for _ in range(rng.randint(2, 9)):
            options = ["ship", "ship", "correct"]
            if stock - reserved > 0:
                options += ["receive", "receive", "release"]
            if reserved > 0:
                options.append("reserve")
            kind = rng.choice(options)
            match kind:
                case "ship":
                    q = rng.randint(1, 12)
                    steps.append((kind, -q, 0))
                    stock += q
                case "receive":
                    q = rng.randint(1, stock - reserved)
                    steps.append((kind, q, 0))
                    stock -= q
                case "reserve":
                    q = rng.randint(1, reserved)
                    steps.append((kind, 0, q))
                    reserved -= q
                case "release":
                    q = rng.randint(1, stock - reserved)
                    steps.append((kind, 0, -q))
                    reserved += q
                case _:
                    q = rng.randint(1, 3)
                    steps.append((kind, -q, 0))
                    stock += q
        if stock or reserved:
            steps.append(("opening", stock, reserved))
        # Oldest first, spread over the weeks before the item's last change.
        span = rng.randint(3, 120) * 86_400
        times = sorted(item.last_updated_s - rng.randint(0, span) for _ in steps[1:])
        times.append(item.last_updated_s)
        for when, (kind, d_stock, d_reserved) in zip(times, reversed(steps), strict=True):
            stock, reserved = (
                (d_stock, d_reserved) if kind == "opening" else (stock + d_stock, reserved + d_reserved)
            )
            person = rng.choice(movers)
            rows.append(
                {
                    "item_id": item_ids[item.sku],
                    "occurred_at": _ts(when),
                    "actor_id": person.id,
                    "actor_email": person.email,
                    "kind": kind,
                    "stock_delta": d_stock,
                    "reserved_delta": d_reserved,
                    "stock_after": stock,
                    "reserved_after": reserved,
                    "reason": "Opening stock"
                    if kind == "opening"
                    else rng.choice(_REASONS[kind]).format(n=rng.randint(10_000, 99_999)),
                }
            )
        assert (stock, reserved) == (item.stock, item.reserved)
    # Inserted in time order, so ids follow time as they do for movements the app records.
    rows.sort(key=lambda row: (row["occurred_at"], row["item_id"]))
    ctx.report(f"stock movements: {len(rows)}")
    _insert(ctx, "stock_movements", rows)
    return rows


def _item_ids(ctx: _Context, skus: list[str]) -> dict[str, int]:
    if not skus:
        return {}
    items = _table("inventory_items")
    query = select(items.c.sku, items.c.id).where(items.c.sku.in_(skus))
    return {str(sku): int(item_id) for sku, item_id in ctx.conn.execute(query)}


__all__ = [
    "DEMO_ACCOUNTS",
    "DEMO_PASSWORD",
    "SeedSummary",
    "is_seeded",
    "reset_demo_data",
    "seed_demo_data",
]
