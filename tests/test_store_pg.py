"""What only the PostgreSQL run store has: its schema created and migrated by the program, its
own tables only, read-only roles, an unreachable server, replicas in several processes training
once. What every backend shares is test_store_contract.py's.

PostgreSQL is a real server started for the session (conftest.postgres_url); each test gets a
namespace (PostgreSQL schema) of its own. Threads and processes meet on events and files,
never on sleeps."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pytest

from core.store import NotAStore, StoreError, claim_or_wait, open_run_store

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 60.0  # only a guard against a hang


@pytest.fixture
def pg(store_backend):
    return store_backend("postgresql")


# --- PostgreSQL only: the schema ---------------------------------------------------------------

def test_the_schema_is_created_versioned_and_in_its_own_namespace(pg) -> None:
    from core.store import pg as P

    assert pg.sql("SELECT count(*) FROM pg_namespace WHERE nspname = ?", (pg.namespace,)) == [(0,)]
    pg.open()
    tables = {r[0] for r in pg.sql("SELECT tablename FROM pg_tables WHERE schemaname = ?", (pg.namespace,))}
    assert tables == {"runs", "claims", "schema_version"}
    assert pg.sql(f'SELECT version, app FROM "{pg.namespace}".schema_version') == [(P.SCHEMA_VERSION, "relu-lab")]
    assert pg.sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]  # nothing elsewhere
    pg.open()  # opening again changes nothing
    assert pg.sql(f'SELECT count(*) FROM "{pg.namespace}".schema_version') == [(P.SCHEMA_VERSION,)]


def test_a_new_migration_step_is_applied_once_and_keeps_the_runs(pg, monkeypatch) -> None:
    from core.store import pg as P

    pg.open().put("k", {"a": 1}, {"title": "old"})
    nxt = P.SCHEMA_VERSION + 1
    monkeypatch.setattr(P, "SCHEMA_VERSION", nxt)
    monkeypatch.setitem(P.MIGRATIONS, nxt, ("ALTER TABLE {ns}.runs ADD COLUMN note text",))
    s = pg.open()
    assert s.get("k") == {"a": 1} and s.list()[0]["title"] == "old"
    assert [r[0] for r in pg.sql(f'SELECT version FROM "{pg.namespace}".schema_version ORDER BY version')] == \
        list(range(1, nxt + 1))
    assert pg.sql("SELECT note FROM {runs}") == [(None,)]
    pg.open()  # already there: not applied twice (ADD COLUMN would fail)


def test_replicas_starting_together_create_the_schema_once(pg) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def open_one() -> None:
        try:
            start.wait(TIMEOUT)
            pg.open().put(f"k{threading.get_ident()}", {}, {})
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert errors == [] and pg.sql("SELECT count(*) FROM {runs}") == [(6,)]


def test_a_store_made_by_a_newer_version_is_refused_untouched(pg) -> None:
    pg.open().put("k", {"a": 1}, {})
    pg.sql(f"INSERT INTO \"{pg.namespace}\".schema_version VALUES (99, 'relu-lab', 0)")
    with pytest.raises(StoreError, match="newer version of the lab.*schema 99"):
        pg.open()
    assert pg.sql("SELECT count(*) FROM {runs}") == [(1,)]


def test_another_programs_tables_are_not_a_store_and_nothing_is_changed(pg) -> None:
    pg.sql(f'CREATE SCHEMA "{pg.namespace}"')
    pg.sql(f'CREATE TABLE "{pg.namespace}".runs (id int)')
    with pytest.raises(NotAStore, match="another program's \\(runs\\)"):
        pg.open()
    assert [r[0] for r in pg.sql("SELECT tablename FROM pg_tables WHERE schemaname = ?", (pg.namespace,))] == ["runs"]


def test_a_role_that_may_only_read_is_served_read_only(pg) -> None:
    pg.open().put("k", {"a": 1}, {"title": "t"})
    role = f"r_{uuid.uuid4().hex[:12]}"
    pg.sql(f"CREATE ROLE {role} LOGIN")
    pg.sql(f'GRANT USAGE ON SCHEMA "{pg.namespace}" TO {role}')
    pg.sql(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{pg.namespace}" TO {role}')
    events: list[str] = []
    s = open_run_store(pg.location.replace("postgres@", f"{role}@"), namespace=pg.namespace, events=events)
    try:
        assert s.read_only and events == [s.condition] and "read-only" in s.condition
        assert s.get("k") == {"a": 1} and s.list()[0]["title"] == "t"
        assert s.put("k2", {}, {}) is False and s.delete("k") is False
        turn = claim_or_wait(s, "k3", wait=pytest.fail)  # nothing to share: every claim granted
        assert turn.claim is not None and s.claim_holder("k3") is None
        turn.claim.release()
    finally:
        s.close()
    assert pg.sql("SELECT key FROM {runs}") == [("k",)] and pg.sql("SELECT count(*) FROM {claims}") == [(0,)]


def test_an_unreachable_server_is_a_store_error_without_the_password(pg) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://someone:s3cret@127.0.0.1:{port}/db?sslmode=disable&password=s3cret"
    with pytest.raises(StoreError) as e:
        open_run_store(url)
    assert "cannot connect" in str(e.value) and "s3cret" not in str(e.value)
    assert "postgresql://someone@127.0.0.1:" in str(e.value) and isinstance(e.value, OSError)


def test_a_broken_pooled_connection_is_replaced(pg) -> None:
    s = pg.open()
    s.put("k", {"a": 1}, {})
    # The server drops this store's connections (a restart, a failover): the next call reconnects.
    pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'relu-lab'")
    assert s.get("k") == {"a": 1}


def test_the_embedded_store_never_imports_psycopg(tmp_path) -> None:
    code = textwrap.dedent("""
        import sys
        from core.store import open_run_store
        import core.cli, core.runs_cli, core.serve
        s = open_run_store(sys.argv[1])
        s.put("k", {"a": 1}, {})
        assert s.get("k") == {"a": 1}
        print("psycopg" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "runs.db")], cwd=REPO, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# --- PostgreSQL only: the command line, in several processes -------------------------------------

def test_processes_on_one_postgresql_store_train_once_and_list_it(pg, cli_race) -> None:
    # The namespace is the default one here, as a real deployment's: a database of its own.
    import psycopg

    db = f"d_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.location, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {db}")
    url = pg.location.rsplit("/", 1)[0] + f"/{db}"
    cli_race(3, "core.store.pg:PgRunStore", url)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    listed = subprocess.run([sys.executable, "-m", "core", "runs", "list", "--store", url], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert len([ln for ln in listed.stdout.splitlines() if ln.strip()]) >= 2  # a header and the one run
