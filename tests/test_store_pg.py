"""The run store's contract on both backends (SQLite's RunStore, PostgreSQL's PgRunStore), and
what only PostgreSQL has: its schema created and migrated by the program, its own tables only,
read-only roles, an unreachable server, replicas in several processes training once.

PostgreSQL is a real server started for the session (conftest.postgres_url); each test gets a
namespace (PostgreSQL schema) of its own. Leases run on fake clocks; threads and processes meet
on events and files, never on sleeps."""
from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
import zlib
from pathlib import Path

import pytest

from core.store import Claim, NotAStore, StoreError, claim_or_wait, open_run_store
from core.store.claims import LEASE_S

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 60.0  # only a guard against a hang


class FakeClock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class Backend:
    """One store location of one kind: open views of it, and reach its rows behind its back."""

    def __init__(self, kind: str, location: str, namespace: str | None = None):
        self.kind, self.location, self.namespace = kind, location, namespace
        self.opened: list = []

    def open(self, **kw):
        if self.namespace:
            kw["namespace"] = self.namespace
        s = open_run_store(self.location, **kw)
        self.opened.append(s)
        return s

    def sql(self, statement: str, params: tuple = ()) -> list[tuple]:
        """Run one statement on the store's own tables ({runs}, {claims}), as another program would."""
        if self.kind == "sqlite":
            con = sqlite3.connect(self.location)
            try:
                rows = con.execute(statement.format(runs="runs", claims="claims"), params).fetchall()
                con.commit()
                return rows
            finally:
                con.close()
        import psycopg

        ns = f'"{self.namespace}"'
        with psycopg.connect(self.location, autocommit=True) as con:
            cur = con.execute(statement.replace("?", "%s").format(runs=f"{ns}.runs", claims=f"{ns}.claims"), params)
            return cur.fetchall() if cur.description else []

    def close(self) -> None:
        for s in self.opened:
            if hasattr(s, "close"):
                s.close()


def _namespace() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path):
    if request.param == "sqlite":
        b = Backend("sqlite", str(tmp_path / "runs.db"))
    else:
        b = Backend("postgresql", request.getfixturevalue("postgres_url"), _namespace())
    yield b
    b.close()


@pytest.fixture
def pg(postgres_url):
    b = Backend("postgresql", postgres_url, _namespace())
    yield b
    b.close()


def _doc(i: int, n: int = 50) -> dict:
    return {"i": i, "values": [i + k / 7 for k in range(n)], "nested": {"nan": None, "s": "é"}}


def _sized(i: int, kb: int = 100) -> dict:
    return {"i": i, "blob": random.Random(i).randbytes(kb * 1024).hex()}  # incompressible enough


# --- runs: the same answers from both backends ---------------------------------------------

def test_put_get_and_the_stored_document_is_zlib_json(backend) -> None:
    events: list[str] = []
    s = backend.open(events=events)
    assert events == [] and not s.read_only and s.condition is None
    assert s.put("k1", _doc(1), {"title": "one", "status": "ok", "seconds": 1.5}) is True
    assert s.get("k1") == _doc(1) and s.get("missing") is None
    # Readable without this program, and never pickle: zlib-compressed JSON.
    (blob, summ), = backend.sql("SELECT doc, summary FROM {runs} WHERE key = 'k1'")
    assert json.loads(zlib.decompress(bytes(blob))) == _doc(1)
    assert json.loads(summ) == {"title": "one", "status": "ok", "seconds": 1.5}


def test_replace_list_order_limit_summary_delete(backend) -> None:
    s = backend.open()
    for i in range(5):
        s.put(f"k{i}", _doc(i), {"title": f"t{i}", "status": "ok", "key": "not-mine", "store": True})
    s.put("k1", _doc(99), {"title": "replaced"})  # same key again = replace, and now newest
    assert s.get("k1") == _doc(99)
    rows = s.list()
    assert [r["key"] for r in rows] == ["k1", "k4", "k3", "k2", "k0"]
    assert rows[0]["title"] == "replaced" and "status" not in rows[0]
    assert rows[1]["title"] == "t4" and rows[1]["key"] == "k4" and "store" not in rows[1]
    assert all(isinstance(r["created"], float) and r["created_iso"].endswith("+00:00") for r in rows)
    assert all(r["bytes"] > 0 for r in rows)
    assert [r["key"] for r in s.list(limit=2)] == ["k1", "k4"]
    assert s.summary("k4")["title"] == "t4" and s.summary("nope") is None
    assert s.delete("k3") is True and s.delete("k3") is False
    assert s.get("k3") is None and len(s.list()) == 4
    # Another view (another replica) sees the same runs.
    assert [r["key"] for r in backend.open().list()] == ["k1", "k4", "k2", "k0"]


def test_resolve_a_key_prefix(backend) -> None:
    s = backend.open()
    for k in ("abc111", "abc222", "abd333", "x_%"):
        s.put(k, {"k": k}, {})
    assert s.resolve("abc111") == "abc111" and s.resolve("abd") == "abd333"
    assert s.resolve("x_") == "x_%"  # a prefix is text, not a LIKE pattern
    with pytest.raises(KeyError):
        s.resolve("x%")
    with pytest.raises(ValueError, match="ambiguous: abc111, abc222"):
        s.resolve("abc")
    with pytest.raises(KeyError):
        s.resolve("zzz")
    with pytest.raises(KeyError):
        s.resolve("")


def test_undecodable_rows_are_events_of_the_call_that_met_them(backend) -> None:
    s = backend.open()
    for k in ("good", "badblob", "notjson", "notdict", "badsummary"):
        s.put(k, {"k": k}, {"title": k})
    backend.sql("UPDATE {runs} SET doc = ? WHERE key = 'badblob'", (os.urandom(64),))
    backend.sql("UPDATE {runs} SET doc = ? WHERE key = 'notjson'", (zlib.compress(b"{nope"),))
    backend.sql("UPDATE {runs} SET doc = ? WHERE key = 'notdict'", (zlib.compress(b"[1, 2]"),))
    backend.sql("UPDATE {runs} SET summary = ? WHERE key = 'badsummary'", ("{broken",))
    for k in ("badblob", "notjson", "notdict"):
        mine: list[str] = []
        assert s.get(k, mine) is None
        assert len(mine) == 1 and k[:12] in mine[0] and "treated as missing" in mine[0]
    quiet: list[str] = []
    assert s.get("good", quiet) == {"k": "good"} and quiet == []
    listing: list[str] = []
    assert {r["key"] for r in s.list(events=listing)} == {"good", "badblob", "notjson", "notdict"}
    assert listing == ["1 stored run could not be read and is not listed"]
    s.put("badblob", {"fixed": True}, {"title": "again"})
    assert s.get("badblob") == {"fixed": True}


def test_size_cap_evicts_the_least_recently_used_runs(backend) -> None:
    clock = FakeClock()
    s = backend.open(max_mb=1, clock=clock)
    sizes = {}
    for i in range(6):  # each about 0.11 MB compressed: 6 fit in 1 MB
        clock.t += 100
        s.put(f"k{i}", _sized(i), {"title": f"{i}"})
        sizes[f"k{i}"] = s.summary(f"k{i}")["bytes"]
    clock.t += 100
    assert s.get("k0") is not None  # read: now the most recently used of the old ones
    for i in range(6, 10):
        clock.t += 100
        s.put(f"k{i}", _sized(i), {"title": f"{i}"})
        sizes[f"k{i}"] = s.summary(f"k{i}")["bytes"]
    kept = {r["key"] for r in s.list()}
    total = sum(sizes[k] for k in kept)
    assert total <= 2**20 and "k9" in kept
    order = ["k1", "k2", "k3", "k4", "k5", "k0", "k6", "k7", "k8", "k9"]
    assert kept == set(order[len(order) - len(kept):])  # exactly the least recently used went
    assert total + sizes[order[len(order) - len(kept) - 1]] > 2**20  # and no more than needed
    events: list[str] = []
    small = backend.open(max_mb=0.05, clock=clock)
    assert small.put("big", _sized(1), {}, events) is False and small.get("big") is None
    assert len(events) == 1 and "more than the run store's cap" in events[0]


def test_a_get_records_its_time_at_most_once_a_minute(backend) -> None:
    clock = FakeClock()
    s = backend.open(clock=clock)
    s.put("k", {"a": 1}, {})
    t0 = clock.t

    def accessed() -> float:
        return backend.sql("SELECT accessed FROM {runs} WHERE key = 'k'")[0][0]

    clock.t += 30
    s.get("k")
    assert accessed() == t0  # no write for every read
    clock.t += 31
    s.get("k")
    assert accessed() == clock.t


def test_many_threads_read_and_write_one_store(backend) -> None:
    s = backend.open()
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(15):
                key = f"k{(i * 7 + j) % 10}"
                s.put(key, _doc(j), {"title": key})
                got = s.get(key)
                assert got is None or set(got) == {"i", "values", "nested"}
                s.list(limit=5)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert errors == [] and len(s.list()) == 10


# --- claims ----------------------------------------------------------------------------------

def test_one_owner_at_a_time_and_an_expired_claim_is_taken_over(backend) -> None:
    clock = FakeClock()
    a, b = backend.open(clock=clock), backend.open(clock=clock)
    assert a.try_claim("k", "A", 30) and a.claim_holder("k") == b.claim_holder("k") == "A"
    assert not b.try_claim("k", "B", 30)
    assert a.try_claim("k", "A", 30)  # the holder asking again keeps it (and renews it)
    clock.t += 29
    assert not b.try_claim("k", "B", 30)
    assert a.renew_claim("k", "A", 30)
    clock.t += 29
    assert not b.try_claim("k", "B", 30) and b.claim_holder("k") == "A"
    clock.t += 2  # the owner died 30 s ago: its lease ran out
    assert b.claim_holder("k") is None and b.try_claim("k", "B", 30) and a.claim_holder("k") == "B"
    assert not a.renew_claim("k", "A", 30)  # the old owner learns it lost it
    a.release_claim("k", "A")  # and cannot release someone else's
    assert b.claim_holder("k") == "B"
    b.release_claim("k", "B")
    assert a.claim_holder("k") is None and a.try_claim("k", "A", 30)
    assert a.try_claim("other", "B", 30)  # claims are per key


def test_a_dead_holder_is_taken_over_when_its_lease_runs_out(backend) -> None:
    clock = FakeClock()
    a, b = backend.open(clock=clock), backend.open(clock=clock)
    t0 = clock.t
    assert b.try_claim("k", "B", LEASE_S)  # then killed: never renewed, never released
    looks: list[float] = []

    def wait(s: float) -> None:
        looks.append(clock.t)
        clock.t += s

    turn = claim_or_wait(a, "k", owner="A", poll_s=1.0, wait=wait)
    assert isinstance(turn.claim, Claim) and a.claim_holder("k") == "A"
    assert looks[-1] < t0 + LEASE_S <= clock.t and len(looks) == LEASE_S  # exactly until the lease ended


def test_threads_asking_for_one_experiment_train_it_once(backend) -> None:
    """Six requests (each its own view of the store, as replicas are) for one key: one trains,
    and only once every other one is waiting for it; all get its result."""
    n = 6
    views = [backend.open() for _ in range(n)]
    waiting: set[int] = set()
    everyone_waits = threading.Event()
    lock = threading.Lock()
    trained: list[int] = []
    got: dict[int, dict] = {}

    def on_wait(i: int):
        def f(owner: str) -> None:
            with lock:
                waiting.add(i)
                if len(waiting) == n - 1:
                    everyone_waits.set()
        return f

    def request(i: int) -> None:
        store = views[i]
        turn = claim_or_wait(store, "exp", on_wait=on_wait(i), poll_s=0.01)
        if turn.claim is not None:
            with turn.claim:
                trained.append(i)
                assert everyone_waits.wait(TIMEOUT), "the others never waited"
                store.put("exp", {"by": i}, {})
            got[i] = {"by": i}
        else:
            got[i] = turn.doc

    threads = [threading.Thread(target=request, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert len(trained) == 1 and got == {i: {"by": trained[0]} for i in range(n)}
    assert views[0].claim_holder("exp") is None


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

_CLI = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    marks, looked, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    import core.train
    from core.store import pg
    real_train, real_get = core.train.run_experiment, pg.PgRunStore.get

    def get(self, key, events=None):  # every look at the store leaves a trace
        (looked / str(os.getpid())).touch()
        return real_get(self, key, events)

    def train(*a, **k):
        with open(marks, "a") as f:
            f.write(f"{os.getpid()}\\n")
        # Train only once every process has looked the experiment up (the bound only keeps a bug
        # from hanging): without claims, each of them would find nothing stored and train it too.
        t_end = time.monotonic() + 120
        while len(list(looked.iterdir())) < n and time.monotonic() < t_end:
            time.sleep(0.02)
        return real_train(*a, **k)

    pg.PgRunStore.get, core.train.run_experiment = get, train
    from core.cli import main
    sys.exit(main(sys.argv[4:]))
""")


def test_processes_on_one_postgresql_store_train_once_and_list_it(pg, tmp_path) -> None:
    n = 3
    marks, looked = tmp_path / "trained", tmp_path / "looked"
    looked.mkdir()
    # The namespace is the default one here, as a real deployment's: a database of its own.
    import psycopg

    db = f"d_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.location, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {db}")
    url = pg.location.rsplit("/", 1)[0] + f"/{db}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = ["run", "--n-samples", "100", "--epochs", "3", "--seeds", "2", "--width", "8", "--quiet", "--store", url]
    procs = [subprocess.Popen([sys.executable, "-c", _CLI, str(marks), str(looked), str(n), *args,
                               "--json", str(tmp_path / f"out{i}.json")], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(n)]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0 and "Traceback" not in err, err
    assert len(marks.read_text().split()) == 1  # exactly one process trained
    errs = [err for _, err in results]
    assert sum("kept in the run store" in e for e in errs) == 1
    assert sum("served from the run store" in e for e in errs) == n - 1
    outs = [json.loads((tmp_path / f"out{i}.json").read_text()) for i in range(n)]
    assert all(o == outs[0] for o in outs)
    listed = subprocess.run([sys.executable, "-m", "core", "runs", "list", "--store", url], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert len([ln for ln in listed.stdout.splitlines() if ln.strip()]) >= 2  # a header and the one run
