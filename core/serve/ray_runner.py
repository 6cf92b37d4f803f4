"""Trainings on a Ray cluster: the job layer's runner (core.serve.jobs) for RELU_LAB_RAY_ADDRESS.

    RELU_LAB_RAY_ADDRESS=local         start a Ray instance inside this process's machine, once
    RELU_LAB_RAY_ADDRESS=auto          join the cluster this machine belongs to (`ray start`)
    RELU_LAB_RAY_ADDRESS=ray://h:10001 a remote cluster through Ray Client
    RELU_LAB_RAY_ADDRESS=h:6379        a cluster's head directly

Each training (an experiment: its groups of variants, as core.train.run_experiment trains them) is
one Ray task declaring what it needs, one CPU and core.cost's memory estimate, so Ray's
scheduler, not our gate, decides where and when it runs. The task is a streaming generator:

* it runs `core.train.run_experiment` itself (the same code path as the local engine, so the
  numbers are bit for bit the same) in a thread of the worker, and yields frozen snapshots of
  the experiment: epoch 0 of every variant, and at most every PUBLISH_S between; then the
  finished experiment. The runner calls on_epoch with each snapshot in the job's thread.
* The time limit counts from when a worker starts the training, not while Ray queues it: a
  should_stop with `restart()` and `also` (core.serve.deadline.Deadline) is asked only for its
  `also` part (the Stop button, a closed tab) until then, and restarted when the worker begins.
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

def train_task(base: Config, variants: dict[str, dict[str, Any]], max_threads: int | None, publish_s: float):
    """In the Ray worker: ("start", where), then ("epoch", where, variant, epoch, snapshot)...,
    then ("done", where, experiment); `where` is (pid, host). The training runs in a thread; this
    generator hands on what it made. A retried task yields everything again, and Ray passes on
    only the items past those already delivered: `where` tells the consumer a retry took over."""
    import core.train as train
    from core.serve.snapshot import frozen_copy

    where = (os.getpid(), socket.gethostname())
    yield ("start", where)
    out: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    last = [-math.inf]

    def on_epoch(exp: Experiment, vi: int, epoch: int) -> None:
        now = time.monotonic()
        if epoch == 0 or now - last[0] >= publish_s:  # epoch 0: the variant before it is complete
            last[0] = now
            out.put(("epoch", where, vi, epoch, frozen_copy(exp)))

    def work() -> None:
        try:
            out.put(("done", where, train.run_experiment(base, variants, on_epoch=on_epoch,
                                                         should_stop=stop.is_set, max_threads=max_threads)))
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
        from core.cost import estimate_memory_mb

        ray = connect(self.address)
        from ray import exceptions as rex

        memory = int(math.ceil(estimate_memory_mb(configs))) * 2**20
        gen = _task(ray).options(num_cpus=1, memory=memory, num_returns="streaming", max_retries=MAX_RETRIES,
                                 retry_exceptions=False, name="relu-lab-train").remote(
            base, variants, max_threads, self.publish_s)
        last: Experiment | None = None
        worker: tuple[int, str] | None = None
        finished = False
        # Queued on Ray: only a stop request ends the wait, not the time limit (see the docstring).
        restarts = hasattr(should_stop, "restart")
        also = getattr(should_stop, "also", None) or (lambda: False)
        try:
            while True:
                if worker is None and restarts:
                    if also():
                        break
                elif should_stop():
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
                    if worker is None and restarts:
                        should_stop.restart()
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
