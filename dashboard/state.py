"""Session state: the runs of this browser session (plain numbers, capped) and the current run.

Functions take the state mapping (st.session_state, or a dict in tests), so they work without
Streamlit. Only results are kept: `Experiment`s of numpy arrays, never torch models.

Stop: `train_spec` keeps the latest snapshot the engine hands over (each epoch callback gets a
private view of a copy taken in the training thread, never the live object), so whatever ends
the run early — the Stop button (Streamlit raises its rerun exception at the next st.* call or
session-state access inside our callbacks; with runner.fastReruns, the default, it is a stop
exception and the rerun starts at once in a new thread), a closed tab, or an error — the
`except` block marks unfinished variants "stopped", keeps what was measured and records it as
the current run. A later rerun with the same settings then shows that partial run instead of
training again.

Training goes through `core.serve.run_guarded` with the server's run store: an experiment
that was trained before (by any session) is served from the store, identical requests in
flight are trained once and watched by all, the hosted limits and the fair queue apply.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core import serve
from core.replay import snapshot_pictures
from core.results import Experiment
from core.serve.notes import Note
from core.serve.snapshot import stopped_experiment, view
from dashboard.controls import Spec

HISTORY_CAP = 20
STORE = "lab_store"


@dataclass
class Entry:
    id: int
    spec: Spec
    exp: Experiment
    when: float = field(default_factory=time.time)
    notes: list[Note] = field(default_factory=list)  # how it was served: store, queue, limit, divergence
    from_store: bool = False

    @property
    def stopped(self) -> bool:
        return any(r.status == "stopped" for r in self.exp.runs)


class Store:
    """This session's runs. One object kept in st.session_state and mutated in place, so a run
    that is being interrupted can record its partial result without touching session state
    (which would raise Streamlit's stop exception again). `busy` lets the next script run wait
    until an interrupted run has recorded what it measured."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.seq = 0
        self.current_id: int | None = None
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()

    def add(self, spec: Spec, exp: Experiment, notes: list[Note] | None = None, from_store: bool = False) -> Entry:
        """Record a run (newest last), keep at most HISTORY_CAP, make it the current one. A variant
        stopped before its final pictures gets its last snapshot's (with_last_pictures)."""
        exp = with_last_pictures(exp)
        with self._lock:
            self.seq += 1
            entry = Entry(self.seq, spec, exp, notes=list(notes or []), from_store=from_store)
            self.entries = [*self.entries, entry][-HISTORY_CAP:]
            self.current_id = entry.id
            return entry

    def current(self) -> Entry | None:
        return next((e for e in self.entries if e.id == self.current_id), None)

    def finish(self, spec: Spec, exp: Experiment) -> Entry | None:
        """The current entry, if it is `spec`'s, with `exp` in place of the snapshot it kept when
        its run was interrupted: the stopped run as it ended (core.serve.stop_and_collect), with
        every variant's pictures of its last measured epoch. Its notes are kept."""
        with self._lock:
            cur = self.current()
            if cur is None or cur.spec.key() != spec.key():
                return None
            done = replace(cur, exp=with_last_pictures(exp))
            self.entries = [done if e is cur else e for e in self.entries]
            return done

    def select(self, entry: Entry) -> None:
        self.current_id = entry.id

    def find(self, spec: Spec) -> Entry | None:
        """The newest run of exactly these settings, if this session has one."""
        k = spec.key()
        return next((e for e in reversed(self.entries) if e.spec.key() == k), None)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return self._idle.wait(timeout)

    def __getstate__(self) -> dict[str, Any]:  # picklable session state (no lock, no event)
        return {"entries": self.entries, "seq": self.seq, "current_id": self.current_id}

    def __setstate__(self, d: dict[str, Any]) -> None:
        self.__init__()
        self.__dict__.update(d)


def with_last_pictures(exp: Experiment) -> Experiment:
    """The experiment, with each variant that has no final pictures but has snapshots given its
    last snapshot's boundary, raster and unit pictures (core.replay.snapshot_pictures: seed #1
    only) and `shown_epoch`, the epoch they show. A run the page stopped (Stop, a closed tab) is
    kept as its latest snapshot, and one stopped at the time limit draws no final pictures: without
    this, its boundaries and raster were blank ("no picture yet") and the boundary claim read "not
    measured in this run (KeyError)", though the page had drawn them live a moment before. The
    charts name that epoch (dashboard.charts.style.shown_epochs). Shares the arrays."""
    runs = []
    for r in exp.runs:
        snaps = r.artifacts.get("snapshots")
        # a copy taken mid-epoch can hold the next epoch's snapshot before that epoch's numbers
        taken = [] if snaps is None else np.flatnonzero(np.asarray(snaps["epochs"]) <= r.last_epoch)
        if "boundary" in r.artifacts or not len(taken):
            runs.append(r)
            continue
        k = int(taken[-1])
        arts = {**r.artifacts, **snapshot_pictures(snaps, k), "shown_epoch": int(snaps["epochs"][k])}
        runs.append(replace(r, artifacts=arts))
    return replace(exp, runs=runs)


def get_store(state: MutableMapping[str, Any]) -> Store:
    if STORE not in state:
        state[STORE] = Store()
    return state[STORE]


def stopped_placeholder(spec: Spec) -> Experiment:
    """An Experiment with no epochs, every variant 'stopped': for a run ended before epoch 0."""
    preset = spec.preset if spec.matches_preset() else ""
    return stopped_experiment(spec.base, spec.variant_dict(), spec.title, preset)


def train_spec(store: Store, spec: Spec,
               on_epoch: Callable[[Experiment, int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None, *,
               runs: Any = None, limits: serve.Limits | None = None, gate: serve.TrainingGate | None = None,
               on_wait: Callable[..., None] | None = None,
               retrain: bool = False, visitor: str | None = None, cache: serve.RunCache | None = None,
               summary: dict | None = None, confirmed: bool = False,
               stop_on: tuple[type[BaseException], ...] = ()) -> Entry:
    """Train `spec` through core.serve.run_guarded (or serve it from the run store), calling
    on_epoch(exp, variant_index, epoch) while it trains (exp: a private view of the latest
    snapshot) and on_wait(position, waiting, wait_s) while it waits for a slot, both from this
    thread. visitor: who asks, for the line's per-visitor share (dashboard.hosted.visitor_id);
    cache: the server's opened stored runs (dashboard.hosted.run_cache); summary: extra fields of
    the stored run's summary (dashboard.hosted.privacy: who may list it). What is kept is a
    thinned view (core.serve.thin): a session never holds more than ~500 epochs per curve.
    should_stop() true ends it as the Stop button does. confirmed / stop_on: as run_guarded's
    (a run over the local budget the user said yes to; the page's own stop signal).

    runs: a core.store.RunStore (default: open_run_store(), at $RELU_LAB_STORE); limits: serve.Limits
    (default: Limits.from_env()); gate: serve.TrainingGate (default: the process's);
    retrain: drop a stored copy first, so the experiment is trained again.

    Whatever ends it once training began (normally, Stop, a closed tab, an exception), the
    result so far is recorded in `store` as the current run, and the exception (if any)
    propagates. A refusal before training (BudgetError, QueueFull, ConfigError, DataError)
    records nothing."""
    from core.store import store_key

    if runs is None:
        from core.store import open_run_store

        runs = open_run_store()
    if limits is None:
        limits = serve.Limits.from_env()
    latest: list[Experiment] = []

    def cb(exp: Experiment, vi: int, epoch: int) -> None:
        latest[:] = [exp]
        if on_epoch is not None:
            on_epoch(exp, vi, epoch)

    store._idle.clear()
    try:
        if retrain:
            runs.delete(store_key(spec.configs()))
        exp, from_store, notes = serve.run_guarded(
            spec.base, spec.variant_dict(), limits=limits, store=runs, on_epoch=cb, user_stop=should_stop,
            on_wait=on_wait, title=spec.title, preset=spec.preset if spec.matches_preset() else "", gate=gate,
            visitor=visitor, cache=cache, summary=summary, confirmed=confirmed, stop_on=stop_on)
        return store.add(spec, exp, notes, from_store)
    except BaseException as e:
        # Streamlit's stop/rerun exceptions are BaseExceptions: keep what was measured. An
        # engine error after some epochs: keep those too. A refusal before training: nothing.
        if latest or not isinstance(e, Exception):
            store.add(spec, view(serve.thin(latest[0]), stopped=True) if latest else stopped_placeholder(spec))
        raise
    finally:
        store._idle.set()


def changes(spec: Spec) -> list[str]:
    """What sets this run apart from where it started: each base setting that differs from its
    preset's (from the schema's defaults without a preset), as "lr 0.05", then "variants changed"
    if they are not the preset's. Empty for a preset run unchanged."""
    from core.config import validate
    from dashboard.controls import PRESETS, auto_name, preset_spec

    start = preset_spec(spec.preset) if spec.preset in PRESETS else None
    ref = (start.base if start is not None else validate()).to_dict()
    mine = spec.base.to_dict()
    out = [auto_name({k: v}) for k, v in mine.items() if ref.get(k) != v and k != "data_path"]
    if start is not None and spec.variants != start.variants:
        out.append("variants changed")
    return out


def entry_label(e: Entry) -> str:
    """A session run in one line: its number (unique in the session), the preset it started from
    and what was changed, and the time to the second. "#3 dying-relu: lr 0.05 · 23:25:07"."""
    from dashboard.controls import PRESETS

    what = e.spec.preset if e.spec.preset in PRESETS else "own settings"
    diff = changes(e.spec)
    return (f"#{e.id} {what}" + (f": {', '.join(diff)}" if diff else "") +
            f" · {time.strftime('%H:%M:%S', time.localtime(e.when))}")


def history_rows(entries: list[Entry]) -> list[dict[str, Any]]:
    """One row per variant of every run: the run's label (entry_label), the variant, its key
    numbers (val acc, gaps, mask agreement of the first hidden layer, dead units of all hidden
    units, "5.3 of 128") and the settings that matter. Text cells are spreadsheet-safe
    (core.safetext.csv_cell): the table's own CSV download writes them as shown, and a stored run
    from an older version may carry a name like '=HYPERLINK(…)'."""
    import numpy as np

    from core.safetext import csv_cell

    def mean(v: np.ndarray) -> float | None:
        with np.errstate(all="ignore"):
            finite = v[np.isfinite(v)]
        return round(float(finite.mean()), 4) if len(finite) else None

    rows = []
    for e in entries:
        label = csv_cell(entry_label(e))
        for r in e.exp.runs:
            c = r.config
            row: dict[str, Any] = {"run": label, "variant": csv_cell(r.name), "status": r.status}
            for m, name in (("val_acc", "val acc"), ("gap_acc", "acc gap"), ("gap_loss", "loss gap"),
                            ("mask_agreement", "mask agree")):
                v = r.final(m) if r.epochs_done else np.array([np.nan])
                row[name] = mean(v[:, 0] if v.ndim == 2 else v)
            dead = mean(r.final("dead").sum(axis=1)) if r.epochs_done else None
            row["dead units"] = None if dead is None else f"{dead:.1f} of {c.width * r.layers}"
            row.update({"dataset": c.dataset, "activation": c.activation, "dropout": c.dropout,
                        "weight decay": c.weight_decay, "depth×width": f"{c.depth}×{c.width}",
                        "lr": c.lr, "epochs": r.last_epoch})
            rows.append(row)
    return rows
