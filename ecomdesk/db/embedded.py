"""A PostgreSQL cluster owned by the app, for the demo and for the test suite.

The binaries come from the `pgserver` wheel (so a machine without PostgreSQL works) or, failing
that, from the machine's own installation. `initdb` refuses to run as root, so when we are root
the cluster belongs to an unprivileged system user and every server command runs as that user.
The server listens on a Unix socket inside its own directory only: no TCP port is opened.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

if sys.platform != "win32":
    import pwd

log = logging.getLogger(__name__)

SERVICE_USER = "pgserver"
PORT = 5432
#: Unix socket paths are limited to ~107 bytes; keep room for "/.s.PGSQL.5432".
_MAX_SOCKET_DIR = 90


class EmbeddedServerError(RuntimeError):
    """The local server could not be set up or started; the message says why and what to do."""


def find_bin_dir() -> Path:
    """Where `initdb`, `pg_ctl` and `postgres` live: pgserver's copy first, then the system's."""
    # Located without importing pgserver: its __init__ creates lock files and runtime folders.
    spec = importlib.util.find_spec("pgserver")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "pginstall" / "bin"
        if (path / "pg_ctl").exists():
            return path
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if (candidate / "pg_ctl").exists():
            return candidate
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise EmbeddedServerError(
        "No PostgreSQL binaries found: install the 'pgserver' package (pip install pgserver) "
        "or PostgreSQL itself."
    )


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    """The unprivileged account that owns clusters created by root (made once with useradd)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        result = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise EmbeddedServerError(f"Could not create the system user {name!r}: {result.stderr}") from None
        return pwd.getpwnam(name)


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@dataclass
class EmbeddedServer:
    """One cluster directory. `start()` is idempotent and safe across processes."""

    pgdata: Path
    extra_settings: Sequence[str] = ()
    bin_dir: Path | None = None

    def __post_init__(self) -> None:
        self.pgdata = Path(self.pgdata).expanduser().resolve()
        self.bin_dir = self.bin_dir or find_bin_dir()
        self._run_as = SERVICE_USER if _is_root() else None

    # -- locations -----------------------------------------------------------------------------

    @property
    def socket_dir(self) -> Path:
        """The cluster directory itself when short enough, else a stable folder under /tmp."""
        if len(str(self.pgdata)) <= _MAX_SOCKET_DIR:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"ecomdesk-pg-{digest}"

    @property
    def log_file(self) -> Path:
        return self.pgdata / "server.log"

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        """A libpq URL that psql, psycopg and SQLAlchemy all accept."""
        return f"postgresql://{user}@/{database}?host={self.socket_dir}&port={PORT}"

    # -- life cycle ----------------------------------------------------------------------------

    @property
    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.initialised:
            return False
        result = self._pg_ctl(["status"], check=False)
        return result.returncode == 0

    def start(self, timeout: int = 60) -> bool:
        """Initialise (first time) and start the server; returns False when it was already up."""
        with self._lock():
            if not self.initialised:
                self._initdb()
            if self.is_running():
                gone = self._deleted_server_binary()
                if gone is None:
                    return False
                # Started by an installation since removed or upgraded (its timezone data and
                # libraries are gone, so new connections fail): restart it with ours.
                log.warning("restarting the local server: its program %s was deleted", gone)
                self._pg_ctl(["-w", "-m", "fast", "stop"], check=True)
            self._prepare_socket_dir()
            options = [
                "-c listen_addresses=''",
                f"-k {self.socket_dir}",
                f"-p {PORT}",
                *(f"-c {setting}" for setting in self.extra_settings),
            ]
            result = self._pg_ctl(
                ["-w", "-t", str(timeout), "-l", str(self.log_file), "-o", " ".join(options), "start"],
                check=False,
            )
            if result.returncode != 0:
                tail = self._log_tail()
                raise EmbeddedServerError(
                    f"The local PostgreSQL server in {self.pgdata} did not start.\n{result.stderr.strip()}\n"
                    f"Last lines of {self.log_file}:\n{tail}"
                )
            return True

    def stop(self, mode: str = "fast") -> bool:
        """Stop the server; returns False when it was not running."""
        with self._lock():
            if not self.is_running():
                return False
            result = self._pg_ctl(["-w", "-m", mode, "stop"], check=False)
            if result.returncode != 0:
                raise EmbeddedServerError(f"Could not stop the local server: {result.stderr.strip()}")
            return True

    def destroy(self) -> None:
        """Stop and delete the whole cluster (tests only)."""
        with contextlib.suppress(EmbeddedServerError):
            self.stop(mode="immediate")
        shutil.rmtree(self.pgdata, ignore_errors=True)
        if self.socket_dir != self.pgdata:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    # -- internals -----------------------------------------------------------------------------

    def _initdb(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if self._run_as:
            self._hand_to_service_user(self.pgdata)
        self.pgdata.chmod(0o700)
        cmd = [
            str(self._bin("initdb")),
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=reject",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ]
        result = self._run(cmd)
        if result.returncode != 0:
            # Older servers or minimal systems lack the C.UTF-8 locale; the C locale always exists.
            cmd[-1] = "--no-locale"
            result = self._run(cmd)
        if result.returncode != 0:
            raise EmbeddedServerError(f"initdb failed in {self.pgdata}:\n{result.stderr.strip()}")

    def _prepare_socket_dir(self) -> None:
        sock = self.socket_dir
        if sock == self.pgdata:
            return
        sock.mkdir(mode=0o700, exist_ok=True)
        if self._run_as:
            self._hand_to_service_user(sock)

    def _hand_to_service_user(self, path: Path) -> None:
        """Make `path` owned by the service user and reachable (traverse-only) through its parents."""
        entry = _ensure_system_user(self._run_as or SERVICE_USER)
        for root, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                os.chown(Path(root) / name, entry.pw_uid, entry.pw_gid)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        for parent in path.parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH)
        binaries = self.bin_dir
        assert binaries is not None
        for parent in [binaries.parent, *binaries.parent.parents]:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH)

    def _bin(self, name: str) -> Path:
        assert self.bin_dir is not None
        return self.bin_dir / name

    def _pg_ctl(self, args: list[str], *, check: bool) -> subprocess.CompletedProcess[str]:
        result = self._run([str(self._bin("pg_ctl")), "-D", str(self.pgdata), *args])
        if check and result.returncode != 0:
            raise EmbeddedServerError(result.stderr.strip())
        return result

    def _run(self, cmd: list[str]) -> subprocess.CompletedProcess[str]:
        """Run a server command; output goes to files because the daemon inherits pipes."""
        log.debug("running %s", cmd)
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            kwargs: dict[str, object] = {}
            if self._run_as:
                entry = pwd.getpwnam(self._run_as)
                # Drop root's groups too: with gid 0 the group bits of root-owned folders apply.
                kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[], cwd="/")
            proc = subprocess.run(
                cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, text=True, check=False, **kwargs
            )  # type: ignore[call-overload]
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())

    def _deleted_server_binary(self) -> str | None:
        """The running server's program path when that file no longer exists (Linux), else None."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
            exe = str(Path(f"/proc/{pid}/exe").readlink())
        except (OSError, ValueError):
            return None
        return exe.removesuffix(" (deleted)") if exe.endswith(" (deleted)") else None

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise start/stop between processes that share this cluster."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.pgdata.parent / f".{self.pgdata.name}.lock"
        if sys.platform == "win32":  # pragma: no cover - pgserver has no Windows build here
            yield
            return
        import fcntl

        with lock_path.open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
