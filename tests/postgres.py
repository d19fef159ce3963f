"""A real, throwaway PostgreSQL server for the storage tests (initdb + pg_ctl in a temp dir)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["postgres_bin", "running_postgres", "postgres_server", "PostgresServer", "free_port"]


def postgres_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (PATH first, then Debian's layout)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A started server: its URL, and a way to restart it under running clients."""

    def __init__(
        self,
        bindir: Path,
        base: Path,
        port: int,
        as_user: list[str],
        fsync: bool,
        settings: dict[str, str] | None = None,
    ):
        self.bindir, self.base, self.port, self.as_user = bindir, base, port, as_user
        self.data = base / "data"
        extra = "".join(f" -c {k}={v}" for k, v in (settings or {}).items())
        self.options = (
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync={'on' if fsync else 'off'}"
            + extra
        )
        self.url = f"postgresql://automl@127.0.0.1:{port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
                       check=True, capture_output=True, timeout=120)  # fmt: skip

    def start(self) -> None:
        self._ctl("-o", self.options, "-l", str(self.base / "log"), "-w", "start")

    def stop(self) -> None:
        self._ctl("-m", "immediate", "stop")

    def restart(self) -> None:
        """Stop at once (clients' connections drop, as in a crash) and start again."""
        self.stop()
        self.start()


@contextmanager
def postgres_server(
    bindir: Path, fsync: bool = False, settings: dict[str, str] | None = None
) -> Iterator[PostgresServer]:
    """Start a server on a free loopback port; yield it; stop and delete it.

    PostgreSQL refuses to run as root, so under root the server runs as the ``postgres``
    account that Debian's package creates. ``fsync`` is off by default (tests want speed, not
    durability); benchmarks turn it on to time what a real server does. ``settings`` are more
    server settings (``{"max_connections": "400"}``).
    """
    base = Path(tempfile.mkdtemp(prefix="automl-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
    server = PostgresServer(bindir, base, free_port(), as_user, fsync, settings)
    initdb = [str(bindir / "initdb"), "-D", str(server.data), "-A", "trust", "-U", "automl"]
    subprocess.run([*as_user, *initdb, "--no-sync"], check=True, capture_output=True, timeout=120)
    server.start()
    try:
        yield server
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(server.data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def running_postgres(bindir: Path, fsync: bool = False) -> Iterator[str]:
    """Start a server on a free loopback port; yield its SQLAlchemy URL (see postgres_server)."""
    with postgres_server(bindir, fsync) as server:
        yield server.url
