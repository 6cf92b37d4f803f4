"""Load test of the scale-out stack: a seminar pressing Train on two replicas at once (make load-stack).

    python -m bench.load_stack [--students 60] [--same 20] [--pages 3] [--quick]

Starts its own stack (bench.stack: PostgreSQL, a Ray head with two one-CPU workers, two hosted
Streamlit replicas) in a temporary folder, on loopback only, and stops it in a `finally`.

1. **The class.** `--students` simulated students on two *engine replicas*: two sets of the
   page's serving objects in this process (a job registry, a fair line, hosted limits, the
   PostgreSQL store and the Ray runner, as dashboard/hosted.py builds them in a replica), each
   student a thread calling core.serve.run_guarded as the page does, students alternating
   between the two. Beside them `--pages` real Chromium pages open links on the two Streamlit
   replicas. Every student and page presses Train (opens a link) on an experiment of its own,
   except `--same` of them (students and the first page) on the same one. Each experiment is the
   `relu-vs-dropout` preset shortened to EPOCHS epochs, told apart by its seed.
2. **A worker and a replica die.** A second wave (students on the engine replicas, one page on
   each Streamlit replica) starts; once trainings run, one Ray worker node and Streamlit replica 2
   get SIGKILL. Ray retries the lost trainings on the other worker.

Checks (PASS/FAIL, exit 1 on a failure): every student and every page of the first wave gets
results with no error; the shared experiment trained exactly once across all replicas
(trainings counted where they start: in each Streamlit replica, bench.load's launcher, and in the
engine replicas); after the kills every run stored before them is still stored, and every
student of the second wave and the page on the surviving replica get results.

Prints trainings per minute, the median and 95th percentile of the time from Train to the first
curve and to finished, and the peak memory (PSS) of every process of the stack and of this one.
Every wait is bounded (--timeout)."""
from __future__ import annotations

import argparse
import collections
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench import stack
from bench.load import SERVER
from bench.procstat import proc_status

EPOCHS = 15            # a small experiment: 4 variants x 3 seeds, about 0.5 CPU-s each
SHARED_SEED = 7
TIMEOUT_S = 300.0
WAVE2 = 12             # students of the second wave (the kills); --quick: 4


def link(seed: int) -> dict[str, str]:
    return {"preset": "relu-vs-dropout", "epochs": str(EPOCHS), "seed": str(seed)}


@dataclass
class Outcome:
    who: str
    where: str
    seed: int
    first_s: float | None = None   # Train -> first curve (a run served from the store: its result)
    done_s: float | None = None    # Train -> finished
    served: bool = False
    status: str = ""
    error: str = ""


class EngineReplica:
    """What a Streamlit replica holds for its sessions (dashboard/hosted.py), built the same way."""

    def __init__(self, name: str, url: str, address: str):
        from core import serve
        from core.serve.jobs import JobRegistry
        from core.serve.ray_runner import RayRunner
        from core.store import open_run_store

        self.name = name
        self.limits = serve.Limits.from_env({"RELU_LAB_HOSTED": "1", "RELU_LAB_RAY_ADDRESS": address})
        self.gate = serve.TrainingGate(self.limits.max_concurrent, self.limits.max_queue,
                                       max_per_visitor=self.limits.max_per_visitor)
        self.jobs = JobRegistry()
        self.store = open_run_store(url)
        self.runner = RayRunner(address)

    def press_train(self, who: str, seed: int, out: list[Outcome]) -> None:
        from core import serve
        from dashboard.controls import spec_from_query

        spec, _ = spec_from_query(link(seed))
        o = Outcome(who, self.name, seed)
        t0 = time.perf_counter()

        def on_epoch(exp, variant, epoch) -> None:
            if o.first_s is None:
                o.first_s = time.perf_counter() - t0

        try:
            exp, o.served, _ = serve.run_guarded(spec.base, spec.variant_dict(), limits=self.limits, store=self.store,
                                                 gate=self.gate, jobs=self.jobs, runner=self.runner, visitor=who,
                                                 on_epoch=on_epoch, title=spec.title, preset=spec.preset)
            o.status = exp.status
        except Exception as e:  # noqa: BLE001 - counted as this student's error
            o.error = f"{type(e).__name__}: {e}"[:200]
        o.done_s = time.perf_counter() - t0
        if o.first_s is None:
            o.first_s = o.done_s
        out.append(o)


class Trainings:
    """Counts Job.train calls of this process by experiment key (the engine replicas)."""

    def __init__(self):
        from core.serve.jobs import Job

        self.keys: list[str] = []
        self._orig, self._lock = Job.train, threading.Lock()
        orig, mine = self._orig, self

        def counted(job):
            with mine._lock:
                mine.keys.append(job.key[1])
            return orig(job)
        Job.train = counted

    def close(self) -> None:
        from core.serve.jobs import Job

        Job.train = self._orig


class PeakMemory(threading.Thread):
    """Peak PSS of every component of the stack (its process tree), sampled every `every` s."""

    def __init__(self, state: dict, every: float = 1.0):
        super().__init__(daemon=True)
        self.state, self.every, self.peak = state, every, {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.every):
            for name, _, mb in stack.memory(self.state):
                self.peak[name] = max(self.peak.get(name, 0.0), mb)

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


def pct(xs: list[float], q: float) -> float | None:
    xs = sorted(x for x in xs if x is not None)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else None


def open_pages(browser, state: dict, plan: list[tuple[int, int]]) -> list[tuple]:
    """Open link(seed) on replica i for each (i, seed); returns (page, replica, seed, t0)."""
    out = []
    for i, seed in plan:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        query = "&".join(f"{k}={v}" for k, v in link(seed).items())
        t0 = time.perf_counter()
        page.evaluate("url => { window.location.href = url; }", f"{state['replicas'][i]['url']}/?{query}")
        out.append((page, i, seed, t0))
    return out


POLL_JS = """() => ({
  charts: document.querySelectorAll('.js-plotly-plot').length,
  progress: !!document.querySelector('[data-testid="stProgress"]'),
  errors: Array.from(document.querySelectorAll('[data-testid="stException"], [data-testid="stAlertContentError"]'))
    .map(e => e.innerText).join(' | '),
})"""


def watch_pages(pages: list[tuple], out: list[Outcome], deadline: float) -> None:
    from bench.harness import ALL_CHARTS

    todo = {id(p[0]): (p, Outcome(f"page-{n}", f"replica-{p[1] + 1}", p[2])) for n, p in enumerate(pages, 1)}
    while todo and time.perf_counter() < deadline:
        for k, ((page, _, _, t0), o) in list(todo.items()):
            try:
                st = page.evaluate(POLL_JS)
            except Exception:  # noqa: BLE001 - still navigating, or its replica is gone
                continue
            now = time.perf_counter() - t0
            if st["charts"] > 0 and o.first_s is None:
                o.first_s = now
            if st["errors"]:
                o.error, o.done_s = st["errors"][:200], now
            elif st["charts"] >= ALL_CHARTS and not st["progress"]:
                o.status, o.done_s = "ok", now
            if o.done_s is not None:
                out.append(o)
                del todo[k]
        time.sleep(0.25)
    for (_, _, _, _), o in todo.values():
        o.error = o.error or "no charts within the timeout"
        out.append(o)


def training(engines: list[EngineReplica]) -> int:
    """How many of the engine replicas' jobs are streaming curves from a worker now."""
    with_curves = 0
    for e in engines:
        with e.jobs.lock:
            live = list(e.jobs._live)
        with_curves += sum(j.snapshot() is not None and not j.done.is_set() for j in live)
    return with_curves


def stack_tree(pid: int) -> list[int]:
    import psutil

    try:
        return [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def replica_trainings(folder: Path) -> list[str]:
    keys = []
    for f in folder.glob("trainings-replicas.log"):
        keys += [ln.split()[1] for ln in f.read_text().splitlines() if ln.startswith("start ")]
    return keys


def wave(replicas: list[EngineReplica], first: int, seeds: list[int], out: list[Outcome]) -> list[threading.Thread]:
    """Student first+n presses Train on seeds[n], on the engine replicas in turn, two by two (a
    plan that alternates shared and own seeds puts both kinds on both replicas)."""
    threads = []
    for n, seed in enumerate(seeds):
        r = replicas[(n // 2) % len(replicas)]
        t = threading.Thread(target=r.press_train, args=(f"student-{first + n}", seed, out), daemon=True)
        t.start()
        threads.append(t)
        time.sleep(0.02)  # a class, not one burst: all within about a second
    return threads


def run(students: int = 60, same: int = 20, pages: int = 3, wave2: int = WAVE2,
        timeout: float = TIMEOUT_S) -> list[tuple[str, bool, str]]:
    """The whole test; returns its checks as (requirement, ok, detail). RuntimeError without a browser."""
    from bench.harness import browser_missing, chromium
    from bench.load import FOREGROUND_ARGS
    from core.store import store_key

    if browser_missing():
        raise RuntimeError(browser_missing())
    checks: list[tuple[str, bool, str]] = []
    with tempfile.TemporaryDirectory(prefix="relu-lab-load-stack-") as tmp:
        folder = Path(tmp)
        os.environ.update(stack.ray_env(folder))  # this process joins the stack's Ray as a client
        t_up = time.perf_counter()
        state = stack.up(replicas=2, workers=2, folder=folder, launcher=[sys.executable, "-c", SERVER],
                         env={"RELU_LAB_HOSTED": "1", "RELU_LAB_LOAD_TRAIN_LOG": str(folder / "trainings-replicas.log")})
        print(f"stack up in {time.perf_counter() - t_up:.0f} s: {len(state['replicas'])} replicas, "
              f"{len(state['ray']['workers'])} Ray workers, PostgreSQL")
        peak = PeakMemory(state)
        peak.start()
        counted = Trainings()
        try:
            engines = [EngineReplica(f"engine-{i}", state["postgres"]["url"], state["ray"]["address"]) for i in (1, 2)]
            # Wave 1: `same` on the shared seed (the first page among them), the rest on seeds of their own.
            shared = [SHARED_SEED] * (same - (1 if pages else 0))
            own = [1000 + n for n in range(students - len(shared))]
            student_seeds = [s for pair in zip(shared, own, strict=False) for s in pair] + \
                own[len(shared):] + shared[len(own):]
            page_plan = [(n % 2, SHARED_SEED if n == 0 else 2000 + n) for n in range(pages)]
            out: list[Outcome] = []
            t0 = time.perf_counter()
            with chromium(FOREGROUND_ARGS, nice=True) as browser:
                opened = open_pages(browser, state, page_plan)
                threads = wave(engines, 1, student_seeds, out)
                watch_pages(opened, out, t0 + timeout)
                for t in threads:
                    t.join(max(0.0, t0 + timeout - time.perf_counter()))
                wall = time.perf_counter() - t0
                wave1 = list(out)
                keys = counted.keys + replica_trainings(folder)
                store = engines[0].store
                stored_before = {r["key"] for r in store.list()}
                per_key = collections.Counter(keys)
                from dashboard.controls import spec_from_query

                spec = spec_from_query(link(SHARED_SEED))[0]
                shared_key = store_key([spec.base.replace(**ov) for ov in spec.variant_dict().values()])
                bad = [o for o in wave1 if o.error or o.status not in ("ok", "diverged")]
                checks += [
                    ("every student and page got results, no error", not bad and len(wave1) == students + pages,
                     f"{len(wave1) - len(bad)} of {students + pages}" + "".join(
                         f"; {o.who}: {o.error or o.status}" for o in bad[:5])),
                    ("the shared experiment trained exactly once across replicas", per_key[shared_key] == 1,
                     f"{per_key[shared_key]} training(s) for {same} visitors; {len(keys)} trainings for "
                     f"{len(per_key)} experiments, max {max(per_key.values(), default=0)} per experiment"),
                ]
                report(wave1, len(keys), wall)

                # Wave 2: a Ray worker node and replica 2 die while it trains.
                out2: list[Outcome] = []
                t1 = time.perf_counter()
                opened2 = open_pages(browser, state, [(0, 3000), (1, 3001)])
                threads = wave(engines, 100, [4000 + n for n in range(wave2)], out2)
                deadline = t1 + timeout
                while not training(engines) and time.perf_counter() < min(deadline, t1 + 60):
                    time.sleep(0.05)  # until trainings stream curves from the workers
                victim_worker, victim_replica = state["ray"]["workers"][-1], state["replicas"][1]["pid"]
                tree = stack_tree(victim_worker)
                os.killpg(victim_worker, signal.SIGKILL)
                os.kill(victim_replica, signal.SIGKILL)
                print(f"killed Ray worker node 2 ({len(tree)} processes: `ray start` and its process group) and "
                      f"Streamlit replica 2 (pid {victim_replica}) {time.perf_counter() - t1:.1f} s into wave 2, "
                      f"with {training(engines)} trainings streaming")
                watch_pages(opened2[:1], out2, deadline)  # the page on the surviving replica
                for t in threads:
                    t.join(max(0.0, deadline - time.perf_counter()))
            after = {r["key"] for r in store.list()}
            bad2 = [o for o in out2 if o.error or o.status not in ("ok", "diverged")]
            checks += [
                ("no finished run lost", stored_before <= after,
                 f"{len(stored_before & after)} of {len(stored_before)} stored before the kills still stored"),
                ("students and the page on the surviving replica keep working", not bad2 and len(out2) == wave2 + 1,
                 f"{len(out2) - len(bad2)} of {wave2 + 1} got results" + "".join(
                     f"; {o.who}: {o.error or o.status}" for o in bad2[:5])),
            ]
            report(out2, None, time.perf_counter() - t1, title="wave 2 (a worker and a replica killed)")
        finally:
            counted.close()
            peak.stop()
            mine = proc_status()  # this process: both engine replicas and every student
            try:
                from core.serve import ray_runner

                ray_runner.shutdown()
            finally:
                stack.down(folder, quiet=True)
        print("\npeak memory (PSS of each process tree, sampled every 1 s):")
        for name, mb in peak.peak.items():
            print(f"  {name:34s} {mb:7.0f} MB")
        print(f"  {'this process (engine replicas)':34s} {mine['VmHWM'] / 2**20:7.0f} MB (peak RSS)")
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    return checks


def report(outs: list[Outcome], trainings: int | None, wall: float, title: str = "wave 1") -> None:
    ok = [o for o in outs if not o.error]
    firsts, dones = [o.first_s for o in ok], [o.done_s for o in ok]
    print(f"\n{title}: {len(outs)} visitors in {wall:.1f} s"
          + (f", {trainings} trainings: {trainings / wall * 60:.0f} trainings per minute" if trainings else ""))
    for kind, xs in (("students", [o for o in ok if o.who.startswith("student")]),
                     ("pages", [o for o in ok if o.who.startswith("page")])):
        if xs:
            print(f"  {kind:8s} Train -> first curve: median {pct([o.first_s for o in xs], .5):.1f} s, "
                  f"p95 {pct([o.first_s for o in xs], .95):.1f} s; -> finished: median "
                  f"{pct([o.done_s for o in xs], .5):.1f} s, p95 {pct([o.done_s for o in xs], .95):.1f} s; "
                  f"served from the store {sum(o.served for o in xs)}")
    if firsts:
        print(f"  all      Train -> first curve: median {pct(firsts, .5):.1f} s, p95 {pct(firsts, .95):.1f} s; "
              f"-> finished: median {pct(dones, .5):.1f} s, p95 {pct(dones, .95):.1f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.load_stack", description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=60)
    ap.add_argument("--same", type=int, default=20)
    ap.add_argument("--pages", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds each wave may take")
    ap.add_argument("--quick", action="store_true", help="8 students (4 the same), 1 page, a wave of 4 after the kills")
    args = ap.parse_args(argv)
    if args.quick:
        args.students, args.same, args.pages = 8, 4, 1
    if not (1 <= args.students <= 100 and 1 <= args.same <= args.students + min(args.pages, 1) and
            0 <= args.pages <= 5):
        ap.error("--students 1..100, --same 1..students(+1 with a page), --pages 0..5")
    from bench.harness import checks_exit

    return checks_exit(lambda: run(args.students, args.same, args.pages, 4 if args.quick else WAVE2,
                                   min(args.timeout, 600.0)), "FAIL")


if __name__ == "__main__":
    sys.exit(main())
