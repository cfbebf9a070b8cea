"""A throw-away PostgreSQL server for tests: initdb and pg_ctl on a temporary directory.

The server listens on 127.0.0.1 and a free port, with password (scram-sha-256) authentication
over TCP and trust on its private Unix socket (for the fixture's own superuser setup). PostgreSQL
refuses to run as root, so as root every server command runs as the `postgres` user through
runuser (or setpriv), on a directory handed to that user.

Without PostgreSQL binaries the fixtures skip, unless GITOPS_GEN_REQUIRE_POSTGRES=1, which turns
the skip into a failure (CI sets it).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

REQUIRE_ENV = "GITOPS_GEN_REQUIRE_POSTGRES"
SERVER_USER = "postgres"


def find_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl: pg_config's, else the newest Debian one."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name)) or (0,)

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for path in candidates:
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user() -> list[str]:
    """Command prefix that runs a program as the postgres user when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        pytest.fail(f"running as root but there is no '{SERVER_USER}' user to run PostgreSQL as")
    if shutil.which("runuser"):
        return ["runuser", "-u", SERVER_USER, "--"]
    entry = pwd.getpwnam(SERVER_USER)
    return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", "--"]


def _run(args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    result = subprocess.run([*_as_server_user(), *args], capture_output=True, text=True, env=env,
                            timeout=120, check=False)
    if check and result.returncode != 0:
        detail = result.stderr.strip()
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {detail}")
    return result


@dataclass
class PgServer:
    """A running server; `admin()` connects as the superuser through the private socket."""

    bindir: Path
    base: Path
    port: int
    host: str = "127.0.0.1"
    running: bool = field(default=False)

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "run"

    def start(self) -> None:
        opts = f"-c listen_addresses={self.host} -p {self.port} -k {self.socket_dir}"
        _run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.base / "log"),
              "-o", opts, "-w", "-t", "60", "start"])
        self.running = True

    def stop(self) -> None:
        if self.running:
            _run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"],
                 check=False)
            self.running = False

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=SERVER_USER,
                               dbname="postgres", autocommit=True)

    def create_database(self, dbname: str, user: str, password: str) -> None:
        """A login role with this password and a database it owns."""
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(password)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(dbname), sql.Identifier(user)))


def start_server() -> PgServer:
    """initdb a fresh cluster in a new temporary directory and start it."""
    bindir = find_bindir()
    if bindir is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) not found"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{message}, and {REQUIRE_ENV}=1")
        pytest.skip(message)
    # Not under pytest's tmp_path: that lives in a root-only directory the server user cannot
    # enter. mkdtemp's directory is private (0700) and then handed to the server user.
    base = Path(tempfile.mkdtemp(prefix="gitops-gen-pg-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    server = PgServer(bindir=bindir, base=base, port=free_port())
    try:
        _run(["mkdir", str(server.socket_dir)])
        _run([str(bindir / "initdb"), "-D", str(server.datadir), "-U", SERVER_USER,
              "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"])
        server.start()
    except BaseException:
        discard_server(server)
        raise
    return server


def discard_server(server: PgServer) -> None:
    server.stop()
    shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PgServer]:
    """One server for a test module."""
    server = start_server()
    try:
        yield server
    finally:
        discard_server(server)


@pytest.fixture
def fresh_postgres_server() -> Iterator[PgServer]:
    """A server of one's own, for a test that stops it."""
    server = start_server()
    try:
        yield server
    finally:
        discard_server(server)
