"""Opening stored runs, metered: cheap by construction, and counted against the same budget.

Reading a stored run decodes its whole document (JSON, every seed's every epoch): a 64-seed,
5,000-epoch run of 11 MB in the store peaks at about 630 MB and 9 s of CPU while it is read
(bench.metered). So `open_stored`:

* keeps what it opened in a small LRU per server (`RunCache`, keyed by the store file and the
  run's key): a thinned, frozen view (core.serve.thin, at most ~500 epochs per curve), a few MB
  at most, shared by every session that opens the run; the store's summary row (no document)
  tells a cached copy from a run replaced since;
* prices a read before it starts, from the experiment's settings when they are known (the
  results part of core.cost's memory estimate: the same factor covers training's copy of them)
  or else from the document's stored size; a read priced above the per-run memory limit is
  refused (BudgetError) like a training of that size;
* reads anything priced above HEAVY_OPEN_MB inside a slot of the training gate, under the
  visitor's share, so reads and trainings together never run more than max_concurrent at once.

No streamlit here.
"""
from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np

from core.config import Config
from core.cost import MEMORY_BASE_MB, memory_bytes
from core.results import Experiment
from core.serve.errors import BudgetError
from core.serve.limits import SERVER_CACHE_MB, Limits
from core.serve.snapshot import freeze
from core.serve.thin import thin

_MB = 1024 * 1024
# Peak bytes while a document is read, per byte it takes in the store: 56 measured for a real
# 64-seed, 5,000-epoch run (its JSON is 9x its compressed size, and Python's floats 5x the JSON).
DECODE_PER_STORED_BYTE = 64
HEAVY_OPEN_MB = 64              # reads priced above this wait for a slot of the training gate
DECODE_STORED_BYTES_PER_S = 1e6  # about 1.5e6 measured; what the line's estimated wait counts
CACHE_ENTRIES = 16
CACHE_MB = SERVER_CACHE_MB  # one number: the server's configured total counts it (Limits.server_memory_mb)


class Unreadable(Exception):
    """The stored document exists but this engine cannot read it (an older format, damage)."""


def experiment_nbytes(exp: Experiment) -> int:
    """Bytes of the arrays a (thinned) experiment holds."""
    def size(x: Any) -> int:
        if isinstance(x, np.ndarray):
            return x.nbytes
        if isinstance(x, dict):
            return sum(size(v) for v in x.values())
        return 0
    return sum(size(r.metrics) + size(r.artifacts) for r in exp.runs)


class RunCache:
    """The thinned views a server has opened, least recently used out first, at most `entries`
    of them and `max_mb` of arrays. Thread-safe; `loading(key)` lets one thread read a run
    while the others asking for it wait for that read instead of doing their own."""

    def __init__(self, entries: int = CACHE_ENTRIES, max_mb: float = CACHE_MB):
        self.entries, self.max_bytes = entries, max_mb * _MB
        self._lock = threading.Lock()
        self._items: OrderedDict[Any, tuple[Experiment, Any, int]] = OrderedDict()
        self._loading: dict[Any, threading.Lock] = {}

    def get(self, key: Any, stamp: Any) -> Experiment | None:
        """The cached view of `key` if it was read from the version of the run `stamp` names."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[1] != stamp:  # replaced or deleted since
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Any, stamp: Any, exp: Experiment) -> None:
        size = experiment_nbytes(exp)
        with self._lock:
            self._items.pop(key, None)
            if size > self.max_bytes:
                return
            self._items[key] = (exp, stamp, size)
            while len(self._items) > self.entries or self.nbytes > self.max_bytes:
                self._items.popitem(last=False)

    @property
    def nbytes(self) -> int:
        return sum(size for _, _, size in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    @contextmanager
    def loading(self, key: Any) -> Iterator[None]:
        with self._lock:
            lock = self._loading.setdefault(key, threading.Lock())
        with lock:
            yield


def open_cost_mb(configs: list[Config] | None = None, stored_bytes: int | None = None) -> float:
    """Estimated peak MB of reading a stored experiment: from its settings (the results part of
    core.cost's memory estimate), else from its size in the store."""
    if configs:
        return sum(memory_bytes(c)[1] for c in configs) / _MB + MEMORY_BASE_MB
    return (stored_bytes or 0) * DECODE_PER_STORED_BYTE / _MB + MEMORY_BASE_MB


def _stamp(row: dict | None) -> Any:
    return None if row is None else (row.get("created"), row.get("bytes"))


def open_stored(store, key: str, *, limits: Limits, configs: list[Config] | None = None, gate=None,
                visitor: str | None = None, cache: RunCache | None = None,
                on_wait: Callable[..., Any] | None = None,
                cancelled: Callable[[], bool] | None = None) -> Experiment | None:
    """The stored run `key` as a thinned, frozen view (core.serve.thin), or None if it is not
    stored. Raises BudgetError if reading it would cost more memory than limits.max_memory_mb,
    Unreadable if its document cannot be turned into an Experiment, and what gate.slot raises
    (QueueFull, VisitorBusy, Cancelled) when a heavy read has to wait for a slot."""
    try:
        row = store.summary(key)
    except sqlite3.DatabaseError:  # a damaged file: get() reports it its own way
        row = {}
    if row is None:
        return None
    cache_key, stamp = (str(store.path), key), _stamp(row)
    if not row:
        cache = None  # nothing to tell versions apart by
    if cache is not None and (exp := cache.get(cache_key, stamp)) is not None:
        return exp
    with cache.loading(cache_key) if cache is not None else nullcontext():
        if cache is not None and (exp := cache.get(cache_key, stamp)) is not None:
            return exp  # another session read it meanwhile
        mb = open_cost_mb(configs, row.get("bytes"))
        if limits.max_memory_mb is not None and mb > limits.max_memory_mb:
            where = "the hosted demo allows" if limits.hosted else "the limit is"
            raise BudgetError(f"This stored run needs about {mb:.0f} MB of memory to open (its history is long: "
                              f"many seeds, epochs or layers); {where} {limits.max_memory_mb} MB per run. "
                              f"On the server, `python -m core runs export {key[:12]}` exports it whole.")
        slot = nullcontext()
        if gate is not None and mb > HEAVY_OPEN_MB:
            slot = gate.slot(on_wait=on_wait, cancelled=cancelled, visitor=visitor,
                             estimate=(row.get("bytes") or 0) / DECODE_STORED_BYTES_PER_S)
        with slot:
            doc = store.get(key)
            if doc is None:
                return None
            try:
                exp = Experiment.from_dict(doc)
            except Exception as e:  # noqa: BLE001 - an older engine's document, or a damaged one
                raise Unreadable(f"{type(e).__name__}: {e}") from None
            del doc
            exp = freeze(thin(exp))
        if cache is not None:
            cache.put(cache_key, stamp, exp)
        return exp
