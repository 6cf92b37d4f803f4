"""Opening stored runs, metered: cached thinned views, priced reads, heavy reads in a slot, one
read for many visitors; and what a long run costs the server, measured in a fresh process."""
from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from core.config import validate
from core.results import Experiment
from core.serve.errors import BudgetError, Cancelled
from core.serve.gate import TrainingGate
from core.serve.limits import Limits
from core.serve.opened import DECODE_PER_STORED_BYTE, RunCache, Unreadable, open_cost_mb, open_stored
from core.store import RunStore, store_key, summarize
from core.train import run_experiment

TIMEOUT = 30.0


class Counting:
    """A run store that counts (and can hold up) reads of whole documents."""

    def __init__(self, store: RunStore, hold: threading.Event | None = None):
        self.store, self.path, self.hold, self.gets = store, store.path, hold, 0
        self.reading = threading.Event()

    def get(self, key):
        self.gets += 1
        self.reading.set()
        if self.hold is not None:
            assert self.hold.wait(TIMEOUT)
        return self.store.get(key)

    def __getattr__(self, name):
        return getattr(self.store, name)


@pytest.fixture(scope="module")
def long_exp():
    cfg = validate(n_samples=60, epochs=1200, seeds=2, width=4, batch_size=0)
    return run_experiment(cfg, {"run": {}})


@pytest.fixture
def stored(tmp_path, long_exp):
    store = RunStore(tmp_path / "runs.db")
    key = store_key([r.config for r in long_exp.runs])
    store.put(key, long_exp.to_dict(), summarize(long_exp))
    return Counting(store), key


def test_an_opened_run_is_a_thinned_frozen_view_read_once(stored, long_exp):
    store, key = stored
    cache = RunCache()
    exp = open_stored(store, key, limits=Limits(), cache=cache)
    r, full = exp.runs[0], long_exp.runs[0]
    assert r.last_epoch == 1200 and r.epochs_done <= 501 and store.gets == 1
    np.testing.assert_array_equal(r.metrics["val_acc"][:, : r.epochs_done], full.metrics["val_acc"][:, r.epoch_numbers])
    assert not r.metrics["val_acc"].flags.writeable  # shared by every session: read-only
    assert open_stored(store, key, limits=Limits(), cache=cache) is exp and store.gets == 1  # from the cache
    assert len(cache) == 1 and 0 < cache.nbytes < 1_000_000
    # replaced in the store (a retrain): read again; deleted: gone
    store.store.put(key, long_exp.to_dict(), {**summarize(long_exp), "title": "again"})
    assert open_stored(store, key, limits=Limits(), cache=cache) is not exp and store.gets == 2
    store.store.delete(key)
    assert open_stored(store, key, limits=Limits(), cache=cache) is None and store.gets == 2


def test_a_read_priced_over_the_memory_limit_is_refused(stored, long_exp):
    store, key = stored
    row = store.summary(key)
    priced = open_cost_mb(None, row["bytes"])
    assert priced == row["bytes"] * DECODE_PER_STORED_BYTE / 2**20 + 48
    configs = [r.config for r in long_exp.runs]
    assert open_cost_mb(configs) > 48  # from the settings: the results part of the memory estimate
    with pytest.raises(BudgetError, match=r"This stored run needs about \d+ MB of memory to open.*runs export"):
        open_stored(store, key, limits=Limits(hosted=True, max_memory_mb=48), configs=configs)
    assert store.gets == 0  # refused before reading anything
    assert open_stored(store, key, limits=Limits(hosted=True, max_memory_mb=4096)) is not None


def test_a_heavy_read_waits_for_a_slot_under_the_visitors_share(stored, monkeypatch):
    import core.serve.opened as opened

    store, key = stored
    monkeypatch.setattr(opened, "HEAVY_OPEN_MB", 0)  # every read is heavy
    gate, waits, leave = TrainingGate(1, 5, poll=0.01, max_per_visitor=1), [], threading.Event()
    with gate.slot():  # the only slot is busy
        with pytest.raises(Cancelled):
            open_stored(store, key, limits=Limits(), gate=gate, visitor="v",
                        on_wait=lambda p, w, s: waits.append((p, w)) or leave.set(), cancelled=leave.is_set)
        assert waits[0] == (1, 1) and store.gets == 0  # it waited in line and read nothing
    exp = open_stored(store, key, limits=Limits(), gate=gate, visitor="v")
    assert exp is not None and store.gets == 1 and gate.stats() == (0, 0)


def test_visitors_opening_one_run_at_once_share_one_read(stored):
    store, key = stored
    store.hold = threading.Event()
    cache, got, start = RunCache(), [], threading.Barrier(4)

    def visitor():
        start.wait()
        got.append(open_stored(store, key, limits=Limits(), cache=cache))

    threads = [threading.Thread(target=visitor) for _ in range(4)]
    for t in threads:
        t.start()
    assert store.reading.wait(TIMEOUT)
    store.hold.set()
    for t in threads:
        t.join(TIMEOUT)
    assert store.gets == 1 and len(got) == 4 and all(e is got[0] for e in got)


def test_an_unreadable_document_says_so(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    store.put("k" * 32, {"base": {"dataset": "no-such-set"}, "runs": []}, {"title": "x"})
    with pytest.raises(Unreadable):
        open_stored(store, "k" * 32, limits=Limits())
    assert open_stored(store, "m" * 32, limits=Limits()) is None


def test_the_cache_is_bounded_least_recently_used_first(long_exp):
    cache = RunCache(entries=2)
    a, b, c = (Experiment(long_exp.base, long_exp.runs, t) for t in "abc")
    cache.put("a", 1, a)
    cache.put("b", 1, b)
    assert cache.get("a", 1) is a  # a is now the most recent
    cache.put("c", 1, c)
    assert cache.get("b", 1) is None and cache.get("a", 1) is a and cache.get("c", 1) is c
    assert cache.get("a", 2) is None and cache.get("a", 1) is None  # another version: dropped
    tiny = RunCache(max_mb=0.001)
    tiny.put("a", 1, a)
    assert len(tiny) == 0  # bigger than the whole cache: not kept


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_four_visitors_opening_a_long_run_cost_one_read(tmp_path):
    """64 seeds x 2,000 epochs stored; four sessions open it at once in a fresh process. Before
    metered serving each read the whole document (4 reads' memory at once); now one read is
    shared, within what it was priced at, and the server keeps a few MB of it."""
    from bench.metered import make_run, measure

    path = tmp_path / "runs.db"
    key = make_run(path, seeds=64, epochs=2000)
    r = measure(path, key, "after", visitors=4)
    assert r["growth_mb"] <= r["priced_mb"], r
    assert r["cached_mb"] < 8, r
