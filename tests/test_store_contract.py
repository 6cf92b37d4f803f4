"""The run store's contract: the same answers from every backend, SQLite's RunStore and
PostgreSQL's PgRunStore (both core.store.base.BaseRunStore), asked through open_run_store.

Each test runs on both: a SQLite file in tmp_path, and a namespace of its own on a real
PostgreSQL server started for the session (conftest.postgres_url; skipped where the server
binaries are missing, a failure with REQUIRE_POSTGRES=1). What only one backend has stays with
it: the SQLite file (test_store.py, test_store_sqlfile.py, test_store_salvage.py) and the
PostgreSQL schema, roles and replicas (test_store_pg.py). Leases run on fake clocks; threads
meet on events, never on sleeps."""
from __future__ import annotations

import json
import os
import random
import threading
import zlib
from pathlib import Path

import pytest

from core.store import Claim, claim_or_wait
from core.store.claims import LEASE_S

TIMEOUT = 60.0  # only a guard against a hang


class FakeClock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, store_backend):
    return store_backend(request.param)


def _doc(i: int, n: int = 50) -> dict:
    return {"i": i, "values": [i + k / 7 for k in range(n)], "nested": {"nan": None, "s": "é"}}


def _sized(i: int, kb: int = 100) -> dict:
    return {"i": i, "blob": random.Random(i).randbytes(kb * 1024).hex()}  # incompressible enough


# --- runs: the same answers from both backends ---------------------------------------------

def test_put_get_and_the_stored_document_is_zlib_json(backend) -> None:
    events: list[str] = []
    s = backend.open(events=events)
    assert events == [] and not s.read_only and s.condition is None
    if backend.kind == "sqlite":  # made where it was asked for
        assert s.path == Path(backend.location) and s.path.exists()
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
    # Our "key" wins over the summary's; the page's "store" flag is not part of a summary.
    assert rows[1]["title"] == "t4" and rows[1]["key"] == "k4" and "store" not in rows[1]
    assert all(isinstance(r["created"], float) and r["created_iso"].endswith("+00:00") for r in rows)
    assert rows[0]["created"] >= rows[1]["created"]
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
    assert not hasattr(s, "warnings")  # nothing is kept store-wide for every later caller to see
    for k in ("good", "badblob", "notjson", "notdict", "badsummary", "badsummary2"):
        s.put(k, {"k": k}, {"title": k})
    backend.sql("UPDATE {runs} SET doc = ? WHERE key = 'badblob'", (os.urandom(64),))
    backend.sql("UPDATE {runs} SET doc = ? WHERE key = 'notjson'", (zlib.compress(b"{nope"),))
    backend.sql("UPDATE {runs} SET doc = ? WHERE key = 'notdict'", (zlib.compress(b"[1, 2]"),))
    for k in ("badsummary", "badsummary2"):
        backend.sql("UPDATE {runs} SET summary = ? WHERE key = ?", ("{broken", k))
    for k in ("badblob", "notjson", "notdict"):
        mine: list[str] = []
        assert s.get(k, mine) is None
        assert len(mine) == 1 and k[:12] in mine[0] and "treated as missing" in mine[0]
    quiet: list[str] = []
    assert s.get("good", quiet) == {"k": "good"} and s.get("badsummary", quiet) == {"k": "badsummary"}
    assert quiet == []  # another caller's trouble is not this caller's
    listing: list[str] = []
    assert {r["key"] for r in s.list(events=listing)} == {"good", "badblob", "notjson", "notdict"}
    # One short line for the listing, naming no run: a visitor is not told of others' runs.
    assert listing == ["2 stored runs could not be read and are not listed"]
    s.put("badblob", {"fixed": True}, {"title": "again"})  # an undecodable run is mended by storing it again
    assert s.get("badblob") == {"fixed": True}


def test_size_cap_evicts_the_least_recently_used_runs(backend) -> None:
    clock = FakeClock()
    s = backend.open(max_mb=1, clock=clock)
    sizes = {}
    for i in range(6):  # each about 0.11 MB compressed: 6 fit in 1 MB
        clock.t += 100
        s.put(f"k{i}", _sized(i), {"title": f"{i}"})
        sizes[f"k{i}"] = s.summary(f"k{i}")["bytes"]
    assert {r["key"] for r in s.list()} == {f"k{i}" for i in range(6)}
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


def test_a_run_over_the_cap_is_not_kept_and_says_so(backend) -> None:
    s = backend.open(max_mb=0.05)
    s.put("small", {"x": 1}, {})
    events: list[str] = []
    assert s.put("big", _sized(1), {}, events) is False
    assert s.get("big") is None and s.get("small") == {"x": 1}
    assert len(events) == 1 and "more than the run store's cap" in events[0] and "not kept" in events[0]


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


def _in_threads(n: int, work) -> list[BaseException]:
    """work(i) in n threads that start together; what they raised (a hang fails the test)."""
    start = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait(TIMEOUT)
        try:
            work(i)
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a thread hangs"
    return errors


def test_many_threads_write_their_own_runs(backend) -> None:
    s = backend.open()  # opened in this thread, used from all the others

    def work(i: int) -> None:
        for j in range(10):
            s.put(f"t{i}-{j}", _doc(j, 2000), {"title": f"{i}-{j}"})
            assert s.get(f"t{i}-{j}") == _doc(j, 2000)
            s.list(limit=5)

    assert _in_threads(8, work) == []
    events: list[str] = []
    assert len(s.list(limit=1000, events=events)) == 80 and events == []


def test_many_threads_read_and_write_the_same_runs(backend) -> None:
    s = backend.open()

    def work(i: int) -> None:
        for j in range(15):
            key = f"k{(i * 7 + j) % 10}"
            s.put(key, _doc(j), {"title": key})
            got = s.get(key)
            assert got is None or set(got) == {"i", "values", "nested"}
            s.list(limit=5)

    assert _in_threads(6, work) == [] and len(s.list()) == 10


# --- claims ----------------------------------------------------------------------------------

def test_one_owner_at_a_time_and_an_expired_claim_is_taken_over(backend) -> None:
    clock = FakeClock()
    a, b = backend.open(clock=clock), backend.open(clock=clock)
    assert a.try_claim("k", "A", 30) and a.claim_holder("k") == b.claim_holder("k") == "A"
    assert not b.try_claim("k", "B", 30)
    assert a.try_claim("k", "A", 30)  # the holder asking again keeps it (and renews it)
    clock.t += 29
    assert not b.try_claim("k", "B", 30)
    assert a.renew_claim("k", "A", 30)  # renewed while training: good until t0 + 59
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
    assert looks[-1] < t0 + LEASE_S <= clock.t  # waited exactly until the lease ended
    assert len(looks) == LEASE_S  # one look a second


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
