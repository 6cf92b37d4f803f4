"""The time limit as a should_stop: which of the two reasons fired, on a clock the test moves."""
from __future__ import annotations

from core.serve.deadline import Deadline


def test_deadline_fires_at_the_limit_and_says_it_was_the_time(clock):
    stop = Deadline(5.0, clock=clock, lookahead=0)
    clock.advance(4.9)
    assert not stop() and not stop.timed_out and stop.elapsed == 4.9
    clock.advance(0.1)
    assert stop() and stop.timed_out and not stop.requested
    assert stop()  # sticky


def test_deadline_fires_two_of_the_longest_pieces_before_the_limit(clock):
    # Calls every 1/8 s (steps), then one 1.5 s gap (a measurement): from then on the deadline
    # keeps 3 s in hand, so the next measurement and the pictures still end before 60 s.
    stop = Deadline(60.0, clock=clock)
    for _ in range(80):
        clock.advance(0.125)
        assert not stop()
    clock.advance(1.5)
    assert not stop() and stop.longest_gap == 1.5
    while clock() < 56.875:  # steps again
        clock.advance(0.125)
        assert not stop()
    clock.advance(0.125)  # 57 + 2 x 1.5 = 60
    assert stop() and stop.timed_out


def test_a_first_piece_longer_than_the_limit_fires_at_the_first_call(clock):
    stop = Deadline(10.0, clock=clock)
    clock.advance(4.0)  # data and epoch 0 took 4 s: two more such pieces would pass 10 s
    assert stop() and stop.timed_out and stop.elapsed == 4.0


def test_the_clock_starts_when_the_deadline_is_made(clock):
    clock.advance(100.0)  # time spent in the queue does not count
    stop = Deadline(5.0, clock=clock)
    assert not stop()
    clock.advance(5.0)
    assert stop() and stop.timed_out


def test_also_is_the_stop_button(clock):
    pressed = [False]
    stop = Deadline(60, also=lambda: pressed[0], clock=clock)
    assert not stop()
    pressed[0] = True
    assert stop() and stop.requested and not stop.timed_out
    pressed[0] = False
    assert stop() and stop.fired  # sticky


def test_no_limit_never_times_out(clock):
    stop = Deadline(None, clock=clock)
    clock.advance(1e9)
    assert not stop() and not stop.fired


def test_restart_counts_the_limit_from_now(clock):
    stop = Deadline(5.0, clock=clock, lookahead=0)  # the limit alone (the lookahead is tested above)
    clock.advance(4.0)
    stop.restart()  # the run really began only now (Ray had it queued)
    clock.advance(4.0)
    assert not stop() and stop.elapsed == 4.0
    clock.advance(1.0)
    assert stop() and stop.timed_out


def test_restart_forgets_the_wait_before_it(clock):
    stop = Deadline(10.0, clock=clock)
    clock.advance(30.0)  # queued on the cluster: no gap between two pieces of the run
    stop.restart()
    clock.advance(1.0)
    assert not stop() and stop.longest_gap == 1.0


def test_late_once_timed_out_or_as_near_the_limit_after_a_stop_press(clock):
    pressed = [False]
    stop = Deadline(10.0, also=lambda: pressed[0], clock=clock)
    clock.advance(1.0)
    assert not stop() and not stop.late  # longest gap 1 s: late from 8 s on
    pressed[0] = True
    assert stop() and stop.requested and not stop.late  # a Stop press is not late by itself
    clock.advance(6.5)
    assert not stop.late and stop() and not stop.timed_out  # no longer asked about the time ...
    clock.advance(0.5)
    assert stop.late  # ... but 8 + 2 x 1 reaches the limit: the pictures after the press are given up
    assert not Deadline(None, clock=clock).late


def test_late_is_timed_out(clock):
    stop = Deadline(5.0, clock=clock, lookahead=0)
    clock.advance(5.0)
    assert stop() and stop.timed_out and stop.late
