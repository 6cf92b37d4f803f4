"""core.store.salvage: a damaged store keeps every run that can still be read, in a fresh file,
with one short line; the damaged file is kept aside as it was found."""
from __future__ import annotations

import json
import os
import random
import sqlite3
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.store import RunStore
from core.store import sqlfile as F

PAGE = 4096


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store" / "runs.db"


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p != path)


def _doc(i: int, kb: int = 3) -> dict:
    return {"i": i, "blob": random.Random(i).randbytes(kb * 1024).hex()}


def _filled(path: Path, n: int, big: int | None = None) -> dict[str, dict]:
    """A store of n runs of about 3 KB (run `big`: 60 KB, on overflow pages of its own),
    checkpointed so that the main file holds everything."""
    RunStore(path)
    docs = {f"k{i:03d}": _doc(i, 60 if i == big else 3) for i in range(n)}
    con = sqlite3.connect(path)  # one transaction: put() per run is tested elsewhere, and slower
    rows = [(k, 1000.0 + i, json.dumps({"title": k}), F.encode(d), len(F.encode(d)), 1000.0 + i)
            for i, (k, d) in enumerate(docs.items())]
    con.executemany("INSERT INTO runs (key, created, summary, doc, bytes, accessed) VALUES (?,?,?,?,?,?)", rows)
    con.commit()
    con.close()
    _checkpoint(path)
    return docs


def _checkpoint(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def _damage(path: Path, page: int, seed: int = 0) -> bytes:
    data = bytearray(path.read_bytes())
    data[(page - 1) * PAGE:page * PAGE] = random.Random(seed).randbytes(PAGE)
    path.write_bytes(bytes(data))
    return bytes(data)


def _pages(path: Path, kind: str) -> list[int]:
    con = sqlite3.connect(path)
    try:
        return [r[0] for r in con.execute("SELECT pageno FROM dbstat WHERE name = 'runs' AND pagetype = ? "
                                          "ORDER BY pageno", (kind,))]
    finally:
        con.close()


# --- damage salvages ----------------------------------------------------------------------

def test_one_damaged_page_loses_one_run_of_363_with_one_short_warning(db: Path) -> None:
    """The reproduction: one damaged 4 KB page set all 363 runs aside with a 202-line warning."""
    docs = _filled(db, 363, big=100)
    overflow = _pages(db, "overflow")  # all of them hold run k100's document
    damaged = _damage(db, overflow[len(overflow) // 2])
    events: list[str] = []
    s = RunStore(db, events=events)
    [aside] = [p for p in db.parent.iterdir() if p.name.startswith("runs.db.corrupt-") and p.suffix == ".db"
               or p.name.startswith("runs.db.corrupt-") and not p.name.endswith(("-wal", "-shm"))]
    assert events == [f"the run store {db} was damaged: kept 362 of 363 runs in a fresh file; "
                      f"the damaged one is kept as {aside.name}"]
    assert aside.read_bytes() == damaged  # the damaged original, as it was found
    assert {r["key"] for r in s.list(limit=1000)} == set(docs) - {"k100"}
    assert all(s.get(k) == d for k, d in docs.items() if k != "k100")
    s.put("after", {"a": 1}, {})
    assert RunStore(db).get("after") == {"a": 1} and F.identify(db) == "ours"


def test_a_damaged_leaf_page_loses_only_the_runs_on_it(db: Path) -> None:
    docs = _filled(db, 120)
    leaves = _pages(db, "leaf")
    _damage(db, leaves[len(leaves) // 2])
    events: list[str] = []
    s = RunStore(db, events=events)
    kept = {r["key"] for r in s.list(limit=1000)}
    assert len(events) == 1 and f"kept {len(kept)} of " in events[0]
    assert len(kept) >= len(docs) - 2  # one leaf holds one or two of these runs
    assert all(s.get(k) == docs[k] for k in kept)


@pytest.mark.parametrize("cut", ["first-page", "half"])
def test_a_truncated_store_is_salvaged(db: Path, cut: str) -> None:
    docs = _filled(db, 40)
    data = db.read_bytes()
    db.write_bytes(data[:100] if cut == "first-page" else data[: len(data) // 2])
    Path(f"{db}-wal").write_bytes(os.urandom(500))  # a stale WAL must not leak into the new store
    events: list[str] = []
    s = RunStore(db, events=events)
    assert len(events) == 1 and "was damaged: kept" in events[0]
    kept = s.list(limit=1000)
    assert all(s.get(r["key"]) == docs[r["key"]] for r in kept)
    assert len(kept) == 0 if cut == "first-page" else 0 < len(kept) < 40


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page_pick=st.floats(0, 1, exclude_max=True), seed=st.integers(0, 2**16))
def test_property_any_damaged_page_salvages_what_it_can(tmp_path: Path, page_pick: float, seed: int) -> None:
    """Damage any page but the first (which says whose the file is): opening never raises,
    says one short line, keeps the damaged file as it was, and every run it keeps is intact."""
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "runs.db"
    docs = _filled(path, 60, big=7)
    pages = path.stat().st_size // PAGE
    page = 2 + int(page_pick * (pages - 1))
    damaged = _damage(path, page, seed)
    events: list[str] = []
    s = RunStore(path, events=events)
    kept = {r["key"] for r in s.list(limit=1000)}
    assert all(s.get(k) == docs[k] for k in kept) and kept <= set(docs)
    assert len(events) <= 1 and all(len(e.replace(str(path), "")) < 150 for e in events)
    if events:  # damage that quick_check saw: salvaged, the original kept as found
        asides = [p for p in path.parent.iterdir() if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))]
        assert len(asides) == 1 and asides[0].read_bytes() == damaged
        assert f"kept {len(kept)} of " in events[0]


def test_damage_found_while_serving_is_salvaged_for_the_caller_that_met_it(db: Path) -> None:
    docs = _filled(db, 50, big=20)
    s = RunStore(db)  # opened while sound
    _damage(db, _pages(db, "overflow")[2])
    mine: list[str] = []
    assert s.get("k020", mine) is None  # the damaged run
    assert len(mine) == 1 and "kept 49 of 50 runs" in mine[0]
    others: list[str] = []
    assert s.get("k021", others) == docs["k021"] and others == []


def test_threads_opening_one_damaged_store_salvage_it_once(db: Path) -> None:
    _filled(db, 30, big=3)
    _damage(db, _pages(db, "overflow")[1])
    said: list[list[str]] = [[] for _ in range(4)]
    go = threading.Barrier(4)

    def open_it(i: int) -> None:
        go.wait()
        RunStore(db, events=said[i])

    threads = [threading.Thread(target=open_it, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    asides = [p for p in db.parent.iterdir() if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    assert len(asides) == 1 and sum(len(e) for e in said) == 1  # never a fresh store set aside
    assert len(RunStore(db).list(limit=100)) == 29
