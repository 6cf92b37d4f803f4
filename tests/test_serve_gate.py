"""The training gate: never more than max_concurrent inside, strict first-come-first-served,
leaving the line (cancelled, a rerun), a full line refused at once. No sleeps: threads report
what they see through a condition the test waits on."""
from __future__ import annotations

import threading

import pytest
from waiting import Rerun, Seen

from core.serve import gate as gate_mod
from core.serve.errors import Cancelled, QueueFull
from core.serve.gate import TrainingGate, VisitorBusy, get_gate, waiting_message

TIMEOUT = 10.0  # only a guard against a hang: every wait below ends on an event


def _start(target) -> threading.Thread:
    t = threading.Thread(target=target)
    t.start()
    return t


def test_gate_never_lets_more_than_max_concurrent_in():
    g, lock, inside, peak = TrainingGate(2, 50, poll=0.01), threading.Lock(), [0], [0]
    seen, release = Seen(TIMEOUT), threading.Event()

    def work(i):
        with g.slot(on_wait=lambda p, w, *_: seen.add(("queued", i))):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            seen.add(("in", i))
            release.wait(TIMEOUT)
            with lock:
                inside[0] -= 1

    threads = [_start(lambda i=i: work(i)) for i in range(8)]
    seen.wait_for(lambda xs: sum(x[0] == "in" for x in xs) == 2 and len({x[1] for x in xs if x[0] == "queued"}) == 6,
                  "two inside and six in line")
    assert g.stats() == (2, 6) and peak[0] == 2
    release.set()  # all at once: the gate alone keeps them to two
    for t in threads:
        t.join(TIMEOUT)
    assert peak[0] == 2 and g.stats() == (0, 0)
    assert sorted(x[1] for x in seen.items if x[0] == "in") == list(range(8))


def test_gate_is_strict_fifo_and_reports_decreasing_positions():
    g, n = TrainingGate(1, 50, poll=0.01), 6
    order, positions, seen = [], [Seen(TIMEOUT) for _ in range(n)], Seen(TIMEOUT)
    go = [threading.Event() for _ in range(n)]
    holder = g.slot()
    holder.__enter__()
    threads = []
    for i in range(n):  # enqueue in a known order while the only slot is held
        def waiter(i=i):
            with g.slot(on_wait=lambda p, w, s: positions[i].add((p, w, s))):
                order.append(i)
                seen.add(i)
                go[i].wait(TIMEOUT)
        threads.append(_start(waiter))
        positions[i].wait_for(len, f"waiter {i} in line")
    assert g.stats() == (1, n)
    holder.__exit__(None, None, None)
    seen.wait_for(lambda xs: xs == [0], "the first in line to get the slot")
    positions[-1].wait_for(lambda xs: xs[-1][0] == n - 1, "the last one to see the line move")
    for e in go:
        e.set()
    for t in threads:
        t.join(TIMEOUT)
    assert order == list(range(n))  # nobody overtook
    for i, ps in enumerate(positions):
        places = [p for p, _, _ in ps.items]
        assert ps.items[0][:2] == (i + 1, i + 1)  # 1-based place, and how many were waiting
        assert all(a >= b >= 1 for a, b in zip(places, places[1:], strict=False))  # only ever moves up
    assert g.stats() == (0, 0)


def test_waiting_message():
    assert waiting_message(3, 5) == "Waiting for a training slot: you are 3rd in line (5 waiting)."
    assert waiting_message(1, 1) == "Waiting for a training slot: you are next."
    assert waiting_message(12, 20) == "Waiting for a training slot: you are 12th in line (20 waiting)."
    assert waiting_message(22, 30).startswith("Waiting for a training slot: you are 22nd in line")


def test_gate_cancelled_leaves_the_queue_without_a_slot():
    g = TrainingGate(1, 50, poll=0.01)
    gone, result, entered = threading.Event(), {}, []
    a_seen, b_seen = Seen(TIMEOUT), Seen(TIMEOUT)
    holder = g.slot()
    holder.__enter__()

    def abandoned():
        try:
            with g.slot(cancelled=gone.is_set, on_wait=lambda p, w, *_: a_seen.add(p)):
                entered.append("a")
        except Cancelled as e:
            result["a"] = str(e)

    def patient():
        with g.slot(on_wait=lambda p, w, *_: b_seen.add(p)):
            entered.append("b")

    ta = _start(abandoned)
    a_seen.wait_for(len, "a in line")
    tb = _start(patient)
    b_seen.wait_for(len, "b in line")
    assert g.stats() == (1, 2) and b_seen.items[0] == 2
    gone.set()
    ta.join(TIMEOUT)
    assert "abandoned" in result["a"] and g.stats() == (1, 1)
    b_seen.wait_for(lambda ps: ps[-1] == 1, "b to move up")
    holder.__exit__(None, None, None)
    tb.join(TIMEOUT)
    assert entered == ["b"] and g.stats() == (0, 0)


def test_gate_on_wait_raising_leaves_the_queue():
    g, caught = TrainingGate(1, 50, poll=0.01), []

    def rerun(position, waiting, wait_s):
        raise Rerun()  # what Streamlit does to a session's thread on rerun or stop

    def session():
        try:
            with g.slot(on_wait=rerun):
                caught.append("entered")
        except Rerun as e:
            caught.append(e)

    with g.slot():
        t = _start(session)
        t.join(TIMEOUT)
        assert isinstance(caught[0], Rerun) and g.stats() == (1, 0)
    assert g.stats() == (0, 0)


def test_gate_full_queue_raises_at_once():
    g, done, in_line = TrainingGate(1, 1, poll=0.01), threading.Event(), Seen(TIMEOUT)

    def waiter():
        with g.slot(on_wait=lambda p, w, *_: in_line.add(p)):
            done.set()

    with g.slot():
        t = _start(waiter)
        in_line.wait_for(len, "the waiter in line")
        told = []
        with pytest.raises(QueueFull, match="busy: 1 run is training and 1 is waiting"):
            with g.slot(on_wait=lambda p, w, *_: told.append(p)):
                pass
        assert told == [] and g.stats() == (1, 1)  # refused without ever joining the line
    t.join(TIMEOUT)
    assert done.is_set() and g.stats() == (0, 0)


@pytest.mark.parametrize("exc", [ValueError, Rerun])
def test_gate_releases_on_exceptions(exc):
    g = TrainingGate(1, 5, poll=0.01)
    with pytest.raises(exc):
        with g.slot():
            assert g.stats() == (1, 0)
            raise exc()
    assert g.stats() == (0, 0)
    with g.slot() as info:  # usable again, at once
        assert info.waited == 0 and info.position == 0


def test_gate_rejects_impossible_sizes():
    with pytest.raises(ValueError, match="max_concurrent"):
        TrainingGate(0, 5)
    with pytest.raises(ValueError, match="max_queue"):
        TrainingGate(1, -1)


def test_get_gate_is_one_shared_gate_from_the_environment(monkeypatch):
    monkeypatch.setattr(gate_mod, "GATE", None)
    monkeypatch.setenv("RELU_LAB_MAX_CONCURRENT", "3")
    g = get_gate()
    assert g is get_gate() is gate_mod.GATE and g.max_concurrent == 3


# ---------------------------------------------------------------- the fair line
class Queued:
    """A request in its own thread: it waits for a slot, records when it got one, and holds it
    until the test releases it."""

    def __init__(self, g: TrainingGate, name: str, got: list, **kw) -> None:
        self.name, self.places, self.release, self.error = name, Seen(TIMEOUT), threading.Event(), None
        self.entered = threading.Event()

        def run():
            try:
                with g.slot(on_wait=lambda p, w, s: self.places.add((p, w, s)), **kw):
                    got.append(name)
                    self.entered.set()
                    self.release.wait(TIMEOUT)
            except BaseException as e:  # noqa: BLE001 - asserted by the tests
                self.error = e
                self.entered.set()

        self.thread = _start(run)

    def in_line(self) -> Queued:
        self.places.wait_for(len, f"{self.name} in line")
        return self

    def done(self) -> None:
        self.release.set()
        self.thread.join(TIMEOUT)


def test_shortest_first_with_ageing(clock):
    # One slot, held. A heavy request (50 s) arrives at t=0, a light one (1 s) at t=10: the light
    # one goes first (1 + 10 < 50 + 0). Another light one arriving at t=60 comes after the heavy
    # one, which has waited long enough (1 + 60 > 50): nothing waits for ever.
    g, got = TrainingGate(1, 50, poll=0.01, clock=clock), []
    holder = Queued(g, "holder", got)
    holder.entered.wait(TIMEOUT)
    heavy = Queued(g, "heavy", got, estimate=50).in_line()
    clock.advance(10)
    light = Queued(g, "light", got, estimate=1).in_line()
    clock.advance(50)
    late = Queued(g, "late", got, estimate=1).in_line()
    light.places.wait_for(lambda ps: ps[-1][0] == 1, "light to be first in line")
    assert heavy.places.items[0][0] == 1 and light.places.items[0][0] == 1  # the light one went ahead
    assert late.places.items[0][:2] == (3, 3)
    for q in (holder, light, heavy, late):
        q.done()
    assert got == ["holder", "light", "heavy", "late"] and g.stats() == (0, 0)


def test_one_visitor_cannot_hold_every_slot(clock):
    g, got = TrainingGate(2, 50, poll=0.01, clock=clock, max_per_visitor=1), []
    first = Queued(g, "v1", got, visitor="v")
    first.entered.wait(TIMEOUT)
    second = Queued(g, "v2", got, visitor="v").in_line()  # a slot is free, but not for v
    assert g.stats() == (1, 1) and second.places.items[0][:2] == (1, 1)
    other = Queued(g, "w1", got, visitor="w")  # another visitor takes the free slot at once
    other.entered.wait(TIMEOUT)
    assert got == ["v1", "w1"]
    with pytest.raises(VisitorBusy, match="You already have 1 run training and 1 run waiting"):
        with g.slot(visitor="v"):
            pass
    first.done()  # v's run ends: its waiting one gets the slot
    second.entered.wait(TIMEOUT)
    assert got == ["v1", "w1", "v2"]
    for q in (second, other):
        q.done()
    assert g.stats() == (0, 0)
    with g.slot(), g.slot():  # callers that are nobody in particular (visitor None) are not capped
        assert g.stats() == (2, 0)


def test_a_newer_request_replaces_the_visitors_abandoned_one(clock):
    g, got = TrainingGate(1, 50, poll=0.01, clock=clock, max_per_visitor=1), []
    holder = Queued(g, "holder", got)
    holder.entered.wait(TIMEOUT)
    watched = [True]
    old = Queued(g, "old", got, visitor="v", abandoned=lambda: not watched[0]).in_line()
    with pytest.raises(VisitorBusy):  # still watched: the visitor has to wait or stop it
        with g.slot(visitor="v"):
            pass
    watched[0] = False  # the visitor changed settings: the old request's page is gone
    new = Queued(g, "new", got, visitor="v").in_line()
    old.entered.wait(TIMEOUT)
    assert isinstance(old.error, Cancelled) and "newer request" in str(old.error)
    holder.done()
    new.entered.wait(TIMEOUT)
    new.done()
    assert got == ["holder", "new"] and g.stats() == (0, 0)


def test_the_estimated_wait_counts_the_running_runs_and_those_ahead(clock):
    g, got = TrainingGate(1, 50, poll=0.01, clock=clock), []
    running = Queued(g, "running", got, estimate=30)
    running.entered.wait(TIMEOUT)
    clock.advance(10)  # 20 s left
    ahead = Queued(g, "ahead", got, estimate=4).in_line()
    behind = Queued(g, "behind", got, estimate=8).in_line()
    assert ahead.places.items[0] == (1, 1, 20.0)
    assert behind.places.items[0] == (2, 2, 24.0)
    assert waiting_message(*behind.places.items[0]) == ("Waiting for a training slot: you are 2nd in line "
                                                       "(2 waiting); estimated wait about 25 s.")
    for q in (running, ahead, behind):
        q.done()
    assert got == ["running", "ahead", "behind"]
