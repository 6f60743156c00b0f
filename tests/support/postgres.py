"""A throwaway PostgreSQL 15 cluster for tests: 127.0.0.1 only, trust auth, no durability.

    cluster = PostgresCluster()
    cluster.start()                       # initdb + start on a free port, creates db "hookline"
    url = cluster.create_database("x")    # postgresql+asyncpg://postgres@127.0.0.1:PORT/x
    cluster.restart()                     # "the store restarts": same data, same port
    cluster.stop()                        # stops the server and removes the temp dir

PostgreSQL refuses to run as root: when we are root, initdb/pg_ctl run as the ``postgres`` OS
user (``su postgres -s /bin/sh -c ...``) in a temp dir that user owns. As any other user they
run directly. Client commands (psql) run as ourselves over TCP with trust auth.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
DEFAULT_DATABASE = "hookline"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_TIMEOUT = 120  # seconds for any one command

_SETTINGS = """
# --- hookline test cluster: local only, fast, not durable ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '{socket_dir}'
fsync = off
full_page_writes = off
synchronous_commit = off
max_connections = 200
logging_collector = off
log_min_messages = warning
"""

_HBA = """# hookline test cluster: trust, local socket and 127.0.0.1 only
local all all trust
host  all all 127.0.0.1/32 trust
"""


class PostgresError(RuntimeError):
    pass


def _is_root() -> bool:
    return os.geteuid() == 0


def available(bin_dir: Path = PG_BIN) -> bool:
    """True when the PostgreSQL binaries exist and (as root) the ``postgres`` OS user exists."""
    if not all((bin_dir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres", "psql")):
        return False
    if not _is_root():
        return True
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        return False
    return shutil.which("su") is not None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class PostgresCluster:
    """One PostgreSQL cluster in a temp dir, on 127.0.0.1:``port``, superuser ``postgres``."""

    available = staticmethod(available)

    def __init__(self, *, bin_dir: Path | str = PG_BIN, database: str = DEFAULT_DATABASE) -> None:
        if not _NAME.match(database):
            raise ValueError(f"bad database name {database!r}")
        self.bin_dir = Path(bin_dir)
        self.database = database
        self._base: Path | None = None
        self._port: int | None = None
        self._running = False
        self._started_once = False

    # paths and addresses

    @property
    def base_dir(self) -> Path:
        if self._base is None:
            raise PostgresError("cluster not started")
        return self._base

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir

    @property
    def log_file(self) -> Path:
        return self.base_dir / "postgres.log"

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise PostgresError("cluster not started")
        return self._port

    @property
    def running(self) -> bool:
        return self._running

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the default database (``hookline``)."""
        return self.url_for(self.database)

    def url_for(self, name: str) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@{HOST}:{self.port}/{name}"

    def dsn(self, name: str | None = None) -> str:
        """libpq/asyncpg DSN (``postgresql://postgres@127.0.0.1:PORT/NAME``)."""
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{name or self.database}"

    # lifecycle

    def start(self) -> None:
        """First call: initdb in a fresh temp dir, start on a free port, create the default
        database. Later calls (after ``stop_server()``): start again on the same port."""
        if self._running:
            return
        if self._base is None:
            self._init()
        if self._started_once:
            self.start_server()
            return
        for attempt in range(3):
            self._port = _free_port()
            try:
                self.start_server()
                break
            except PostgresError:
                if attempt == 2 or "in use" not in self._log_tail():
                    self._remove()
                    raise
        self._started_once = True
        atexit.register(self._stop_at_exit)
        self.create_database(self.database)

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``) and remove the temp dir with all data."""
        try:
            if self._running:
                try:
                    self.stop_server()
                except PostgresError:
                    self._pg_ctl("stop", "-m", "immediate", check=False)
                    self._running = False
        finally:
            self._remove()

    def restart(self) -> None:
        """Stop and start again: same data, same port (a store outage in fault tests)."""
        self.stop_server()
        self.start_server()

    def stop_server(self) -> None:
        """Stop the server but keep the data (``start()``/``start_server()`` resume it)."""
        if not self._running:
            return
        self._pg_ctl("stop", "-m", "fast")
        self._running = False

    def start_server(self) -> None:
        if self._running:
            return
        self._pg_ctl("start", "-l", str(self.log_file), "-o", f"-p {self.port}")
        self._running = True

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    async def arestart(self, downtime: float = 0.0) -> None:
        """``restart()`` off the event loop; the server stays down ``downtime`` seconds."""
        await asyncio.to_thread(self.stop_server)
        if downtime > 0:
            await asyncio.sleep(downtime)
        await asyncio.to_thread(self.start_server)

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # databases

    def create_database(self, name: str) -> str:
        """Create database ``name`` (no error if it exists); return its SQLAlchemy URL."""
        if not _NAME.match(name):
            raise ValueError(f"bad database name {name!r}")
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if not exists.strip():
            self.psql(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        if not _NAME.match(name):
            raise ValueError(f"bad database name {name!r}")
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through psql over TCP; return unaligned tuples-only output."""
        args = [
            str(self.bin_dir / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            HOST,
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            "-c",
            sql,
        ]
        result = subprocess.run(
            args, capture_output=True, text=True, timeout=_TIMEOUT, env=_env(), check=False
        )
        if result.returncode != 0:
            raise PostgresError(f"psql failed ({sql!r}): {result.stderr.strip()}")
        return result.stdout

    # internals

    def _init(self) -> None:
        if not available(self.bin_dir):
            raise PostgresError(
                f"PostgreSQL not available: need {self.bin_dir}/initdb etc."
                + (f" and the {OS_USER!r} OS user" if _is_root() else "")
            )
        base = Path(tempfile.mkdtemp(prefix="hookline-pg-"))
        self._base = base
        try:
            if _is_root():
                owner = pwd.getpwnam(OS_USER)
                os.chown(base, owner.pw_uid, owner.pw_gid)
            self._as_owner(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ]
            )
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write(_SETTINGS.format(socket_dir=self.socket_dir))
            (self.data_dir / "pg_hba.conf").write_text(_HBA)
            if _is_root():
                owner = pwd.getpwnam(OS_USER)
                os.chown(self.data_dir / "pg_hba.conf", owner.pw_uid, owner.pw_gid)
        except BaseException:
            self._remove()
            raise

    def _pg_ctl(self, action: str, *args: str, check: bool = True) -> None:
        command = [str(self.bin_dir / "pg_ctl"), action, "-D", str(self.data_dir), "-w", "-s"]
        command += ["-t", "60", *args]
        self._as_owner(command, check=check)

    def _as_owner(self, args: list[str], *, check: bool = True) -> None:
        if _is_root():
            script = f"cd {shlex.quote(str(self.base_dir))} && exec {shlex.join(args)}"
            command = ["su", OS_USER, "-s", "/bin/sh", "-c", script]
        else:
            command = args
        result = subprocess.run(
            command,
            cwd=self.base_dir,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            env=_env(),
            check=False,
        )
        if check and result.returncode != 0:
            raise PostgresError(
                f"{Path(args[0]).name} {args[1] if len(args) > 1 else ''} failed "
                f"(exit {result.returncode}): {(result.stdout + result.stderr).strip()}\n"
                f"--- server log ---\n{self._log_tail()}"
            )

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except (OSError, PostgresError):
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _remove(self) -> None:
        base, self._base = self._base, None
        self._running = False
        self._started_once = False
        with contextlib.suppress(Exception):
            atexit.unregister(self._stop_at_exit)
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)

    def _stop_at_exit(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()


def _env() -> dict[str, str]:
    """Our environment without PG* variables (they would redirect psql/pg_ctl)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env
