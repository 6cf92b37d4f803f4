"""Copies of experiments that threads can share: frozen copies, and per-caller views of them.

A training thread writes its live Experiment in place, epoch after epoch. Nothing else may read
that object: the job copies it in the training thread itself, between two epochs, where it is
consistent (`frozen_copy`), and hands out the copy. A frozen copy's arrays are read-only, so a
reader that tries to write into one fails loudly instead of changing what other readers see.

A `view` is what one caller gets: new Experiment and RunResult objects with the caller's
variant names, title and preset (or unfinished variants marked stopped), sharing the frozen
arrays. Views are cheap (no array is copied) and private: renaming or re-marking a view changes
no other caller's.
"""
from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import numpy as np

from core.config import Config
from core.results import Experiment, RunResult

UNFINISHED = ("running", "pending")


def _freeze_arrays(x: Any) -> None:
    if isinstance(x, np.ndarray):
        x.flags.writeable = False
    elif isinstance(x, dict):
        for v in x.values():
            _freeze_arrays(v)


def freeze(exp: Experiment) -> Experiment:
    """Make the arrays of an experiment nobody writes any longer read-only, in place."""
    for r in exp.runs:
        _freeze_arrays(r.metrics)
        _freeze_arrays(r.artifacts)
    return exp


def frozen_copy(exp: Experiment) -> Experiment:
    """A deep copy with read-only arrays. Call it where `exp` is not being written (the training
    thread between epochs, or after training)."""
    return freeze(copy.deepcopy(exp))


def view(exp: Experiment, names: list[str] | None = None, title: str | None = None,
         preset: str | None = None, *, stopped: bool = False) -> Experiment:
    """A private view of a shared experiment: the caller's variant names (in order), title and
    preset; with stopped=True, variants still running or pending are marked stopped."""
    names = names if names is not None else [r.name for r in exp.runs]
    runs = []
    for r, name in zip(exp.runs, names, strict=True):
        status = "stopped" if stopped and r.status in UNFINISHED else r.status
        runs.append(replace(r, name=name, status=status, metrics=dict(r.metrics), artifacts=dict(r.artifacts),
                            diverged_at=list(r.diverged_at), messages=list(r.messages)))
    return Experiment(exp.base, runs, exp.title if title is None else title, exp.preset if preset is None else preset)


def stopped_experiment(base: Config, variants: dict[str, dict[str, Any]], title: str = "",
                       preset: str = "") -> Experiment:
    """An experiment with nothing measured, every variant stopped: a run ended before epoch 0."""
    runs = []
    for name, ov in variants.items():
        c = base.replace(**ov)
        r = RunResult.empty(c, name, c.depth)
        r.status = "stopped"
        runs.append(r)
    return Experiment(base, runs, title, preset)
