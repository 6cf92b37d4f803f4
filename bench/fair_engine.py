"""bench.fair's requests straight through the page's engine path (`python -m bench.fair --engine-only`):
no server, no browsers, to separate the server's share of the light visitor's time from the
browsers'."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.fair import HEAVY, LIGHT, LIGHT_SEEDS, PHASES
from bench.procstat import proc_status


def engine_only(heavy: int = 6, seconds: float | None = None) -> dict:
    """The same requests straight through the page's engine path, no server, no browsers: A's
    heavy ones (width 128) in threads as one visitor, then B's light one once A's first run has
    its slot, each through core.serve.run_guarded with the hosted limits and one shared gate,
    B also building its charts. Separates the server's share of B's time from the browsers'.
    A's runs are let go (cancelled) once B is served and A's first run has ended."""
    import threading
    from dataclasses import replace

    from core.serve import JobRegistry, Limits, TrainingGate, apply_process_settings, run_guarded
    from core.serve.deadline import Deadline
    from core.serve.notes import STOPPED_AT_LIMIT
    from core.store import RunStore
    from core.train import warmup
    from dashboard import charts
    from dashboard.controls import spec_from_query

    lim = Limits.hosted_defaults() if seconds is None else replace(Limits.hosted_defaults(), max_seconds=seconds)
    apply_process_settings(lim)
    warmup()  # as a server does at start
    gate = TrainingGate(lim.max_concurrent, lim.max_queue, max_per_visitor=lim.max_per_visitor)
    jobs, let_go, deadlines = JobRegistry(), threading.Event(), []
    real_init = Deadline.__init__

    def spy(self, *a, **kw):  # every job's deadline, to read how long it held its slot
        real_init(self, *a, **kw)
        deadlines.append(self)

    Deadline.__init__ = spy
    outcome: dict[str, str] = {}
    ended: dict[str, float] = {}  # time.monotonic() when each request returned (Deadline's clock)

    def ask(who: str, query: str, visitor: str, draw: bool = False) -> None:
        spec, _ = spec_from_query(dict(p.split("=") for p in query[1:].split("&")))
        t0 = time.perf_counter()
        try:
            exp, _, notes = run_guarded(spec.base, spec.variant_dict(), limits=lim, store=store, gate=gate,
                                        jobs=jobs, visitor=visitor, cancelled=let_go.is_set)
            trained = time.perf_counter() - t0
            if draw:
                for c in charts.shown(exp):
                    c.figure(exp).to_json()
            outcome[who] = f"{exp.status} after {time.perf_counter() - t0:.1f} s" + \
                (f" ({trained:.1f} s to its result, then its charts)" if draw else "") + \
                (" (stopped at the limit)" if any(n.code == STOPPED_AT_LIMIT for n in notes) else "")
        except Exception as e:  # noqa: BLE001 - the outcome is the figure
            outcome[who] = f"{type(e).__name__} after {time.perf_counter() - t0:.1f} s"
        ended[who] = time.monotonic()

    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = RunStore(Path(tmp) / "runs.db")
            threads = [threading.Thread(target=ask, args=(f"A{i + 1}", HEAVY.format(width=PHASES["allowed"],
                       seed=100 + i), "A")) for i in range(heavy)]
            for t in threads:
                t.start()
            while not deadlines:
                time.sleep(0.05)
            ask("B", LIGHT.format(seed=LIGHT_SEEDS["allowed"]), "B", draw=True)
            while not any(o.startswith(("stopped", "ok")) for w, o in list(outcome.items()) if w != "B"):
                time.sleep(0.2)  # A's first run, to its end (at most its time limit)
            let_go.set()
            for t in threads:
                t.join()
            jobs.wait_idle(60)  # every training thread ended before the process does
    finally:
        Deadline.__init__ = real_init
    stops = [ended[w] for w, o in outcome.items() if "stopped at the limit" in o]
    held = [min(t for t in stops if t >= d.started) - d.started for d in deadlines
            if d.timed_out and any(t >= d.started for t in stops)]
    for who in sorted(outcome):
        print(f"  {who:3} {outcome[who]}")
    print(f"engine only: B served in {outcome['B']}; runs stopped at the {lim.max_seconds:g} s limit held their slot "
          f"{', '.join(f'{h:.1f}' for h in held) or '-'} s; peak RSS {proc_status()['VmHWM'] / 2**20:.0f} MB")
    return outcome
