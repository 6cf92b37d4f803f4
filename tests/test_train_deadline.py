"""A time limit holds inside every long piece of a run: measurements, snapshots, final pictures.

Time here is a fake clock that moves one second per piece of work the engine does: each training
step and each forward pass outside one (a chunk of a measurement, a picture's pass). So a run's
pieces are hand-countable, and "the run ends within one piece of its limit" is an exact claim.
STOP_CHECK_S = 0: the engine asks at every boundary its rules allow (core.stopping), not only
once a tenth of a real second has passed.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import core.train as T
from core.config import validate
from core.models import BatchedNet
from core.replay import at_epoch
from core.results import METRICS
from core.serve.deadline import Deadline

DIGITS = dict(dataset="digits", width=512, depth=2, seeds=1, batch_size=0)  # full batch: one step an epoch
MOONS = dict(dataset="moons", n_samples=1000, width=8, depth=2, seeds=2, batch_size=0)


@pytest.fixture
def ticking(clock, monkeypatch):
    """The fake clock moves 1 s per training step and per forward pass outside a step."""
    monkeypatch.setattr(T, "STOP_CHECK_S", 0.0)
    in_step = [False]
    step, forward = T._step, BatchedNet.forward

    def timed_step(*a, **k):
        clock.advance(1.0)
        in_step[0] = True
        try:
            return step(*a, **k)
        finally:
            in_step[0] = False

    def timed_forward(self, *a, **k):
        if not in_step[0]:
            clock.advance(1.0)
        return forward(self, *a, **k)

    monkeypatch.setattr(T, "_step", timed_step)
    monkeypatch.setattr(BatchedNet, "forward", timed_forward)
    return clock


class Watched(Deadline):
    """A Deadline that notes the (fake) times it was asked at and the one it first said stop at."""

    fired_at: float | None = None

    def __call__(self) -> bool:
        self.asked = [*getattr(self, "asked", []), self.clock()]
        out = super().__call__()
        if out and self.fired_at is None:
            self.fired_at = self.clock()
        return out


def _measurement_pieces(cfg) -> int:
    """Forward passes of one measurement: its evaluation chunks, then the probe's train-mode pass."""
    from core import cost

    return math.ceil(cost.examples(cfg) / cost.chunk_rows(cfg)) + 1


def test_a_limit_inside_the_epoch_0_measurement_stops_it_there(ticking):
    cfg = validate(**DIGITS, epochs=3)
    pieces = _measurement_pieces(cfg)
    assert pieces >= 4  # 1797 digits through a 512-wide MLP: several chunks to stop between
    stop = Watched(2.5, clock=ticking, lookahead=0)
    res = T.train(cfg, should_stop=stop)
    # Asked after chunks 1, 2 and 3 (t = 1, 2, 3 s): it fires at 3 s, half a piece after its
    # limit, and nothing more is computed: before, the whole measurement and the final
    # pictures ran first (pieces + 3 forwards).
    assert stop.timed_out and stop.fired_at == 3.0 and ticking() == 3.0
    assert res.status == "stopped" and res.epochs_done == 0 and res.artifacts == {}
    assert all(np.isnan(v).all() for k, v in res.metrics.items())


@pytest.mark.parametrize("limit", [12.5, 17.5, 21.5])
def test_a_limit_anywhere_ends_the_run_within_one_piece_and_keeps_whole_epochs(ticking, limit):
    cfg = validate(**DIGITS, epochs=4)
    whole = T.train(cfg)  # the fake clock moves here too; the limited run starts a clock of its own
    stop = Watched(limit, clock=ticking, lookahead=0)
    seen = []
    res = T.train(cfg, should_stop=stop, on_epoch=lambda r, epoch: seen.append(epoch))
    per_epoch = 1 + _measurement_pieces(cfg)  # a step, then the measurement
    # Questions come at most 3 pieces apart (epoch 0's last chunk and probe pass, then epoch 1's
    # step; later epochs end with a question), so it fires less than that after its limit.
    gaps = np.diff([stop.started, *stop.asked])
    assert stop.timed_out and gaps.max() <= 3 and stop.fired_at - stop.started - limit < gaps.max()
    assert ticking() == stop.fired_at  # not one forward pass after it
    # Every epoch whose measurement ended before the stop is kept, the one cut is not.
    done = int((stop.fired_at - stop.started - _measurement_pieces(cfg)) // per_epoch) + 1
    assert res.status == "stopped" and res.epochs_done == done == len(seen) and seen == list(range(done))
    for m in METRICS:
        if m != "seconds":
            np.testing.assert_array_equal(res.metrics[m][:, :done], whole.metrics[m][:, :done], err_msg=m)
            assert np.isnan(res.metrics[m][:, done:]).all()
    # A stop at the time limit draws no pictures (digits: no snapshots either) and says so.
    assert res.artifacts == {} and res.messages == [T._no_pictures([])]


def test_a_limit_reached_while_the_final_pictures_are_drawn_gives_them_up(ticking):
    cfg = validate(**DIGITS, epochs=2)
    pieces = _measurement_pieces(cfg)
    end = pieces + 2 * (1 + pieces)  # epoch 0, then two of a step and a measurement
    stop = Watched(end + 0.5, clock=ticking, lookahead=0)
    res = T.train(cfg, should_stop=stop)
    # Every epoch is measured, then the confusion matrix's evaluation (one chunk of the
    # validation set) passes the limit; the check after it gives the pictures up.
    assert stop.fired_at == end + 1 == ticking()
    assert res.epochs_done == cfg.epochs + 1 and res.status == "stopped"
    assert res.artifacts == {} and res.messages == [T._no_pictures([])]


def test_a_stop_at_the_limit_keeps_the_last_snapshot_for_the_pictures(ticking):
    # 2-D data: snapshots at epochs 0, 2, 3, 5, 7, 9, ... (core.snapshots.schedule(40)). An epoch
    # is a step and a measurement (a chunk and the probe pass): 3 s; a snapshot adds 4 forward
    # passes per variant, 8 s. Epoch 7 ends at 63 s with its snapshot, epoch 8 at 66 s without
    # one: the limit at 65 s stops the run there, its last snapshot a whole epoch earlier.
    cfg = validate(**MOONS, epochs=40)
    stop = Watched(65.0, clock=ticking, lookahead=0)
    exp = T.run_experiment(cfg, {"ReLU": {}, "dropout": {"dropout": 0.5}}, should_stop=stop)
    assert stop.timed_out and stop.fired_at == 66.0 == ticking()
    for r in exp.runs:
        snaps = r.artifacts["snapshots"]
        last = int(snaps["epochs"][-1])
        assert r.status == "stopped" and r.epochs_done == 9 and last == 7
        assert not {"boundary", "raster", "units"} & set(r.artifacts)  # no new pictures
        assert r.messages == [T._no_pictures(list(snaps["epochs"]))] and f"epoch {last}," in r.messages[0]
        assert set(r.artifacts["points"]) == {"x_train", "y_train", "x_val", "y_val"}
    # The page's view of the last epoch draws the network from that snapshot.
    shown = at_epoch(exp, exp.runs[0].epochs_done - 1)
    assert all("boundary" in r.artifacts and "points" in r.artifacts for r in shown.runs)


def test_a_stop_press_inside_a_measurement_keeps_the_pictures_of_the_last_measured_epoch(ticking):
    # A Stop press (a plain should_stop: never late) while epoch 2 is measured: epochs 0 and 1
    # are kept and the pictures are drawn from the weights after epoch 1, as a 1-epoch run's.
    cfg = validate(**DIGITS, epochs=4)
    pieces = _measurement_pieces(cfg)
    press_at = pieces + (1 + pieces) + 1 + 2  # epoch 0, epoch 1, epoch 2's step and two chunks
    # One thread: a run on one thread may measure beside training (core.recorder), uncut.
    res = T.train(cfg, should_stop=lambda: ticking() >= press_at, max_threads=1)
    one = T.train(cfg.replace(epochs=1), max_threads=1)
    assert res.status == "stopped" and res.epochs_done == 2 and res.messages == []
    for m in METRICS:
        if m != "seconds":
            np.testing.assert_array_equal(res.metrics[m][:, :2], one.metrics[m], err_msg=m)
    np.testing.assert_array_equal(res.artifacts["confusion"], one.artifacts["confusion"])
    np.testing.assert_array_equal(res.artifacts["raster"], one.artifacts["raster"])


def test_a_check_that_never_fires_changes_no_number(ticking):
    # Asked at every boundary (STOP_CHECK_S = 0), measured serially under a time limit: the
    # same numbers and pictures as with nobody asking.
    for cfg in (validate(**DIGITS, epochs=2), validate(**{**MOONS, "batch_size": 32}, epochs=3)):
        free = T.train(cfg)
        asked = T.train(cfg, should_stop=Deadline(1e9, clock=ticking))
        assert asked.status == free.status == "ok"
        for m in METRICS:
            if m != "seconds":
                np.testing.assert_array_equal(asked.metrics[m], free.metrics[m], err_msg=m)
        assert asked.artifacts.keys() == free.artifacts.keys()
        for k, v in free.artifacts.items():
            if isinstance(v, dict):
                for kk, vv in v.items():
                    np.testing.assert_array_equal(asked.artifacts[k][kk], vv, err_msg=f"{k}.{kk}")
            else:
                np.testing.assert_array_equal(asked.artifacts[k], v, err_msg=k)


def test_run_guarded_keeps_a_run_cut_inside_a_measurement_as_a_partial_run(ticking, tmp_path):
    """End to end through core.serve: the job's Deadline (its lookahead of 2 longest gaps) fires
    inside epoch 1's measurement, the run ends before its limit, and it is kept and served again
    as the partial run it is."""
    from core.serve import notes as N
    from core.serve.gate import TrainingGate
    from core.serve.guarded import run_guarded
    from core.serve.jobs import JobRegistry
    from core.serve.limits import HOSTED_MAX_WORK, Limits
    from core.store import RunStore

    store, gate, jobs = RunStore(tmp_path / "runs.db"), TrainingGate(2, 50, poll=0.02), JobRegistry(clock=ticking)
    lim = Limits(hosted=True, max_work=HOSTED_MAX_WORK, max_seconds=15.0, max_memory_mb=512)
    cfg = validate(**DIGITS, epochs=50)
    # Questions after each of epoch 0's first five chunks (1 s apart), then after epoch 1's step:
    # the last chunk, the probe pass and the step, a gap of 3 s (8 + 2 x 3 < 15). After epoch 1's
    # first chunk, 9 + 2 x 3 = 15: it fires there, inside the measurement.
    exp, from_store, notes = run_guarded(cfg, None, limits=lim, store=store, gate=gate, jobs=jobs)
    assert jobs.wait_idle(60)
    assert ticking() == 9.0 <= lim.max_seconds  # nothing ran after the stop
    run = exp.runs[0]
    assert exp.status == "stopped" and not from_store and run.epochs_done == 1
    assert [n.code for n in notes] == [N.STOPPED_AT_LIMIT] and run.messages == [T._no_pictures([])]
    [row] = store.list()
    assert row["status"] == "stopped" and row["partial"] == "time_limit"
    again, from_store, notes = run_guarded(cfg, None, limits=lim, store=store, gate=gate, jobs=jobs)
    assert from_store and again.status == "stopped" and again.runs[0].epochs_done == 1
    assert ticking() == 9.0  # served, not trained again
    np.testing.assert_array_equal(again.runs[0].curve("val_acc"), run.curve("val_acc"))
