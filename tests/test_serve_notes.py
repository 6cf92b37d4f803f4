"""Notes are data: a level and a code beside the sentence, so a page never parses the text."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.config import validate
from core.serve import notes as N
from core.serve.limits import Limits
from core.serve.notes import Note
from core.serve.snapshot import stopped_experiment

BASE = validate(n_samples=100, epochs=10, width=8, seeds=2, batch_size=32)


def _stopped_after(epochs_done: list[int], **limits):
    exp = stopped_experiment(BASE, {f"v{i}": {} for i in range(len(epochs_done))})
    for r, n in zip(exp.runs, epochs_done, strict=True):
        r.epochs_done = n
    return exp, Limits(**limits)


def test_a_note_is_frozen_data_and_prints_as_its_text():
    n = N.from_store()
    assert (n.level, n.code) == ("info", N.FROM_STORE) and str(n) == n.text
    with pytest.raises(dataclasses.FrozenInstanceError):
        n.text = "changed"  # type: ignore[misc]


@pytest.mark.parametrize("note,level,code", [
    (N.from_store(), "info", N.FROM_STORE), (N.shared(), "info", N.SHARED), (N.waited(3.4, 2), "info", N.WAITED),
    (N.stored_copy_unreadable(), "warning", N.STORED_COPY_UNREADABLE),
    (N.stopped_in_line(), "warning", N.STOPPED_IN_LINE), (N.goes_on(2), "warning", N.GOES_ON),
    (N.store_problem("disk full"), "warning", N.STORE_PROBLEM),
])
def test_each_note_has_its_level_and_code(note, level, code):
    assert isinstance(note, Note) and (note.level, note.code) == (level, code) and note.text


def test_the_sentences_pages_and_the_load_test_look_for():
    assert N.from_store().text.startswith("Served from the store")
    assert "already being trained" in N.shared().text
    assert N.waited(3.4, 2).text == "Waited 3 s for a free training slot (2 runs train at a time)."
    assert N.goes_on(1).text.startswith("The run goes on for the 1 other session watching it")
    assert N.store_problem("disk full").text == "Store: disk full"


def test_stopped_by_you_says_where():
    exp, lim = _stopped_after([11, 4, 0])
    [note] = N.outcome(exp, lim, timed_out=False, user_stopped=True)
    assert note.code == N.STOPPED_BY_YOU and note.code in N.STOP_CODES
    assert note.text == ("Stopped at your request after epoch 3 of 10 of 'v1' (1 later variant did not start); "
                         "stopped runs are not kept in the store.")


def test_stopped_at_the_time_limit_wins_over_the_request():
    exp, lim = _stopped_after([5], hosted=True, max_seconds=60.0)
    [note] = N.outcome(exp, lim, timed_out=True, user_stopped=True)
    assert note.code == N.STOPPED_AT_LIMIT
    assert note.text.startswith("Stopped at the 60 s limit of the hosted demo after epoch 4 of 10. What it computed "
                                "is kept, marked partial")
    exp, lim = _stopped_after([5], max_seconds=2.5)
    assert "limit of the server" in N.outcome(exp, lim, timed_out=True, user_stopped=False)[0].text


def test_stopped_for_no_stated_reason():
    exp, lim = _stopped_after([0])
    [note] = N.outcome(exp, lim, timed_out=False, user_stopped=False)
    assert note.code == N.STOPPED and note.text == "Stopped; stopped runs are not kept in the store."


def test_diverged_seeds_are_counted_per_variant():
    exp = stopped_experiment(BASE.replace(lr=0.5), {"a": {}, "b": {}})
    for r in exp.runs:
        r.status, r.epochs_done = "diverged", 11
        r.metrics["val_acc"][:] = np.nan
    exp.runs[0].status = "ok"
    exp.runs[1].diverged_at = [3, None]
    [note] = N.outcome(exp, Limits(), timed_out=False, user_stopped=False)
    assert note.code == N.DIVERGED and note.level == "warning"
    assert note.text == ("'b': 1 of 2 seeds diverged (loss or weights became NaN/inf) and their curves stop "
                         "there; try a learning rate below 0.5.")


def test_a_complete_run_has_no_outcome_notes():
    exp = stopped_experiment(BASE, {"run": {}})
    exp.runs[0].status = "ok"
    assert N.outcome(exp, Limits(), timed_out=False, user_stopped=True) == []


def test_variants_trained_as_one_network_stopped_together():
    # core.groups trains the variants of a comparison side by side: a Stop leaves all at one epoch.
    exp, lim = _stopped_after([4, 4, 4])
    [note] = N.outcome(exp, lim, timed_out=False, user_stopped=True)
    assert note.text == "Stopped at your request after epoch 3 of 10 of every variant; stopped runs are not kept in the store."
    # two groups, the second untrained: the variants that trained are named, the others counted
    exp, lim = _stopped_after([4, 0, 4])
    [note] = N.outcome(exp, lim, timed_out=False, user_stopped=True)
    assert note.text == ("Stopped at your request after epoch 3 of 10 of 'v0', 'v2' (1 other variant did not start); "
                         "stopped runs are not kept in the store.")
