"""A throwaway PostgreSQL server on loopback, for the tests and `make stack`.

Debian's `postgresql` package (/usr/lib/postgresql/N/bin) is used as it is: `initdb` makes a
cluster in a temporary folder, `pg_ctl` starts it on 127.0.0.1 and a free port with its socket
in that folder, and stops it. PostgreSQL refuses to run as root, so as root every command runs
as the `postgres` user (runuser) and the folder belongs to it. Durability is switched off
(fsync, full_page_writes): the cluster is deleted when it stops, and a test must not wait for
a disk.

    with Cluster.start() as pg:
        pg.url   # postgresql://postgres@127.0.0.1:PORT/postgres
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 60


def bindir() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian's layout, else `pg_config`), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    return None


def missing() -> str | None:
    """Why a cluster cannot be started here, or None if it can."""
    if bindir() is None:
        return "PostgreSQL's server binaries (initdb, pg_ctl) are missing: install Debian's postgresql package"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run PostgreSQL as"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    folder: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    @classmethod
    def start(cls, folder: str | os.PathLike | None = None, port: int | None = None) -> Cluster:
        """initdb and start a cluster in `folder` (a new temporary one by default)."""
        why = missing()
        if why:
            raise RuntimeError(why)
        folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="relu-lab-pg-"))
        folder.mkdir(parents=True, exist_ok=True)
        c = cls(folder, port or _free_port(), bindir())
        if os.geteuid() == 0:
            ids = pwd.getpwnam("postgres")
            os.chown(folder, ids.pw_uid, ids.pw_gid)
        c._run("initdb", "-D", str(c.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        opts = (f"-p {c.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off -c synchronous_commit=off -c max_connections=200")
        c._run("pg_ctl", "-D", str(c.data), "-o", opts, "-l", str(c.log), "-w", "-t", str(START_TIMEOUT_S), "start")
        return c

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=self.folder, timeout=START_TIMEOUT_S + 30)
        if r.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} failed ({r.returncode}): {r.stderr.strip()[-2000:]}\n{tail}")

    def stop(self, remove: bool = True) -> None:
        """Stop the server (fast shutdown: open connections are closed), then delete its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            if remove:
                shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
