"""Measuring beside training: the overlapped recorder gives the serial one's numbers to the last
bit, reports epochs promptly and in order, and is chosen by its policy, never by globals."""
import sys

import numpy as np
import pytest

import core.recorder as R
from core.config import validate
from core.data import make_dataset
from core.metrics import measure
from core.models import MEASURE, BatchedNet, SeedStreams
from core.recorder import MeasurePolicy, OverlappedRecorder, Recorder, make_recorder
from core.results import METRICS
from core.train import run_experiment, train

SMALL = dict(n_samples=200, epochs=3, width=16, batch_size=32)
SERIAL = MeasurePolicy(overlap=False)
OVERLAP = MeasurePolicy(overlap=True)


DIVERGING = dict(dataset="moons", n_samples=200, depth=3, width=32, optimizer="sgd", epochs=10, seeds=4,
                 init="he", batch_size=16, dropout=0.1)


@pytest.mark.parametrize("settings, diverging", [
    (dict(DIVERGING, lr=1.2), "some"),   # seeds diverge at different epochs, two survive
    (dict(DIVERGING, lr=10.0), "all"),   # every seed diverges: the run stops where serial stops
    ({**SMALL, "epochs": 10, "seeds": 3, "dropout": 0.3, "batchnorm": True, "optimizer": "momentum", "lr": 0.05}, "none"),
    ({**SMALL, "epochs": 10, "seeds": 3, "dropout": 0.3, "activation": "tanh"}, "none"),
    (dict(dataset="digits", model="cnn", width=8, n_samples=400, epochs=7, batch_size=32, seeds=3,
          dropout=0.2), "none"),
])
def test_measuring_beside_training_changes_no_number(settings, diverging):
    # Measuring in a second thread stacks several epochs' weights into one pass (3 here; CNNs 1
    # by policy); every figure, mask_flip and revived across pass boundaries, divergence, the
    # run's length and the measurement stream's dropout draws must equal measuring each epoch in
    # turn. 10 epochs + epoch 0 leave a partial last pass.
    cfg = validate(settings)
    plain = train(cfg, measure=SERIAL)
    # full passes of 3 only, whatever the machine's speed
    stacked = train(cfg, measure=MeasurePolicy(overlap=True, max_snapshots=3, stack_elements=2**40,
                                               snapshot_wait_s=1e9))
    died = [e is not None for e in plain.diverged_at]
    assert {"some": any(died) and not all(died), "all": all(died), "none": not any(died)}[diverging]
    assert (stacked.status, stacked.epochs_done) == (plain.status, plain.epochs_done)
    assert stacked.diverged_at == plain.diverged_at and stacked.messages == plain.messages
    for m in METRICS:
        if m != "seconds":
            np.testing.assert_array_equal(plain.metrics[m], stacked.metrics[m], err_msg=m)
    if diverging == "some":  # units come back at the first epoch of a pass (4, 7): compared with the pass before
        assert np.nansum(plain.metrics["revived"][:, [4, 7]]) > 0


def test_an_epoch_is_reported_by_the_time_the_next_one_is_trained(monkeypatch):
    # Measuring beside training reports epoch e at the latest when epoch e+1 has been trained,
    # provided its pass is measured by then (serially it comes before). Each epoch starts only
    # once the measuring thread is idle (a no-op queued behind the passes has run: one worker,
    # first in first out), and snapshot_wait_s=0 stands for epochs longer than the wait.
    pools, started, seen = [], [], []
    pool = R.measuring_pool
    monkeypatch.setattr(R, "measuring_pool", lambda threads: pools.append(pool(threads)) or pools[-1])
    perms = SeedStreams.permutations

    def after_measuring(self, n):
        pools[-1].submit(int).result()
        started.append(len(started) + 1)
        return perms(self, n)

    monkeypatch.setattr(SeedStreams, "permutations", after_measuring)
    train(validate(**{**SMALL, "epochs": 5}), measure=MeasurePolicy(overlap=True, snapshot_wait_s=0.0),
          on_epoch=lambda r, e: seen.append((e, len(started))))
    assert len(pools) == 1 and [e for e, _ in seen] == list(range(6))
    assert all(n <= e + 1 for e, n in seen), seen  # never two epochs behind
    assert seen[:-1] == [(e, e + 1) for e in range(5)]  # each one as soon as the next has been trained


@pytest.mark.parametrize("wait, passes", [(1e9, [1, 3, 3, 3, 1]), (0.0, [1] * 11)])
def test_measuring_passes_take_epoch_0_at_once_and_never_wait_long(monkeypatch, wait, passes):
    # Epoch 0 is measured alone, so the first point shows at once; later snapshots wait for a
    # full pass of K unless waiting would take longer than snapshot_wait_s; the rest goes at the end.
    seen = []

    def spy(*args, snapshots=1, **kw):
        seen.append(snapshots)
        return measure(*args, snapshots=snapshots, **kw)

    monkeypatch.setattr(R, "measure", spy)
    r = train(validate(**{**SMALL, "epochs": 10}),
              measure=MeasurePolicy(overlap=True, max_snapshots=3, stack_elements=2**40, snapshot_wait_s=wait))
    assert seen == passes and r.epochs_done == 11


def test_overlapped_run_restores_the_interpreter_switch_interval():
    before = sys.getswitchinterval()
    seen = []
    train(validate(n_samples=100, epochs=2, seeds=1, batch_size=20), measure=OVERLAP,
          on_epoch=lambda r, e: seen.append(sys.getswitchinterval()))
    assert seen and max(seen) <= R.SWITCH_INTERVAL_S + 1e-9  # short while two threads share the lock
    assert sys.getswitchinterval() == before


def test_the_measuring_thread_uses_the_threads_the_run_chose():
    # OpenMP's thread count is per thread: a fresh thread would run a large matmul on every core,
    # the training thread's included. Ask torch's own OpenMP runtime, in the pool's thread.
    import ctypes
    import os
    from concurrent.futures import ThreadPoolExecutor

    import torch

    torch_lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    with open("/proc/self/maps") as fh:  # torch's own runtime, not another library's OpenMP
        libs = sorted({w for w in fh.read().split() if w.startswith(torch_lib) and "omp" in os.path.basename(w)})
    if not libs:
        pytest.skip("torch's OpenMP runtime is not a separate library here")
    omp = ctypes.CDLL(libs[0])
    with R.measuring_pool(1) as pool:
        assert pool.submit(omp.omp_get_max_threads).result() == 1
    if len(os.sched_getaffinity(0)) >= 2 and "OMP_NUM_THREADS" not in os.environ:
        with ThreadPoolExecutor(1) as plain:  # the check can fail: a plain thread would use every core
            assert plain.submit(omp.omp_get_max_threads).result() >= 2



@pytest.mark.parametrize("policy, threads, max_threads, cores, overlaps", [
    (MeasurePolicy(), 1, None, 2, True),              # a small run, a second core free
    (MeasurePolicy(), 1, None, 1, False),             # one core: nothing to overlap with
    (MeasurePolicy(), 2, None, 2, False),             # a large run already uses every core
    (MeasurePolicy(), 1, 1, 2, False),                # hosted: two runs at once on two cores
    (MeasurePolicy(), 1, 2, 4, True),
    (MeasurePolicy(overlap=False), 1, None, 2, False),
    (MeasurePolicy(overlap=True), 4, 1, 1, True),     # forced (tests, benchmark)
    (MeasurePolicy(overlap=True, every_epoch=False), 1, None, 2, False),  # two epochs: not worth a thread
])
def test_the_policy_decides_when_measuring_overlaps(policy, threads, max_threads, cores, overlaps):
    assert policy.overlaps(threads, max_threads, cores) is overlaps


@pytest.mark.parametrize("policy, threads, max_threads, cores, want", [
    (MeasurePolicy(), 2, None, 2, 1),                            # a large step: training on one core, measuring on the other
    (MeasurePolicy(), 8, None, 8, 1),
    (MeasurePolicy(), 1, None, 2, 1),                            # a small run stays on one
    (MeasurePolicy(), 2, None, 1, 2),                            # one core: no second one for measuring
    (MeasurePolicy(), 1, 1, 2, 1),                               # hosted cap
    (MeasurePolicy(one_training_thread=False), 2, None, 2, 2),   # every core on the steps, measuring between them
    (MeasurePolicy(overlap=False), 2, None, 2, 2),               # measuring between steps: the steps keep every core
    (MeasurePolicy(every_epoch=False), 2, None, 2, 2),           # two measured epochs: not worth a core
    (MeasurePolicy(overlap=True), 4, None, 1, 1),                # forced overlap (tests, benchmark)
])
def test_a_large_run_trains_on_one_thread_when_measuring_can_have_the_other(policy, threads, max_threads, cores, want):
    assert policy.training_threads(threads, max_threads, cores) == want
    if want < threads:  # and then it does measure beside training
        assert policy.overlaps(want, max_threads, cores)


BIG_STEP = dict(dataset="digits", n_samples=300, width=256, depth=2, batch_size=64, epochs=3, seeds=4, dropout=0.3,
                optimizer="adam", lr=1e-3)
BIG_CNN_STEP = dict(dataset="digits", n_samples=300, model="cnn", width=16, depth=2, batch_size=64, epochs=2, seeds=4,
                    dropout=0.3, optimizer="adam", lr=3e-3)  # digits-cnn's network, 4 slices as its group


@pytest.mark.skipif(R.CORES < 2, reason="a large step takes one core either way")
@pytest.mark.parametrize("settings", [BIG_STEP, BIG_CNN_STEP], ids=["mlp", "cnn"])
def test_a_large_run_on_one_training_thread_gives_every_core_runs_numbers(settings):
    # W2's shape at 4 seeds (about 22M multiply-adds a step, above core.threads' 20M) and the
    # digits-cnn preset's group (41M): one training thread with measuring beside it, against
    # every core on each step and measuring between them. The thread count is read in the
    # training thread (on_epoch runs there).
    import torch

    from core.cost import n_inputs, split, step_macs
    from core.threads import SMALL_STEP_MACS

    cfg = validate(settings)
    assert step_macs(cfg, n_inputs(cfg), split(cfg)[0]) >= SMALL_STEP_MACS
    runs = {}
    for one in (True, False):
        seen = []
        runs[one] = train(cfg, on_epoch=lambda r, e, seen=seen: seen.append(torch.get_num_threads()),
                          measure=MeasurePolicy(one_training_thread=one))
        assert set(seen) == ({1} if one else {R.CORES})
    for m in METRICS:
        if m != "seconds":
            np.testing.assert_array_equal(runs[True].metrics[m], runs[False].metrics[m], err_msg=m)


@pytest.mark.parametrize("bad", [dict(overlap="yes"), dict(overlap=None), dict(max_snapshots=0)])
def test_a_malformed_policy_is_refused(bad):
    with pytest.raises(ValueError):
        MeasurePolicy(**bad)


def test_make_recorder_follows_the_policy():
    cfg = validate(**SMALL, seeds=2)
    data, net = make_dataset(cfg), BatchedNet(cfg, n_in=2, n_classes=2)
    streams = SeedStreams(cfg.seed_list, MEASURE)

    def made(policy, threads, max_threads, cores):
        rec = make_recorder(policy, net, data, streams, lambda *a: None, last_epoch=3, t0=0.0, threads=threads,
                            max_threads=max_threads, cores=cores)
        with rec:
            return type(rec)

    assert made(MeasurePolicy(), 1, None, 2) is OverlappedRecorder
    assert made(MeasurePolicy(), 1, 1, 2) is Recorder
    assert made(SERIAL, 1, None, 2) is Recorder


def test_a_hosted_run_starts_no_measuring_thread(monkeypatch):
    # run_experiment(max_threads=1) is how the serving layer trains: no measuring thread is started.
    started = []
    pool = R.measuring_pool
    monkeypatch.setattr(R, "measuring_pool", lambda threads: started.append(threads) or pool(threads))
    base = validate(**SMALL, seeds=2)
    run_experiment(base, {"A": {}, "B": {"dropout": 0.5}}, max_threads=1)
    assert started == []
    run_experiment(base, {"A": {}}, measure=OVERLAP)
    assert started == [1]


def test_epochs_come_in_order_with_every_figure_and_the_seeds_state():
    # The recorder on its own: commit sees each recorded epoch once, in order, with (S,) figures
    # equal to measuring that network directly, and (S,) finite flags.
    cfg = validate(**SMALL, seeds=2, dropout=0.5)
    data = make_dataset(cfg)
    nets = [BatchedNet(cfg.replace(seed=s), n_in=2, n_classes=2) for s in (0, 7, 3)]

    def recorded(policy):
        seen = []
        streams = SeedStreams(cfg.seed_list, MEASURE)
        with make_recorder(policy, nets[0], data, streams, lambda *a: seen.append(a), last_epoch=2, t0=0.0,
                           threads=1) as rec:
            for epoch, net in enumerate(nets):
                rec.record(epoch, net)
            rec.flush()
        return seen

    # overlapped: epoch 0 alone, then epochs 1 and 2 stacked in one pass
    got = [recorded(SERIAL), recorded(MeasurePolicy(overlap=True, max_snapshots=2, stack_elements=2**40,
                                                    snapshot_wait_s=1e9))]
    direct, prev = [], None
    streams = SeedStreams(cfg.seed_list, MEASURE)
    for net in nets:
        m, prev = measure(net, data.x_train, data.y_train, data.x_val, data.y_val, streams, prev)
        direct.append(m)
    for seen in got:
        assert [a[0] for a in seen] == [0, 1, 2]
        for (_, seconds, m, finite), want in zip(seen, direct, strict=True):
            assert seconds > 0 and finite.shape == (2,) and finite.all()
            for k, v in want.items():
                np.testing.assert_array_equal(m[k], v.double().numpy(), err_msg=k)


def test_a_groups_activations_are_measured_in_threads_of_their_own_with_the_same_numbers(monkeypatch):
    # Variants as slices with several activations (core.slices): overlapped, each activation's
    # slices are measured in a thread of its own (core.metrics._by_activation), to the last bit
    # what measuring them one after another in the training thread gives.
    parts = []
    made = R.ThreadPoolExecutor

    def spy(workers, thread_name_prefix="", **kw):
        if thread_name_prefix == "lab-measure-part":
            parts.append(workers)
        return made(workers, thread_name_prefix=thread_name_prefix, **kw)

    if R.CORES < 2:
        pytest.skip("one core: no thread beside the measuring one")
    monkeypatch.setattr(R, "ThreadPoolExecutor", spy)
    base = validate(**{**SMALL, "epochs": 12}, seeds=2)
    variants = {"relu": {}, "relu+d": {"dropout": 0.5}, "linear": {"activation": "linear"},
                "tanh+d": {"activation": "tanh", "dropout": 0.5}}
    serial = run_experiment(base, variants, measure=SERIAL)
    assert parts == []
    overlapped = run_experiment(base, variants, measure=OVERLAP)
    assert parts == [min(2, R.CORES - 1)]  # three activations: up to two threads beside the measuring one
    for a, b in zip(serial.runs, overlapped.runs, strict=True):
        for m in METRICS:
            if m != "seconds":
                np.testing.assert_array_equal(a.metrics[m], b.metrics[m], err_msg=m)
