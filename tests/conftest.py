"""Shared fixtures. Keep it small: tiny experiments, built once per test session."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_run_store(tmp_path_factory):
    """The page and the engine keep finished runs in a SQLite store (RELU_LAB_STORE, else
    <repo>/.data/runs.db): tests use a temporary one, never the real store. Servers started
    by tests inherit it. A test that wants its own store sets RELU_LAB_STORE itself."""
    old = os.environ.get("RELU_LAB_STORE")
    os.environ["RELU_LAB_STORE"] = str(tmp_path_factory.mktemp("store") / "runs.db")
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("RELU_LAB_STORE", None)
        else:
            os.environ["RELU_LAB_STORE"] = old


@pytest.fixture(scope="session")
def need_browser():
    """Skips a test that drives the real page when Chromium or Playwright is missing; with
    REQUIRE_BROWSER=1 it fails instead, so a machine meant to run them cannot skip them quietly."""
    from bench.harness import browser_missing

    missing = browser_missing()
    if missing:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"{missing} and REQUIRE_BROWSER=1")
        pytest.skip(missing)


@pytest.fixture(scope="session")
def tiny_experiment():
    """Two variants (ReLU, ReLU + dropout) on moons: 3 epochs, 2 seeds, 100 points, width 8."""
    from core.config import validate
    from core.train import run_experiment

    base = validate(dataset="moons", n_samples=100, epochs=3, seeds=2, width=8, depth=2, batch_size=32)
    return run_experiment(base, {"ReLU": {"activation": "relu"}, "dropout": {"dropout": 0.5}},
                          title="tiny", preset="")


@pytest.fixture(scope="session")
def tiny_digits_experiment():
    """One CNN variant on digits: 1 epoch, 1 seed, tiny, for the confusion-matrix path."""
    from core.config import validate
    from core.train import run_experiment

    base = validate(dataset="digits", model="cnn", n_samples=200, epochs=1, seeds=1, width=4, depth=1,
                    batch_size=64)
    return run_experiment(base, {"cnn": {}})


class FakeClock:
    """A clock that moves only when a test says so: time limits and grace periods without sleeping."""

    def __init__(self) -> None:
        import threading

        self._now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def read_only():
    """read_only(*paths): make files and folders unwritable for this process until the test ends
    (chmod; as root, which chmod does not stop, the immutable attribute). Skips where neither
    works, checked by trying to write."""
    import stat
    import subprocess
    from pathlib import Path

    done: list[tuple[Path, int]] = []

    def make(*paths) -> None:
        for p in map(Path, paths):
            mode = p.stat().st_mode
            if os.geteuid() == 0:
                r = subprocess.run(["chattr", "+i", str(p)], capture_output=True, text=True)
                if r.returncode != 0:
                    pytest.skip(f"cannot make {p} read-only as root: chattr {r.stderr.strip()}")
            else:
                os.chmod(p, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
            done.append((p, mode))
            probe = p / "write-probe" if p.is_dir() else p
            try:
                with open(probe, "ab"):
                    pass
            except OSError:
                continue
            pytest.skip(f"{p} is still writable after making it read-only")

    yield make
    for p, mode in reversed(done):
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(p)], check=True)
        else:
            os.chmod(p, mode)


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server on loopback for this test session (bench.postgres): its URL.
    Skips where the server binaries are missing; with REQUIRE_POSTGRES=1 (CI) it fails instead."""
    from bench import postgres

    why = postgres.missing()
    if why:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{why} and REQUIRE_POSTGRES=1")
        pytest.skip(why)
    cluster = postgres.Cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the test session, started the way RELU_LAB_RAY_ADDRESS=local starts it
    (core.serve.ray_runner.connect): two CPUs, a small object store, no dashboard; shut down at
    the end. Skips where Ray is not installed; with REQUIRE_RAY=1 (CI) it fails instead."""
    try:
        import ray  # noqa: F401
    except ImportError:
        if os.environ.get("REQUIRE_RAY") == "1":
            pytest.fail("ray is not installed (requirements-scale.txt) and REQUIRE_RAY=1")
        pytest.skip("ray is not installed (requirements-scale.txt)")
    from core.serve import ray_runner

    ray_runner.connect("local", num_cpus=2)
    try:
        yield ray_runner
    finally:
        ray_runner.shutdown()


@pytest.fixture
def store(tmp_path):
    """A SQLite run store of this test's own."""
    from core.store import RunStore

    return RunStore(tmp_path / "runs.db")


@pytest.fixture
def gate():
    """A server's line (core.serve.gate): two trainings at once, fifty waiting, polled often."""
    from core.serve.gate import TrainingGate

    return TrainingGate(2, 50, poll=0.01)


@pytest.fixture
def count_trainings(monkeypatch):
    """A list that gets one entry per core.train.run_experiment call (the real one still runs)."""
    import core.train

    real, calls = core.train.run_experiment, []

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)
    monkeypatch.setattr(core.train, "run_experiment", counting)
    return calls


# run_guarded on the test's store and gate, with a job registry on the test's clock; `calls` gets
# the thread of every training (tests/test_serve_guarded*.py; their constants: guarded_helpers.py).
@pytest.fixture
def jobs(clock, gate):
    from guarded_helpers import TIMEOUT

    from core.serve.jobs import JobRegistry

    reg = JobRegistry(clock=clock)
    yield reg
    assert reg.wait_idle(TIMEOUT), "a run was left behind"
    assert gate.stats() == (0, 0)


@pytest.fixture
def calls(monkeypatch):
    """Counts trainings: the default runner looks core.train.run_experiment up at call time."""
    import threading

    import core.train

    real, seen = core.train.run_experiment, []

    def counting(*args, **kwargs):
        seen.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(core.train, "run_experiment", counting)
    return seen


@pytest.fixture
def guard(store, gate, jobs):
    from guarded_helpers import HOSTED

    from core.serve.guarded import run_guarded

    def call(base, variants=None, **kw):
        kw.setdefault("limits", HOSTED)
        return run_guarded(base, variants, store=store, gate=gate, jobs=jobs, **kw)
    return call


class StoreBackend:
    """One run store location of one kind ("sqlite": a file; "postgresql": a namespace of its own
    on the session's server): open views of it, and reach its rows behind its back."""

    def __init__(self, kind: str, location: str, namespace: str | None = None):
        self.kind, self.location, self.namespace = kind, location, namespace
        self.opened: list = []

    def open(self, **kw):
        from core.store import open_run_store

        if self.namespace:
            kw["namespace"] = self.namespace
        s = open_run_store(self.location, **kw)
        self.opened.append(s)
        return s

    def sql(self, statement: str, params: tuple = ()) -> list[tuple]:
        """Run one statement on the store's own tables ({runs}, {claims}), as another program would."""
        if self.kind == "sqlite":
            import sqlite3

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


@pytest.fixture
def store_backend(request, tmp_path):
    """make(kind) -> a StoreBackend ("sqlite" in tmp_path, or "postgresql" on postgres_url in a
    fresh namespace); every store it opened is closed at the end."""
    import uuid

    made: list[StoreBackend] = []

    def make(kind: str) -> StoreBackend:
        if kind == "sqlite":
            b = StoreBackend("sqlite", str(tmp_path / "runs.db"))
        else:
            b = StoreBackend("postgresql", request.getfixturevalue("postgres_url"), f"t_{uuid.uuid4().hex[:16]}")
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


# The browser tests' page server and Chromium, one of each per test module.
@pytest.fixture(scope="module")
def server(need_browser):
    from bench.harness import lab_server

    with lab_server() as s:  # inherits the test session's temporary run store (above)
        yield s.url


@pytest.fixture(scope="module")
def browser(need_browser):
    from bench.harness import chromium

    with chromium() as b:
        yield b


# Identical `python -m core run` in several processes at once (issue 15's reproduction): each
# process leaves a trace when it looks the experiment up in the store, and one in `marks` when it
# trains; it trains only once every process has looked, so without claims each of them would find
# nothing stored and train it too. (The bound only keeps a bug from hanging.)
_RACE = """
import importlib, os, sys, time
from pathlib import Path
marks, looked, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
module, _, name = sys.argv[4].partition(":")
import core.train
store_class = getattr(importlib.import_module(module), name)
real_train, real_get = core.train.run_experiment, store_class.get

def get(self, key, events=None):
    (looked / str(os.getpid())).touch()
    return real_get(self, key, events)

def train(*a, **k):
    with open(marks, "a") as f:
        f.write(f"{os.getpid()}\\n")
    t_end = time.monotonic() + 120
    while len(list(looked.iterdir())) < n and time.monotonic() < t_end:
        time.sleep(0.02)
    return real_train(*a, **k)

store_class.get, core.train.run_experiment = get, train
from core.cli import main
sys.exit(main(sys.argv[5:]))
"""


@pytest.fixture
def cli_race(tmp_path):
    """cli_race(n, store_class, store) -> [(stdout, stderr)] of n processes running one tiny
    `python -m core run --store STORE --json tmp_path/outI.json` at once (`store_class`:
    "module:Class" of the store they use). Asserts what every store must give: each exits 0
    without a traceback, exactly one trains, it keeps the run and the others are served it, and
    every JSON is the same."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent

    def race(n: int, store_class: str, store: str) -> list[tuple[str, str]]:
        marks, looked = tmp_path / "trained", tmp_path / "looked"
        looked.mkdir()
        env = {**os.environ, "PYTHONPATH": str(repo)}
        args = ["run", "--n-samples", "100", "--epochs", "3", "--seeds", "2", "--width", "8", "--quiet",
                "--store", store]
        procs = [subprocess.Popen([sys.executable, "-c", _RACE, str(marks), str(looked), str(n), store_class, *args,
                                   "--json", str(tmp_path / f"out{i}.json")], cwd=repo, env=env,
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
        return results

    return race
