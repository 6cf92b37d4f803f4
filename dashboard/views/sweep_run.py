"""Training a sweep on the Sweep page, with live progress: the progress bar, a live chart of the
first metric, the Stop button and the fair line's waiting message, through core.serve.run_guarded
(the run store, the hosted budget, the fair line and the time limit apply as on the Lab page).

What was measured is recorded in the session's Shown holder, also when a rerun (a Stop press)
interrupts the training: the next script run waits on `Shown.idle` until it is recorded.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from core import serve
from core.serve.budget import check_sweep_budget
from core.serve.limits import sci
from core.serve.snapshot import stopped_experiment, view
from core.sweep import MAIN_METRICS, PRESET_METRICS, Sweep, SweepResult, sweep_work
from dashboard import hosted
from dashboard.charts import sweep as sweep_charts
from dashboard.views.common import font_size, md_escape
from dashboard.views.pacing import error_line, redraw_interval


@dataclass
class Shown:
    """This session's sweep on screen. Kept in session state and mutated in place, so a training
    interrupted by a rerun (Stop) can record what it measured without touching session state."""

    key: str = ""
    sweep: Sweep | None = None
    result: Any = None  # core.sweep.SweepResult
    notes: list = field(default_factory=list)
    stopped: bool = False
    when: float = 0.0
    idle: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.idle.set()

    def __getstate__(self) -> dict[str, Any]:  # picklable session state: no event
        return {k: v for k, v in self.__dict__.items() if k != "idle"}

    def __setstate__(self, d: dict[str, Any]) -> None:
        self.__dict__.update(d)
        self.idle = threading.Event()
        self.idle.set()


def metrics_for(sweep: Sweep) -> dict[str, str]:
    """The main metrics (core.sweep.MAIN_METRICS), the preset's own first (PRESET_METRICS)."""
    first = PRESET_METRICS.get(sweep.preset, ())
    return {m: MAIN_METRICS[m] for m in (*first, *(m for m in MAIN_METRICS if m not in first))}


def store_fields(sweep: Sweep) -> dict[str, Any]:
    """What the store's summary says of a sweep beside the run summary (as core.sweep.sweep_summary)."""
    return {"kind": "sweep", "grid": {n: list(v) for n, v in sweep.grid}, "points": len(sweep.configs()),
            "networks": sweep.networks}


def size_line(sweep: Sweep, limits: serve.Limits) -> str:
    """The sweep's size in one line: points, seeds, networks, epochs, units of work (and the limit)."""
    pts = len(sweep.configs())
    cap = f" of the {sci(limits.max_work)} allowed" if limits.max_work is not None else ""
    return (f"{pts} points × {sweep.base.seeds} seeds = {sweep.networks} networks, "
            f"{max(c.epochs for c in sweep.configs())} epochs: {sci(sweep_work(sweep))} units of work{cap}.")


def refusal(sweep: Sweep, limits: serve.Limits, e: Exception) -> str:
    """A sweep over the hosted budget, in one line with the advice a sweep can take (fewer
    seeds, points or epochs: core.serve.budget.check_sweep_budget)."""
    try:
        check_sweep_budget(sweep, limits)
    except serve.BudgetError as why:
        e = why
    return f"Not trained: {md_escape(str(e))}"


def progress(runs, total: int) -> tuple[float, str]:
    """The progress bar's fraction and its text, which say the same thing: the epochs measured of
    all the points' `total` (the points train together, so they tend to finish together), and
    how many points are done."""
    done = sum(r.epochs_done for r in runs)
    finished = sum(r.epochs_done == r.config.epochs + 1 for r in runs)
    return (min(1.0, done / total) if total else 0.0,
            f"Training: {done:,} of {total:,} epochs over {len(runs)} points; "
            f"{finished} point{'' if finished == 1 else 's'} done")


def train_live(sweep: Sweep, shown: Shown) -> bool:
    """Train (or serve) the sweep with a progress bar and a live chart; records it in `shown`.
    False after one st.error line if it was refused or failed before measuring anything."""
    limits = hosted.limits()
    runs = hosted.run_store()
    variants = sweep.variants()
    total = sum(sweep.base.replace(**ov).epochs + 1 for ov in variants.values())
    status = st.empty()
    bar = st.progress(0.0, text="Starting…")
    stop = st.empty()
    stop.button("■ Stop", key="sw_stop", help="End the sweep now and keep the points measured so far.")
    live = st.empty()
    last, draws, latest = [0.0], [0], []
    fs = font_size()
    first_metric = next(iter(metrics_for(sweep).items()))

    def on_wait(position: int, n_waiting: int, wait_s: float | None = None) -> None:
        status.info(serve.waiting_message(position, n_waiting, wait_s) + " Press Stop to leave the line.",
                    icon=":material/hourglass_top:")

    def on_epoch(exp, vi: int, epoch: int) -> None:
        latest[:] = [exp]
        now = time.perf_counter()
        if now - last[0] < redraw_interval():
            return
        last[0] = now
        bar.progress(*progress(exp.runs, total))
        status.caption("Training… press Stop to end early and keep the points measured so far.")
        try:
            summ = SweepResult(sweep, exp).summary(first_metric[:1])
            fig = sweep_charts.metric_chart(summ, first_metric[0], *_fields(sweep), title=first_metric[1],
                                            y_label=first_metric[1], font_size=fs)
        except Exception:  # noqa: BLE001 - a partial summary the engine cannot make yet: progress only
            return
        draws[0] += 1
        live.plotly_chart(fig, width="stretch", key=f"sw_live_{draws[0]}")

    def should_stop() -> bool:
        st.session_state.get("_probe")  # a Stop click raises Streamlit's rerun exception here
        return False

    shown.idle.clear()  # the next script run waits until this one recorded what it measured
    try:
        exp, from_store, notes = serve.run_guarded(
            sweep.base, variants, limits=limits, store=runs, on_epoch=on_epoch, user_stop=should_stop,
            on_wait=on_wait, title=sweep.label(), preset=sweep.preset, gate=hosted.gate(limits),
            visitor=hosted.visitor_id(), cache=hosted.run_cache(), key=sweep.key(), summary=store_fields(sweep))
        record(shown, sweep, exp, notes, stopped=any(r.status == "stopped" for r in exp.runs), served=from_store)
    except serve.BudgetError as e:
        st.error(refusal(sweep, limits, e), icon=":material/error:")
        return False
    except Exception as e:  # noqa: BLE001 - one readable line, never a traceback
        st.error(error_line(e), icon=":material/error:")
        if latest:
            record(shown, sweep, view(serve.thin(latest[0]), stopped=True), [], stopped=True)
        return bool(latest)
    except BaseException:  # Streamlit's stop/rerun (the Stop button): keep what was measured
        exp = view(serve.thin(latest[0]), stopped=True) if latest else \
            stopped_experiment(sweep.base, variants, sweep.title, sweep.preset)
        record(shown, sweep, exp, [], stopped=True)
        raise
    finally:
        shown.idle.set()
        for el in (status, bar, stop, live):
            el.empty()
    return True


def record(shown: Shown, sweep: Sweep, exp, notes: list, stopped: bool, served: bool = False) -> None:
    """Make `exp` (trained, stopped or served) the sweep `shown` holds, as its SweepResult."""
    shown.key, shown.sweep, shown.notes, shown.stopped = sweep.key(), sweep, list(notes), stopped
    shown.result, shown.when = SweepResult(sweep, exp, served=served), time.time()


def _fields(sweep: Sweep) -> tuple[str, str | None]:
    names = list(dict(sweep.grid))
    return names[0], (names[1] if len(names) > 1 else None)

