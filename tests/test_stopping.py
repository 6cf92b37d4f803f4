"""core.stopping: which questions the hooks ask, and when they give a piece of work up."""
from __future__ import annotations

import pytest

from core.serve.deadline import Deadline
from core.stopping import Checks, Stopped, chunk_starts, late, time_limited


class Asked:
    """A should_stop that answers from a list and counts the questions."""

    def __init__(self, *answers: bool, late: bool = False):
        self.answers, self.n, self.late = list(answers), 0, late

    def __call__(self) -> bool:
        self.n += 1
        return self.answers.pop(0) if self.answers else True


def test_measuring_asks_only_once_every_s_has_passed(clock):
    stop = Asked(False, False, True)
    checks = Checks(stop, 1.0, clock=clock)
    checks.measuring()
    assert stop.n == 0  # not yet due
    clock.advance(1.0)
    checks.measuring()
    assert stop.n == 1 and not checks.due()  # asked: the next question is a second away
    clock.advance(0.5)
    assert checks.ask() is False and stop.n == 2  # any question counts
    clock.advance(0.9)
    checks.measuring()
    assert stop.n == 2
    clock.advance(0.1)
    with pytest.raises(Stopped):
        checks.measuring()
    assert stop.n == 3 and checks.stopped


def test_drawing_goes_on_after_a_stop_press_and_asks_no_more(clock):
    stop = Asked(True)
    checks = Checks(stop, 0.0, clock=clock)
    assert checks.ask() and stop.n == 1
    for _ in range(3):
        checks.drawing()  # a Stop press: the pictures are drawn
    assert stop.n == 1  # the answer is known (should_stop is sticky)


def test_drawing_gives_up_when_the_stop_is_late(clock):
    stop = Asked(False, late=False)
    checks = Checks(stop, 0.0, clock=clock)
    checks.drawing()
    assert stop.n == 1
    stop.late = True
    with pytest.raises(Stopped):
        checks.drawing()
    assert stop.n == 2 and checks.stopped  # asked, so a deadline records that it timed out


def test_a_deadline_past_its_limit_records_the_timeout_when_drawing_gives_up(clock):
    limit = Deadline(2.0, clock=clock, lookahead=0)
    checks = Checks(limit, float("inf"), clock=clock)  # never due: only `late` can stop the drawing
    checks.drawing()
    clock.advance(2.0)
    with pytest.raises(Stopped):
        checks.drawing()
    assert limit.timed_out


def test_late_and_time_limited_read_attributes():
    assert not late(lambda: True) and not time_limited(lambda: True) and not late(None)
    assert time_limited(Deadline(5.0)) and not time_limited(Deadline(None))
    assert late(Asked(late=True))


def test_chunk_starts_asks_between_chunks_never_before_the_first():
    asked: list[int] = []
    starts = []
    for lo in chunk_starts(10, 4, lambda: asked.append(len(starts))):
        starts.append(lo)
    assert starts == [0, 4, 8] and asked == [1, 2]  # before the 2nd and 3rd chunks only
    assert list(chunk_starts(3, 4, lambda: asked.append(-1))) == [0] and -1 not in asked  # one chunk: no question
    assert list(chunk_starts(0, 4)) == []


def test_chunk_starts_gives_the_pass_up_when_between_raises():
    def stop() -> None:
        raise Stopped

    done = []
    with pytest.raises(Stopped):
        for lo in chunk_starts(10, 4, stop):
            done.append(lo)
    assert done == [0]
