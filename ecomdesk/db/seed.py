"""Deterministic demo data for a freshly migrated database: staff, a catalogue, two years of sales.

The demo has to feel like a real shop (so grids, charts and reports have something to show) and
must also load a million inventory rows in well under a minute (so the grid can be tried at scale).
Big tables are therefore generated in numpy chunks and streamed with PostgreSQL's COPY; small
ones go through SQLAlchemy Core, which also keeps SQLite working. Every table draws from its own
random stream derived from one seed, so changing one table's volume leaves the others' rows alone.
Nothing reads the clock except to default `today`: events and changes lie before midnight UTC at
the start of `today`, daily figures run up to and including it, so a fixed `today` gives fixed rows.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import time
import unicodedata
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, cast

import numpy as np
import psycopg
from numpy.typing import NDArray
from sqlalchemy import Connection, Engine, Table, insert, select, text

from ecomdesk.db import catalog
from ecomdesk.db.models import metadata
from ecomdesk.db.seed_catalogue import CATEGORIES, Category

DEMO_PASSWORD: Final[str] = "demo-shop-password-2026"
#: The accounts named on the demo login window, one per built-in role.
DEMO_ACCOUNTS: Final[tuple[tuple[str, str], ...]] = (
    ("admin@demo.shop", catalog.ADMIN),
    ("manager@demo.shop", catalog.MANAGER),
    ("viewer@demo.shop", catalog.VIEWER),
)
CHANNELS: Final[tuple[str, ...]] = ("web", "mobile_app", "marketplace", "retail_pos")

_CHUNK: Final = 50_000
_DAY: Final = 86_400
_TWO_YEARS_S: Final = 730 * _DAY
_CENT: Final = Decimal("0.01")

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
DEMO_TABLES: Final = (
    "stock_movements", "audit_log", "reports", "analytics_data", "customer_metrics", "sales_metrics",
    "inventory_items", "device_sessions", "user_profiles", "files", "file_blobs", "users", "settings",
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
    random_seed: int = 20261127,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> SeedSummary:
    """Fill an empty, migrated database in one transaction: all of the demo or nothing.

    `hash_password` is called once: argon2 is slow on purpose and every demo user shares
    `DEMO_PASSWORD`. Raises `ValueError` when the database already has users or lacks the
    built-in roles (run the migrations first).
    """
    started = time.perf_counter()
    if scale <= 0:
        raise ValueError("scale must be positive")
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
        ctx = _Context(conn, random_seed, day, report)
        if ctx.is_postgres:
            # make_engine's 60 s guard is for interactive queries, not for one bulk load.
            conn.execute(text("SET LOCAL statement_timeout = 0"))
        counts["settings"] = _seed_settings(ctx)
        staff = _seed_users(ctx, password_hash, max(len(DEMO_ACCOUNTS), round(25 * scale)))
        counts["users"] = counts["user_profiles"] = len(staff)
        samples = _seed_inventory(ctx, n_items)
        counts["inventory_items"] = n_items
        sales = _simulate_sales(ctx)
        counts["sales_metrics"] = _seed_sales_metrics(ctx, sales)
        counts["customer_metrics"] = _seed_customer_metrics(ctx, sales)
        counts["analytics_data"] = _seed_analytics(ctx, sales, samples, round(400 * scale))
        reports = _seed_reports(ctx, staff, n_items)
        counts["reports"] = len(reports)
        movements = _seed_stock_movements(ctx, staff, samples)
        counts["stock_movements"] = len(movements)
        counts["audit_log"] = _seed_audit_log(ctx, staff, samples, reports, movements, round(30 * scale))

    # VACUUM marks the freshly loaded pages all-visible, so the grids' windows and counts are
    # index-only scans from the start instead of after autovacuum comes by; ANALYZE feeds the planner.
    report("vacuum: refreshing planner statistics and the visibility map")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("inventory_items", "sales_metrics", "customer_metrics", "analytics_data"):
            conn.execute(text(f"VACUUM (ANALYZE) {table}"))
    seconds = time.perf_counter() - started
    report(f"done: {sum(counts.values()):,} rows in {seconds:.1f} s")
    return SeedSummary(counts=counts, seconds=seconds)


# --- shared plumbing ----------------------------------------------------------------------------


class _Context:
    """What every step needs: the one connection, the clock and independent random streams."""

    def __init__(self, conn: Connection, seed: int, today: dt.date, report: Progress) -> None:
        self.conn = conn
        self.seed = seed
        self.today = today
        self.report = report
        self.is_postgres = conn.dialect.name == "postgresql"
        #: Every generated timestamp lies before this instant.
        self.anchor = dt.datetime.combine(today, dt.time.min, tzinfo=dt.UTC)
        self.anchor_s = int(self.anchor.timestamp())

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
        ctx.anchor_s - rng.randrange(_DAY, _TWO_YEARS_S) for _ in range(count - len(DEMO_ACCOUNTS))
    )
    first_day = ctx.anchor_s - _TWO_YEARS_S + 9 * 3600
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

        created = self.anchor_s - rng.integers(3600, _TWO_YEARS_S, size=n)
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


def _seed_inventory(ctx: _Context, total: int) -> list[_ItemSample]:
    """Insert `total` items chunk by chunk; returns the first few for the events and the audit log."""
    generator = _InventoryGenerator(ctx)
    samples: list[_ItemSample] = []
    ctx.report(f"inventory: 0 / {total:,}")
    if ctx.is_postgres and total:
        with _secondary_indexes_dropped(ctx), _inventory_copy(ctx) as copy:
            for chunk in generator.chunks(total):
                samples = samples or _samples(chunk, 300)
                copy.write(_copy_text(chunk))
                ctx.report(f"inventory: {generator.produced:,} / {total:,}")
        return samples
    for chunk in generator.chunks(total):
        samples = samples or _samples(chunk, 300)
        _insert(ctx, "inventory_items", _core_rows(chunk))
        ctx.report(f"inventory: {generator.produced:,} / {total:,}")
    return samples


@contextmanager
def _inventory_copy(ctx: _Context) -> Iterator[psycopg.Copy]:
    """One COPY for all chunks, inside the seed's transaction.

    The default (synchronous) writer is kept on purpose: it makes progress follow what the
    server has taken in. A queued writer thread measured only ~1 s faster per million rows.
    """
    raw = cast(psycopg.Connection[Any], ctx.conn.connection.driver_connection)
    statement = f"COPY inventory_items ({', '.join(_INVENTORY_COLUMNS)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        yield copy


@contextmanager
def _secondary_indexes_dropped(ctx: _Context) -> Iterator[None]:
    """Build the grid's sort indexes once after the load instead of row by row during it.

    That halves a million-row load (about 20 s -> 10 s on two cores). The definitions come from
    the database itself, so whatever the migrations created is recreated exactly; indexes that
    back a constraint (primary key, unique SKU) stay, and the transaction makes it all or nothing.
    """
    indexes = ctx.conn.execute(
        text(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid = 'inventory_items'::regclass"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
            " ORDER BY 1"
        )
    ).all()
    for name, _definition in indexes:
        ctx.conn.exec_driver_sql(f"DROP INDEX {name}")
    yield
    ctx.report(f"inventory: building {len(indexes)} indexes")
    ctx.conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '128MB'")
    for _name, definition in indexes:
        ctx.conn.exec_driver_sql(definition)


# --- sales, customers and sessions --------------------------------------------------------------

#: Orders on a typical day at the start of the two years, per channel.
_BASE_ORDERS: Final = np.array([180.0, 120.0, 90.0, 60.0])
#: Average order value in euros, per channel.
_BASE_AOV: Final = np.array([62.0, 48.0, 39.0, 35.0])
#: Share of a channel's orders placed by someone who already ordered that day.
_REPEAT_RATE: Final = np.array([0.05, 0.07, 0.04, 0.03])
#: Conversion (orders per storefront session), per channel.
_CONVERSION: Final = np.array([0.026, 0.019, 0.034, 0.031])
#: Monday..Sunday multipliers: web peaks on Sundays, the app on whole weekends, the shop
#: floor on Saturdays (and is nearly closed on Sundays), the marketplace barely cares.
_WEEKLY: Final = np.array(
    [
        [1.00, 0.98, 0.97, 0.99, 0.95, 1.08, 1.22],
        [0.92, 0.90, 0.91, 0.95, 1.02, 1.28, 1.33],
        [1.06, 1.02, 1.00, 1.00, 0.98, 0.96, 1.00],
        [0.88, 0.92, 0.95, 1.00, 1.18, 1.55, 0.18],
    ]
).T


@dataclass(frozen=True)
class _Sales:
    dates: list[dt.date]
    #: Shape (days, channels).
    orders: NDArray[np.int64]
    revenue_cents: NDArray[np.int64]
    customers: NDArray[np.int64]
    #: Shape (days,): how far into the peak season each day is, 0..1.
    season_peak: NDArray[np.float64]


def _two_years_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 2)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 2, day=28)


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


def _simulate_sales(ctx: _Context) -> _Sales:
    """One simulation feeds sales, customer metrics and sessions, so all three agree."""
    rng = ctx.np_rng("sales")
    start = _two_years_before(ctx.today) + dt.timedelta(days=1)
    dates = [start + dt.timedelta(days=i) for i in range((ctx.today - start).days + 1)]
    n = len(dates)
    seasons = np.array([_season(day) for day in dates])
    weekly = _WEEKLY[[day.weekday() for day in dates]]
    growth = 1.12 ** (np.arange(n) / 365.25)
    shared_noise = rng.lognormal(0.0, 0.05, size=(n, 1))
    expected = (
        _BASE_ORDERS
        * weekly
        * seasons[:, :1]
        * growth[:, None]
        * shared_noise
        * rng.lognormal(0.0, 0.07, size=(n, len(CHANNELS)))
    )
    # The shop floor opens only for a few hours on these public holidays.
    short_hours = np.array([(day.month, day.day) in {(12, 25), (12, 26), (1, 1)} for day in dates])
    expected[short_hours, CHANNELS.index("retail_pos")] *= 0.2
    # At least one order a day keeps every day's conversion rate defined for the charts.
    orders = np.maximum(rng.poisson(expected), 1).astype(np.int64)
    december_lift = 1.0 + 0.08 * seasons[:, 1:]
    aov = _BASE_AOV * december_lift * growth[:, None] ** 0.3 * rng.lognormal(0.0, 0.05, size=orders.shape)
    revenue_cents = np.rint(orders * aov * 100).astype(np.int64)
    customers = orders - rng.binomial(orders, _REPEAT_RATE)
    return _Sales(dates, orders, revenue_cents, customers.astype(np.int64), seasons[:, 1])


def _seed_sales_metrics(ctx: _Context, sales: _Sales) -> int:
    rows = [
        {
            "date": day,
            "channel": channel,
            "revenue": _money(int(sales.revenue_cents[i, c])),
            "orders": int(sales.orders[i, c]),
            "customers": int(sales.customers[i, c]),
        }
        for i, day in enumerate(sales.dates)
        for c, channel in enumerate(CHANNELS)
    ]
    ctx.report(f"sales metrics: {len(rows):,} rows over {len(sales.dates):,} days")
    return _insert(ctx, "sales_metrics", rows)


def _seed_customer_metrics(ctx: _Context, sales: _Sales) -> int:
    """All channels per day; a few people bought through two channels, so the total is a bit less."""
    rng = ctx.np_rng("customers")
    summed = sales.customers.sum(axis=1)
    total = summed - rng.binomial(summed, 0.02)
    progress_share = np.linspace(0.0, 1.0, len(sales.dates))
    new_share = np.clip(
        0.36 - 0.07 * progress_share + 0.10 * sales.season_peak + rng.normal(0.0, 0.02, len(total)), 0.1, 0.8
    )
    new = rng.binomial(total, new_share)
    orders = sales.orders.sum(axis=1)
    revenue = sales.revenue_cents.sum(axis=1)
    rows = [
        {
            "date": day,
            "total_customers": int(total[i]),
            "new_customers": int(new[i]),
            "returning_customers": int(total[i] - new[i]),
            "average_order_value": (
                (Decimal(int(revenue[i])) / (100 * int(orders[i]))).quantize(_CENT, ROUND_HALF_UP)
                if orders[i]
                else Decimal("0.00")
            ),
        }
        for i, day in enumerate(sales.dates)
    ]
    ctx.report(f"customer metrics: {len(rows):,} days")
    return _insert(ctx, "customer_metrics", rows)


_REFERRERS: Final = ("google", "direct", "newsletter", "instagram", "bing", "price-comparison")
_SIGNUP_SOURCES: Final = ("checkout", "newsletter", "account-page", "social-login")
_PAGES: Final = ("/", "/cart", "/account", "/search", "/help/shipping", "/sale")


def _seed_analytics(ctx: _Context, sales: _Sales, items: list[_ItemSample], events: int) -> int:
    """Daily storefront sessions per channel (orders/sessions stays within 1.5-4 %) plus loose events."""
    rng = ctx.np_rng("sessions")
    conversion = np.clip(_CONVERSION * rng.lognormal(0.0, 0.08, size=sales.orders.shape), 0.016, 0.039)
    sessions = np.rint(sales.orders / conversion).astype(np.int64)
    rows: list[dict[str, Any]] = [
        {
            "user_id": None,
            "metric_type": "storefront_sessions",
            "value": Decimal(int(sessions[i, c])),
            "metadata": {"channel": channel},
            # Noon UTC keeps the calendar day the same for staff anywhere from Hawaii to Tokyo.
            "recorded_at": dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC),
        }
        for i, day in enumerate(sales.dates)
        for c, channel in enumerate(CHANNELS)
    ]
    rows.extend(_loose_events(ctx, items, events))
    ctx.report(f"analytics events: {len(rows):,}")
    return _insert(ctx, "analytics_data", rows)


def _loose_events(ctx: _Context, items: list[_ItemSample], count: int) -> list[dict[str, Any]]:
    """Anonymous page views, cart additions and sign-ups of the last 90 days, oldest first."""
    rng = ctx.py_rng("events")
    online = CHANNELS[:3]
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


def _report_plans(
    ctx: _Context, staff_count: int, items: int
) -> list[tuple[str, str, str, dict[str, Any], int]]:
    """(title, kind, format, parameters, size) for each example report."""
    today = ctx.today
    month_end = today.replace(day=1) - dt.timedelta(days=1)
    month_start = month_end.replace(day=1)
    thirty_days = today - dt.timedelta(days=30)
    sales_rows = len(CHANNELS) * 30
    return [
        ("Sales summary - last 30 days", "sales-summary", "csv",
         {"date_from": thirty_days.isoformat(), "date_to": today.isoformat(), "channels": list(CHANNELS),
          "group_by": "day"}, sales_rows * 48),
        (f"Sales summary - {month_start:%B %Y}", "sales-summary", "json",
         {"date_from": month_start.isoformat(), "date_to": month_end.isoformat(), "channels": list(CHANNELS),
          "group_by": "week"}, 5 * len(CHANNELS) * 120),
        ("Inventory valuation - all categories", "inventory-valuation", "csv",
         {"category": None, "include_archived": False}, items * 96),
        ("Inventory valuation - Electronics", "inventory-valuation", "json",
         {"category": "Electronics", "include_archived": False}, items // 10 * 180),
        ("Low stock - default threshold", "low-stock", "csv",
         {"threshold": catalog.DEFAULT_SETTINGS["inventory.low_stock_threshold"], "category": None},
         items // 6 * 84),
        ("Low stock - Apparel", "low-stock", "csv", {"threshold": 25, "category": "Apparel"}, 0),
        ("Staff directory", "user-directory", "csv", {"include_inactive": False}, staff_count * 120),
    ]  # fmt: skip


def _seed_reports(ctx: _Context, staff: list[_Staff], items: int) -> list[_Report]:
    """A few finished reports and one that failed, requested by admins and managers."""
    rng = ctx.py_rng("reports")
    authors = [person for person in staff if person.active and person.role != catalog.VIEWER]
    plans = _report_plans(ctx, len(staff), items)
    days_ago = sorted((rng.uniform(0.5, 45.0) for _ in plans), reverse=True)
    failed_title = "Low stock - Apparel"
    rows: list[dict[str, Any]] = []
    made: list[tuple[str, str, dict[str, Any], _Staff, dt.datetime]] = []
    for (title, kind, fmt, parameters, size), age in zip(plans, days_ago, strict=True):
        author = rng.choice(authors)
        created = ctx.anchor - dt.timedelta(days=age)
        failed = title == failed_title
        rows.append(
            {
                "title": title,
                "kind": kind,
                "parameters": parameters,
                "format": fmt,
                "status": "failed" if failed else "completed",
                "error": "canceling statement due to statement timeout" if failed else None,
                "generated_by": author.id,
                "file_path": None,
                "size_bytes": None if failed else max(size, 64),
                "created_at": created,
                "updated_at": created + dt.timedelta(seconds=rng.uniform(1.5, 60.0 if failed else 20.0)),
            }
        )
        made.append((kind, fmt, parameters, author, created))
    reports = _table("reports")
    ids = ctx.conn.execute(insert(reports).returning(reports.c.id, sort_by_parameter_order=True), rows)
    ctx.report(f"reports: {len(rows)}")
    return [
        _Report(int(report_id), kind, fmt, parameters, author, created)
        for report_id, (kind, fmt, parameters, author, created) in zip(ids.scalars(), made, strict=True)
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
