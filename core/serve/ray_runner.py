"""Trainings on a Ray cluster: the job layer's runner (core.serve.jobs) for RELU_LAB_RAY_ADDRESS.

    RELU_LAB_RAY_ADDRESS=local         start a Ray instance inside this process's machine, once
    RELU_LAB_RAY_ADDRESS=auto          join the cluster this machine belongs to (`ray start`)
    RELU_LAB_RAY_ADDRESS=ray://h:10001 a remote cluster through Ray Client (ray[client]: grpcio)
    RELU_LAB_RAY_ADDRESS=h:6379        a cluster's head directly

Each training (an experiment: its groups of variants, as core.train.run_experiment trains them) is
one Ray task declaring what it needs, one CPU and core.cost's memory estimate, so Ray's
scheduler, not our gate, decides where and when it runs: the cluster's CPUs and memory are the
total limit of every replica together, and a task trains on no more threads than it declares
CPUs (task_resources). A training no node could ever hold is refused before it is sent
(RayCapacityError, a BudgetError the page shows), since Ray would queue it for ever. The task is a streaming generator:

* it runs `core.train.run_experiment` itself (the same code path as the local engine, so the
  numbers are bit for bit the same) in a thread of the worker, and yields frozen snapshots of
  the experiment: epoch 0 of every variant, and at most every PUBLISH_S between; then the
  finished experiment. The runner calls on_epoch with each snapshot in the job's thread.
* The time limit is kept where the training runs: a should_stop that is a
  core.serve.deadline.Deadline hands its `seconds` to the task, whose own Deadline starts when
  the worker starts training, so neither Ray's queue nor a lost worker's silence (Ray notices a
  dead node only after its heartbeats stop, ~30 s) counts, and a retry has the whole limit. The
  runner asks only the Deadline's `also` part (the Stop button, a closed tab) and marks it
  timed out when the task says its limit fired (the job then keeps the partial run).
* Stop (should_stop() true: the Stop button, a closed tab, the time limit) cancels the task
  (ray.cancel: a KeyboardInterrupt in the worker, which stops the training thread there); the
  runner returns the latest snapshot with its unfinished variants marked stopped.
* A worker lost (killed, out of memory, its machine gone) is retried once by Ray from the start
  (max_retries=1: training is deterministic, so the retry gives the same numbers); lost again, it
  is reported as RayTrainingLost. Every wait is bounded (POLL_S) and looks at should_stop: a
  run whose worker cannot be reached is stopped like any other, never a hang.

A CSV experiment reads a file on this machine, which a worker elsewhere does not have: it is
trained here, in the job's thread (jobs.thread_runner). Ray is imported only when a runner of
this module is used; `local` starts Ray in a thread of its own that lives as long as the process
(Ray's processes die with the thread that started them).
"""
from __future__ import annotations

import copy
import logging
import math
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import Config
from core.results import Experiment
from core.serve.deadline import Deadline
from core.serve.errors import BudgetError
from core.serve.snapshot import stopped_experiment, view

ENV_RAY_ADDRESS = "RELU_LAB_RAY_ADDRESS"
ROOT = str(Path(__file__).resolve().parents[2])
POLL_S = 0.1              # how often the runner looks at should_stop while it waits for the task
PUBLISH_S = 0.1           # snapshots at most this often from a task (watchers look every 0.1 s)
INIT_TIMEOUT_S = 180.0    # `local`: starting Ray takes 5-45 s on two cores
LOCAL_OBJECT_STORE_MB = 128  # snapshots are KBs to a few MB each, and are copied out at once
MAX_RETRIES = 1
# The workers import this checkout's `core`: its folder goes first on their path, before what the
# node's own PYTHONPATH holds (Ray expands ${PYTHONPATH} on the node), which is where a cluster
# whose nodes keep the checkout elsewhere has it.
RUNTIME_ENV = {"env_vars": {"PYTHONPATH": f"{ROOT}:${{PYTHONPATH}}"}}

log = logging.getLogger(__name__)
OnEpoch = Callable[[Experiment, int, int], Any]


class RayTrainingLost(RuntimeError):
    """The worker training an experiment was lost, and lost again when Ray retried it."""


class RayClientMissing(RuntimeError):
    """A ray:// address without Ray Client (ray[client], which brings grpcio) installed here."""


def client_missing(address: str) -> str | None:
    """Why `address` cannot be reached from this machine, in one line, or None: a ray:// address
    goes through Ray Client, which needs grpcio (ray[client]); plain `ray` lacks it."""
    import importlib.util

    if not address.startswith("ray://") or importlib.util.find_spec("grpc") is not None:
        return None
    return (f"{ENV_RAY_ADDRESS}={address} needs Ray Client, which is not installed: "
            f"pip install 'ray[client]' (it adds grpcio), or give the head as host:6379 from a node of the cluster")


class RayCapacityError(BudgetError):
    """No node of the cluster has the CPUs and memory a training declares: Ray would queue it for
    ever (an infeasible task), so it is refused before it is sent, with a message for the visitor."""


TASK_CPUS = 1  # a training is one Ray task of one CPU; the cluster's CPUs are the total limit


def task_resources(configs: list[Config], max_threads: int | None) -> tuple[int, int, int]:
    """(num_cpus, memory in bytes, torch threads) of the task training `configs`: one CPU, the
    memory core.cost estimates, and no more threads than the CPUs it declares (max_threads, the
    hosted RELU_LAB_TORCH_THREADS, caps it further): Ray places tasks by what they declare, so a
    task that used more cores than it asked for would slow its neighbours on the node."""
    from core.cost import estimate_memory_mb

    memory = int(math.ceil(estimate_memory_mb(configs))) * 2**20
    threads = TASK_CPUS if max_threads is None else max(1, min(max_threads, TASK_CPUS))
    return TASK_CPUS, memory, threads


def check_capacity(nodes: list[dict], cpus: int, memory: int) -> None:
    """RayCapacityError unless some live node (ray.nodes()) has `cpus` CPUs and `memory` bytes of
    Ray memory in all (what it has free right now does not matter: Ray queues until it is)."""
    alive = [n.get("Resources", {}) for n in nodes if n.get("Alive")]
    if any(r.get("CPU", 0) >= cpus and r.get("memory", 0) >= memory for r in alive):
        return
    biggest = max((r.get("memory", 0) for r in alive if r.get("CPU", 0) >= cpus), default=0)
    offer = f"the largest offers {biggest / 2**20:.0f} MB" if biggest else \
        f"none has {cpus} CPU{'s' if cpus != 1 else ''} for trainings"
    raise RayCapacityError(
        f"No worker of the training cluster can give this run {cpus} CPU{'s' if cpus != 1 else ''} and "
        f"{memory / 2**20:.0f} MB of memory ({offer}): reduce the width, the seeds or the number of samples, "
        "or ask the operator for bigger workers.")


# -- connecting ----------------------------------------------------------------------------------

_lock = threading.Lock()
_local_stop = threading.Event()


def address_from_env() -> str:
    return os.environ.get(ENV_RAY_ADDRESS, "").strip() or "local"


def connect(address: str | None = None, *, num_cpus: int | None = None):
    """The `ray` module, connected to `address` (default $RELU_LAB_RAY_ADDRESS, else `local`) once
    per process. Already connected (a test's session, a previous call): used as it is."""
    import ray

    address = address or address_from_env()
    why = client_missing(address)  # no connection can be through Ray Client here
    if why:
        raise RayClientMissing(why)
    with _lock:
        if ray.is_initialized():
            return ray
        if address == "local":
            _start_local(ray, num_cpus)
        else:
            ray.init(address=address, runtime_env=RUNTIME_ENV, log_to_driver=False, logging_level=logging.WARNING)
    return ray


def _start_local(ray, num_cpus: int | None) -> None:
    """ray.init in a daemon thread that then waits until shutdown(): Ray's processes are started
    with PR_SET_PDEATHSIG and would die with a short-lived thread (a Streamlit script thread, a
    job's thread) that started them."""
    started = threading.Event()
    failed: list[BaseException] = []

    def keeper() -> None:
        try:
            # address="local": a new instance, never a cluster found through RAY_ADDRESS or the
            # file a `ray start` on this machine left behind (make stack's, say).
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                     object_store_memory=LOCAL_OBJECT_STORE_MB * 2**20, log_to_driver=False,
                     logging_level=logging.WARNING, runtime_env=RUNTIME_ENV)
        except BaseException as e:  # noqa: BLE001 - handed to the caller below
            failed.append(e)
            return
        finally:
            started.set()
        _local_stop.wait()

    _local_stop.clear()
    threading.Thread(target=keeper, name="relu-lab-ray-local", daemon=True).start()
    if not started.wait(INIT_TIMEOUT_S):
        raise RayTrainingLost(f"a local Ray did not start within {INIT_TIMEOUT_S:g} s")
    if failed:
        raise failed[0]


def shutdown() -> None:
    """Disconnect (and stop a `local` Ray); the next runner call connects again."""
    import ray

    with _lock:
        ray.shutdown()
        _local_stop.set()


# -- the task --------------------------------------------------------------------------------

def train_task(base: Config, variants: dict[str, dict[str, Any]], max_threads: int | None, publish_s: float,
               max_seconds: float | None = None):
    """In the Ray worker: ("start", where), then ("epoch", where, variant, epoch, snapshot)...,
    then ("done", where, experiment, timed_out); `where` is (pid, host). max_seconds: the time
    limit, counted from here (core.serve.deadline.Deadline, lookahead and all). The training runs in a thread; this
    generator hands on what it made. A retried task yields everything again, and Ray passes on
    only the items past those already delivered: `where` tells the consumer a retry took over."""
    import core.train as train
    from core.serve.deadline import Deadline
    from core.serve.snapshot import frozen_copy

    where = (os.getpid(), socket.gethostname())
    yield ("start", where)
    out: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    limit = Deadline(max_seconds, also=stop.is_set)
    last = [-math.inf]

    def on_epoch(exp: Experiment, vi: int, epoch: int) -> None:
        now = time.monotonic()
        if epoch == 0 or now - last[0] >= publish_s:  # epoch 0: the variant before it is complete
            last[0] = now
            out.put(("epoch", where, vi, epoch, frozen_copy(exp)))

    def work() -> None:
        try:
            exp = train.run_experiment(base, variants, on_epoch=on_epoch, should_stop=limit, max_threads=max_threads)
            out.put(("done", where, exp, limit.timed_out))
        except BaseException as e:  # noqa: BLE001 - raised again in the generator, Ray reports it
            out.put(("error", e))

    worker = threading.Thread(target=work, name="relu-lab-ray-train", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = out.get(timeout=0.5)  # a timeout keeps a cancel (KeyboardInterrupt) deliverable
            except queue.Empty:
                continue
            if item[0] == "error":
                raise item[1]
            yield item
            if item[0] == "done":
                return
    finally:
        stop.set()  # cancelled, or the consumer went away: the training ends at its next check
        worker.join(60)


_remote: dict[str, Any] = {}


def _task(ray):
    if "task" not in _remote:
        _remote["task"] = ray.remote(train_task)
    return _remote["task"]


# -- the runner ------------------------------------------------------------------------------

class RayRunner:
    """A runner (core.serve.jobs.Runner) that trains on Ray. address: as RELU_LAB_RAY_ADDRESS
    (None: read it at call time). on_start(pid, host) is called in the job's thread when the
    first news of a worker training it arrives (again from the worker of a retry); tests use it."""

    def __init__(self, address: str | None = None, *, on_start: Callable[[int, str], Any] | None = None,
                 poll_s: float = POLL_S, publish_s: float = PUBLISH_S):
        self.address, self.on_start, self.poll_s, self.publish_s = address, on_start, poll_s, publish_s

    def __call__(self, base: Config, variants: dict[str, dict[str, Any]], on_epoch: OnEpoch,
                 should_stop: Callable[[], bool], max_threads: int | None) -> Experiment:
        configs = [base.replace(**ov) for ov in variants.values()]
        if any(c.dataset == "csv" for c in configs):
            from core.serve.jobs import thread_runner  # the file is on this machine only

            return thread_runner(base, variants, on_epoch, should_stop, max_threads)
        ray = connect(self.address)
        from ray import exceptions as rex

        cpus, memory, threads = task_resources(configs, max_threads)
        check_capacity(ray.nodes(), cpus, memory)
        # A Deadline's time limit goes with the task (see the docstring); here only its `also`.
        limited = isinstance(should_stop, Deadline)
        gen = _task(ray).options(num_cpus=cpus, memory=memory, num_returns="streaming", max_retries=MAX_RETRIES,
                                 retry_exceptions=False, name="relu-lab-train").remote(
            base, variants, threads, self.publish_s, should_stop.seconds if limited else None)
        stop_here = (should_stop.also or (lambda: False)) if limited else should_stop
        last: Experiment | None = None
        worker: tuple[int, str] | None = None
        finished = False
        try:
            while True:
                if stop_here():
                    if limited:
                        should_stop.requested = True
                    break
                ready, _ = ray.wait([gen], timeout=self.poll_s)
                if not ready:
                    continue
                try:
                    item = ray.get(next(gen))
                except StopIteration:
                    finished = True
                    raise RayTrainingLost("the Ray task ended without a result") from None
                if item[1] != worker:  # the first item, or the first one from a retry
                    if limited:
                        should_stop.restart()  # its `elapsed` is the run's on the worker
                    worker = item[1]
                    log.info("training on Ray worker %s (pid %s)", worker[1], worker[0])
                    if self.on_start is not None:
                        self.on_start(*worker)
                if item[0] == "epoch":
                    last = item[4]
                    on_epoch(last, item[2], item[3])
                elif item[0] == "done":
                    finished = True
                    exp = copy.deepcopy(item[2])  # out of Ray's shared memory: results outlive the task
                    if limited and item[3]:
                        should_stop.timed_out = True  # the job keeps it as a partial run
                    # As the local engine's last call: the finished experiment after its last epoch.
                    on_epoch(exp, len(exp.runs) - 1, max(exp.runs[-1].epochs_done - 1, 0))
                    return exp
        except rex.RayTaskError as e:  # the training raised: the same exception as a local run's
            finished = True
            raise e.as_instanceof_cause() from None
        except rex.RayError as e:  # a worker or node lost, and lost again on the retry
            finished = True
            raise RayTrainingLost(f"the Ray worker training this experiment was lost (retried {MAX_RETRIES} "
                                  f"time{'s' if MAX_RETRIES != 1 else ''}): {type(e).__name__}") from e
        finally:
            if not finished:  # stopped, or the job's thread raised: the worker stops too
                ray.cancel(gen)
        return stopped_experiment(base, variants) if last is None else view(last, stopped=True)

ray_runner = RayRunner()  # RELU_LAB_RAY_ADDRESS read at call time (`local` if unset)
