"""Notes: what a page tells the visitor about how a run was served. Notes are data.

A `Note(level, code, text)` carries its level ("info" or "warning") and a stable code beside
the sentence; a page picks its icon and style from those, never by reading the sentence. The
functions below make every note run_guarded gives, so their wording lives in one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.serve.limits import Limits, count

Level = Literal["info", "warning"]

# Codes. Info: how the run was served. Warning: what it lacks, or what went wrong.
FROM_STORE = "from-store"              # served from the run store
REOPENED = "reopened"                  # opened from the History page's list of stored runs
SHARED = "shared"                      # watched a training another session had started
WAITED = "waited"                      # waited in line for a training slot
STORED_COPY_UNREADABLE = "stored-copy-unreadable"
STOPPED_BY_YOU = "stopped-by-you"
STOPPED_IN_LINE = "stopped-in-line"
STOPPED_AT_LIMIT = "stopped-at-limit"
STOPPED = "stopped"                    # stopped for another reason (the watchers left)
GOES_ON = "goes-on"                    # the visitor stopped watching; others still do
DIVERGED = "diverged"
STORE_PROBLEM = "store-problem"        # a run store warning (damaged file moved aside, ...)

STOP_CODES = frozenset({STOPPED_BY_YOU, STOPPED_IN_LINE, STOPPED_AT_LIMIT, STOPPED})


@dataclass(frozen=True)
class Note:
    level: Level
    code: str
    text: str

    def __str__(self) -> str:
        return self.text


def from_store() -> Note:
    return Note("info", FROM_STORE, "Served from the store: this exact experiment was trained before.")


def shared() -> Note:
    # The registry joins identical requests whoever made them: another visitor, or this page's own
    # earlier request still training (a sweep link that trains on opening, then Train pressed).
    return Note("info", SHARED, "This exact experiment was already being trained when you asked (for "
                                "another visitor, or for an earlier request of yours); it was trained "
                                "once and you watched that run.")


def waited(seconds: float, max_concurrent: int) -> Note:
    return Note("info", WAITED, f"Waited {seconds:.0f} s for a free training slot "
                                f"({count(max_concurrent, 'run trains', 'runs train')} at a time).")


def stored_copy_unreadable() -> Note:
    return Note("warning", STORED_COPY_UNREADABLE,
                "The stored copy of this experiment could not be read, so it was trained again.")


def stopped_in_line() -> Note:
    return Note("warning", STOPPED_IN_LINE, "Stopped at your request before the run got a training slot.")


def goes_on(others: int) -> Note:
    return Note("warning", GOES_ON,
                f"The run goes on for the {count(others, 'other session', 'other sessions')} watching it and "
                "will be kept in the store: run it again later to see it whole.")


def _where(exp, skipped_too: bool = False) -> str:
    """' after epoch 12 of 200 of 'ReLU' (2 later variants did not start)': where a run stopped.
    Variants trained as one network (core.groups) stop at the same epoch: ' of every variant'."""
    done = [r for r in exp.runs if r.epochs_done > 0]
    if not done:
        return ""
    last = done[-1]
    where = f" after epoch {last.last_epoch} of {last.config.epochs}"
    if len(exp.runs) > 1:
        together = [r for r in done if (r.last_epoch, r.config.epochs) == (last.last_epoch, last.config.epochs)]
        if len(together) == len(exp.runs):
            where += " of every variant"
        else:
            where += " of " + ", ".join(f"'{r.name}'" for r in together)
        unstarted = [i for i, r in enumerate(exp.runs) if r.epochs_done == 0]
        if skipped_too and unstarted:
            kind = "later" if min(unstarted) > exp.runs.index(last) else "other"
            where += f" ({count(len(unstarted), f'{kind} variant', f'{kind} variants')} did not start)"
    return where


def partial_from_store(limit_s: float, exp) -> Note:
    """A run kept at the time limit (core.serve.partial), served instead of training it again."""
    where = _where(exp)
    return Note("warning", STOPPED_AT_LIMIT,
                f"This experiment reached the {limit_s:g} s time limit when it was trained on this server and "
                f"stopped{where}: this is that partial run (it would stop there again). Reduce epochs or "
                "n_samples to see a whole run.")


def store_problem(warning: str) -> Note:
    return Note("warning", STORE_PROBLEM, f"Store: {warning}")


def outcome(exp, limits: Limits, timed_out: bool, user_stopped: bool) -> list[Note]:
    """Why a run is incomplete (stopped: where, and why) and which variants diverged."""
    notes = []
    if exp.status == "stopped":
        where = _where(exp, skipped_too=True)
        if timed_out:
            notes.append(Note("warning", STOPPED_AT_LIMIT,
                              f"Stopped at the {limits.max_seconds:g} s limit of the "
                              f"{'hosted demo' if limits.hosted else 'server'}{where}. What it computed is kept, "
                              "marked partial, and shown to anyone asking for these settings; reduce epochs or "
                              "n_samples to see the whole run."))
        elif user_stopped:
            notes.append(Note("warning", STOPPED_BY_YOU,
                              f"Stopped at your request{where}; stopped runs are not kept in the store."))
        else:
            notes.append(Note("warning", STOPPED, f"Stopped{where}; stopped runs are not kept in the store."))
    for r in exp.runs:
        bad = sum(e is not None for e in r.diverged_at)
        if bad:
            who = f"'{r.name}': " if len(exp.runs) > 1 else ""
            notes.append(Note("warning", DIVERGED,
                              f"{who}{bad} of {len(r.diverged_at)} seeds diverged (loss or weights became NaN/inf) "
                              f"and their curves stop there; try a learning rate below {r.config.lr:g}."))
    return notes
