"""Trainings on Ray (core.serve.ray_runner) through the job layer: the local engine's numbers bit
for bit, live progress before the end, Stop that frees the worker, a lost worker retried once
and reported when lost again, and RELU_LAB_RAY_ADDRESS read strictly.

One local Ray for the session (conftest.ray_local). Waits end on events, joins and Ray's own
bounded waits (a task that needs every CPU of the node runs only once a stopped one let go)."""
from __future__ import annotations

import math
import os
import signal
import threading

import numpy as np
import pytest

import core.train as train_mod
from core.config import ConfigError, validate
from core.serve.gate import TrainingGate
from core.serve.guarded import run_guarded
from core.serve.jobs import JobRegistry, default_runner, thread_runner
from core.serve.limits import RAY_MAX_CONCURRENT, Limits
from core.serve.ray_runner import RayRunner
from core.store import RunStore, store_key

TIMEOUT = 120.0  # only a guard against a hang
BASE = dict(dataset="moons", n_samples=100, epochs=20, seeds=2, width=8, depth=2, batch_size=32)
VARIANTS = {"ReLU": {"activation": "relu"}, "dropout": {"dropout": 0.5}}


@pytest.fixture(scope="module")
def reference():
    """The local engine's answer, trained in this process."""
    base = validate(**BASE)
    return base, train_mod.run_experiment(base, VARIANTS, title="relu vs dropout", preset="p")


@pytest.fixture
def no_local_training(monkeypatch):
    """A training in this process fails the test: the work must happen in a Ray worker."""
    def refuse(*a, **k):
        raise AssertionError("trained in the server's process, not on Ray")
    monkeypatch.setattr(train_mod, "run_experiment", refuse)


@pytest.fixture
def jobs():
    reg = JobRegistry(publish_min_s=0.0, publish_share=math.inf)  # a snapshot for every epoch handed over
    yield reg
    assert reg.wait_idle(TIMEOUT), "a run was left behind"


def assert_same_numbers(a, b) -> None:
    """Every metric array (but the wall clock) and every artifact, bit for bit, NaNs in place."""
    assert [r.name for r in a.runs] == [r.name for r in b.runs] and a.status == b.status
    for ra, rb in zip(a.runs, b.runs, strict=True):
        assert ra.config == rb.config and ra.epochs_done == rb.epochs_done and ra.status == rb.status
        assert ra.diverged_at == rb.diverged_at and ra.layers == rb.layers
        assert set(ra.metrics) == set(rb.metrics) and set(ra.artifacts) == set(rb.artifacts)
        for m in ra.metrics:
            if m != "seconds":
                np.testing.assert_array_equal(ra.metrics[m], rb.metrics[m], err_msg=m, strict=True)
        for k, va in ra.artifacts.items():
            parts = va.items() if isinstance(va, dict) else [("", va)]
            for kk, x in parts:
                y = rb.artifacts[k][kk] if isinstance(va, dict) else rb.artifacts[k]
                np.testing.assert_array_equal(x, y, err_msg=f"{k}.{kk}", strict=True)


def stop_after_epoch(n: int):
    """(on_epoch, user_stop): user_stop turns true once a watcher was shown epoch n."""
    reached = threading.Event()

    def on_epoch(exp, vi, epoch):
        if epoch >= n:
            reached.set()
    return on_epoch, reached.is_set


def whole_node_is_free(ray) -> None:
    """Returns once a task that needs both CPUs of the node has run: nothing holds a CPU now."""
    @ray.remote(num_cpus=2)
    def whole_node() -> int:
        return os.getpid()

    assert ray.get(whole_node.remote(), timeout=TIMEOUT) > 0


# --- the environment selects Ray ------------------------------------------------------------------

def test_ray_address_is_read_strictly_and_raises_the_replicas_hand_over() -> None:
    assert Limits.from_env({}).ray_address is None and default_runner(Limits.from_env({})) is thread_runner
    for ok in ("local", "auto", "ray://head:10001", "10.0.0.5:6379", " local "):
        lim = Limits.from_env({"RELU_LAB_RAY_ADDRESS": ok})
        assert lim.ray_address == ok.strip() and lim.max_concurrent == RAY_MAX_CONCURRENT
        assert isinstance(default_runner(lim), RayRunner) and default_runner(lim).address == ok.strip()
    assert Limits.from_env({"RELU_LAB_RAY_ADDRESS": "auto", "RELU_LAB_MAX_CONCURRENT": "4"}).max_concurrent == 4
    for bad in ("head", "ray://head", "ray://head:port", "two words:1"):
        with pytest.raises(ConfigError, match="RELU_LAB_RAY_ADDRESS"):
            Limits.from_env({"RELU_LAB_RAY_ADDRESS": bad})


def test_an_experiment_trained_on_ray_is_the_local_engines_bit_for_bit(ray_local, reference, tmp_path, jobs,
                                                                      monkeypatch, no_local_training) -> None:
    """RELU_LAB_RAY_ADDRESS=local: the job hands the training to Ray; every number comes back
    exactly as core.train.run_experiment makes it here, and it is stored like any other run."""
    base, want = reference
    monkeypatch.setenv("RELU_LAB_RAY_ADDRESS", "local")
    store = RunStore(tmp_path / "runs.db")
    shown: list[tuple[int, int]] = []
    exp, from_store, notes = run_guarded(base, VARIANTS, limits=Limits.from_env(), store=store, jobs=jobs,
                                         gate=TrainingGate(2, 50), title="relu vs dropout", preset="p",
                                         on_epoch=lambda e, vi, ep: shown.append((vi, ep)))
    assert not from_store and notes == [] and exp.title == "relu vs dropout"
    assert_same_numbers(exp, want)
    assert shown and shown[-1] == (1, BASE["epochs"])  # the watcher was shown the finished run last
    from core.results import Experiment

    assert_same_numbers(Experiment.from_dict(store.get(store_key([base.replace(**v) for v in VARIANTS.values()]))),
                        Experiment.from_dict(want.to_dict()))


def test_progress_arrives_while_it_trains(ray_local, reference, tmp_path, jobs, no_local_training) -> None:
    """Snapshots come back before the end: the runner hands the job unfinished experiments (epoch 0
    of every variant at least), in the job's thread, before it returns the finished one."""
    base, want = reference
    handed: list[tuple[int, int, str, int]] = []
    returned = threading.Event()
    ray = ray_local.RayRunner(publish_s=0.0)

    def runner(b, variants, on_epoch, should_stop, max_threads):
        def seen(exp, vi, epoch):
            handed.append((vi, epoch, exp.status, threading.get_ident()))
            assert not returned.is_set()
            on_epoch(exp, vi, epoch)
        try:
            return ray(b, variants, seen, should_stop, max_threads)
        finally:
            returned.set()

    exp, _, _ = run_guarded(base, VARIANTS, limits=Limits(), store=RunStore(tmp_path / "runs.db"), jobs=jobs,
                            gate=TrainingGate(2, 50), runner=runner, title="relu vs dropout", preset="p")
    assert_same_numbers(exp, want)
    epochs = [(vi, ep) for vi, ep, _, _ in handed]
    # Every epoch of both variants (publish_s=0), in order, none twice, from unfinished experiments;
    # then the finished one, after its last epoch, as the local engine's last call. The two variants
    # train as one network (core.groups): each epoch reaches both before the next one.
    assert epochs[:-1] == [(vi, ep) for ep in range(BASE["epochs"] + 1) for vi in (0, 1)]
    assert {status for _, _, status, _ in handed[:-1]} == {"running"}
    assert handed[-1][:3] == (1, BASE["epochs"], "ok")
    assert len({t for *_, t in handed}) == 1 and handed[0][3] != threading.get_ident()  # the job's thread


def test_stop_cancels_the_task_and_frees_its_worker(ray_local, tmp_path, jobs, no_local_training) -> None:
    base = validate(**dict(BASE, epochs=5000))  # half a minute or more if nobody stops it
    on_epoch, user_stop = stop_after_epoch(2)
    exp, from_store, _ = run_guarded(base, VARIANTS, limits=Limits(), store=RunStore(tmp_path / "runs.db"),
                                     jobs=jobs, gate=TrainingGate(2, 50), runner=ray_local.RayRunner(),
                                     on_epoch=on_epoch, user_stop=user_stop)
    assert not from_store and exp.status == "stopped" and [r.status for r in exp.runs] == ["stopped", "stopped"]
    # one network (core.groups): both variants stop at the same epoch
    assert 2 <= exp.runs[0].epochs_done < 5000 and exp.runs[1].epochs_done == exp.runs[0].epochs_done
    assert jobs.wait_idle(TIMEOUT)
    whole_node_is_free(__import__("ray"))  # the cancelled task let go of its CPU
    assert RunStore(tmp_path / "runs.db").list() == []  # a stopped run is not kept


def test_a_lost_worker_is_retried_once_then_reported(ray_local, no_local_training) -> None:
    """Killed as soon as it begins (a long run: it is still training when the kill lands), the
    training is started again by Ray on a new worker and its progress goes on arriving; killed
    there too, the runner reports it instead of waiting."""
    base = validate(**dict(BASE, epochs=5000))
    starts: list[int] = []
    after_retry: list[tuple[int, int]] = []

    def kill_first(pid: int, host: str) -> None:
        starts.append(pid)
        if len(starts) == 1:
            os.kill(pid, signal.SIGKILL)

    def on_epoch(exp, vi, epoch) -> None:
        if len(starts) == 2:
            after_retry.append((vi, epoch))

    exp = ray_local.RayRunner(on_start=kill_first, publish_s=0.0)(base, VARIANTS, on_epoch, lambda: bool(after_retry),
                                                                  None)
    assert len(starts) == 2 and starts[0] != starts[1] and after_retry
    assert exp.status == "stopped"  # stopped by the test once the retry's progress arrived

    def kill_every(pid: int, host: str) -> None:
        starts.append(pid)
        os.kill(pid, signal.SIGKILL)

    starts.clear()
    with pytest.raises(ray_local.RayTrainingLost, match="lost \\(retried 1 time\\)"):
        ray_local.RayRunner(on_start=kill_every)(base, VARIANTS, lambda *a: None, lambda: False, None)
    assert len(starts) == 2
    whole_node_is_free(__import__("ray"))


def test_the_time_limit_is_kept_on_the_worker(ray_local, reference, clock, no_local_training) -> None:
    """Neither Ray's queue nor a lost worker's silence counts against the time limit: a Deadline
    already past its limit on this side still trains in full, since the limit is counted on the
    worker from when it starts training; a Stop while queued still stops it; and the limit itself
    fires on the worker and marks this side's Deadline timed out (the job keeps a partial run)."""
    from core.serve.deadline import Deadline

    base, want = reference
    deadline = Deadline(60.0, clock=clock)
    clock.advance(100.0)  # as if it had waited 100 s in Ray's queue: past its 60 s
    exp = ray_local.RayRunner()(base, VARIANTS, lambda *a: None, deadline, None)
    assert not deadline.fired and deadline.started == clock()
    assert_same_numbers(exp, want)
    stopped = Deadline(60.0, also=lambda: True, clock=clock)
    exp = ray_local.RayRunner()(base, VARIANTS, lambda *a: None, stopped, None)
    assert exp.status == "stopped" and stopped.requested and not stopped.timed_out
    # A real clock on the worker: 5,000 epochs take half a minute or more. 3 s, not less: epoch 0's
    # measurement can be cut by the limit too, and under heavy load it alone may take a second.
    short = Deadline(3.0)
    exp = ray_local.RayRunner()(validate(**dict(BASE, epochs=5000)), VARIANTS, lambda *a: None, short, None)
    assert short.timed_out and not short.requested
    # the variants train together as slices of one model (core.groups): both stop at the same epoch
    assert exp.status == "stopped" and 0 < exp.runs[0].epochs_done == exp.runs[1].epochs_done < 5000


def test_a_csv_experiment_trains_here_where_its_file_is(ray_local, tmp_path, monkeypatch) -> None:
    path = tmp_path / "data.csv"
    rng = np.random.default_rng(0)
    rows = [f"{a:.4f},{b:.4f},{int(a + b > 0)}" for a, b in rng.normal(size=(60, 2))]
    path.write_text("x1,x2,label\n" + "\n".join(rows) + "\n")
    base = validate(dataset="csv", data_path=str(path), epochs=2, seeds=1, width=4)
    here: list[int] = []
    real = train_mod.run_experiment

    def counting(*a, **k):
        here.append(threading.get_ident())
        return real(*a, **k)

    monkeypatch.setattr(train_mod, "run_experiment", counting)
    exp = ray_local.RayRunner()(base, {"run": {}}, lambda *a: None, lambda: False, None)
    assert exp.status == "ok" and here == [threading.get_ident()]


# --- limits: what a task declares is what the cluster bounds -----------------------------------

def test_a_task_declares_one_cpu_its_memory_estimate_and_trains_on_no_more_threads() -> None:
    from core.cost import estimate_memory_mb
    from core.serve.ray_runner import TASK_CPUS, task_resources

    configs = [validate(**BASE).replace(**ov) for ov in VARIANTS.values()]
    wide = [c.replace(width=512, n_samples=5000) for c in configs]
    for cfgs in (configs, wide):
        for asked, threads in ((None, TASK_CPUS), (1, 1), (8, TASK_CPUS)):
            cpus, memory, got = task_resources(cfgs, asked)
            assert (cpus, got) == (TASK_CPUS, threads) and TASK_CPUS == 1
            assert memory == math.ceil(estimate_memory_mb(cfgs)) * 2**20 and memory % 2**20 == 0
    assert task_resources(wide, None)[1] > task_resources(configs, None)[1]


def test_a_training_no_node_can_hold_is_refused_not_queued_for_ever() -> None:
    from core.serve.errors import BudgetError
    from core.serve.ray_runner import RayCapacityError, check_capacity

    mb = 2**20
    head = {"Alive": True, "Resources": {"memory": 8000 * mb}}  # schedules only: no CPU
    worker = {"Alive": True, "Resources": {"CPU": 1.0, "memory": 600 * mb}}
    dead = {"Alive": False, "Resources": {"CPU": 8.0, "memory": 64000 * mb}}
    check_capacity([head, worker], 1, 600 * mb)  # fits exactly
    with pytest.raises(RayCapacityError, match="1 CPU and 601 MB of memory \\(the largest offers 600 MB\\)") as e:
        check_capacity([head, worker, dead], 1, 601 * mb)  # a dead node holds nothing
    assert isinstance(e.value, BudgetError)  # the page shows it as a refusal, not a traceback
    with pytest.raises(RayCapacityError, match="none has 1 CPU for trainings"):
        check_capacity([head], 1, mb)


def test_the_runner_refuses_at_once_what_the_cluster_cannot_hold(ray_local, tmp_path, jobs, monkeypatch,
                                                                  no_local_training) -> None:
    """Through the page's path: a run that asks more memory than the local Ray's node has is
    refused with the capacity message, before anything is sent to Ray (not left in its queue)."""
    from core.serve import ray_runner

    sent: list[int] = []
    real = ray_runner._task

    def counting(ray):
        sent.append(1)
        return real(ray)

    node_memory = max(n["Resources"].get("memory", 0) for n in __import__("ray").nodes() if n["Alive"])
    monkeypatch.setattr(ray_runner, "task_resources", lambda configs, threads: (1, node_memory + 2**20, 1))
    monkeypatch.setattr(ray_runner, "_task", counting)
    with pytest.raises(ray_runner.RayCapacityError, match="No worker of the training cluster"):
        run_guarded(validate(**BASE), VARIANTS, limits=Limits(), store=RunStore(tmp_path / "runs.db"), jobs=jobs,
                    gate=TrainingGate(2, 50), runner=ray_runner.RayRunner())
    assert sent == []


def test_a_ray_client_address_without_ray_client_is_one_clear_line(monkeypatch) -> None:
    """ray://… needs grpcio (ray[client]); without it connecting says so in one line, naming the
    variable and the fix, instead of Ray's own error from deep inside ray.init."""
    import importlib.util

    from core.serve import ray_runner

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "grpc" else real(name, *a))
    why = ray_runner.client_missing("ray://head:10001")
    assert why is not None and "\n" not in why and len(why) < 200
    assert why.startswith("RELU_LAB_RAY_ADDRESS=ray://head:10001 needs Ray Client") and "pip install 'ray[client]'" in why
    assert ray_runner.client_missing("head:6379") is None and ray_runner.client_missing("local") is None
    ray = pytest.importorskip("ray")
    connected = ray.is_initialized()  # another test's local Ray, or none: left as it is
    with pytest.raises(ray_runner.RayClientMissing, match="^RELU_LAB_RAY_ADDRESS=ray://head:10001 needs Ray Client"):
        ray_runner.connect("ray://head:10001")
    assert ray.is_initialized() == connected
