"""Server-wide hosting objects for the page: limits, the run store and the training gate.

Built once per server process (st.cache_resource), keyed by what they are built from (the
environment, the store path), so a test that points RELU_LAB_STORE at a temporary file, or
sets hosted limits, gets its own objects instead of the first test's.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

from core import hosting
from core.store import RunStore, default_path

# Trainings run in threads of the server, and the engine releases the GIL at every (tiny) torch
# op. With Python's default 5 ms switch interval, each time it wants the GIL back while a page
# thread builds a figure it waits up to 5 ms: three busy threads made two trainings 15x slower
# (relu-vs-dropout 3.6 s -> 64 s). At 0.2 ms (core.train.SWITCH_INTERVAL_S, which the engine
# also uses while it measures beside training) they took 7 s. Only matters when threads compete.

_ENV_VARS = (hosting.ENV_HOSTED, hosting.ENV_MAX_WORK, hosting.ENV_MAX_SECONDS, hosting.ENV_MAX_CONCURRENT,
             hosting.ENV_MAX_QUEUE, hosting.ENV_MAX_MEMORY_MB, hosting.ENV_TORCH_THREADS)
SHOWN_WARNINGS = "_store_warnings_shown"


@st.cache_resource(show_spinner=False)
def _limits(env: tuple[tuple[str, str | None], ...]) -> hosting.Limits:
    lim = hosting.Limits.from_env({k: v for k, v in env if v is not None})
    hosting.apply_thread_settings(lim)  # once per server (and per distinct environment)
    from core.train import SWITCH_INTERVAL_S

    if sys.getswitchinterval() > SWITCH_INTERVAL_S:
        sys.setswitchinterval(SWITCH_INTERVAL_S)
    return lim


def limits() -> hosting.Limits:
    """Limits.from_env(), built once. A malformed variable raises ConfigError (naming it)."""
    return _limits(tuple((k, os.environ.get(k)) for k in _ENV_VARS))


@st.cache_resource(show_spinner=False)
def _run_store(path: str) -> RunStore:
    return RunStore(path)


def run_store() -> RunStore:
    """The run store at $RELU_LAB_STORE, else <repo>/.data/runs.db, opened once per path."""
    return _run_store(str(default_path()))


@st.cache_resource(show_spinner=False)
def _gate(max_concurrent: int, max_queue: int) -> hosting.TrainingGate:
    return hosting.TrainingGate(max_concurrent, max_queue)


def gate(lim: hosting.Limits) -> hosting.TrainingGate:
    """One first-come-first-served gate for every session of this server."""
    return _gate(lim.max_concurrent, lim.max_queue)


def show_store_warnings(runs: RunStore) -> None:
    """Each store warning (e.g. a damaged file moved aside) once per browser session."""
    from dashboard.views.common import md_escape

    seen = st.session_state.setdefault(SHOWN_WARNINGS, [])
    # A public demo does not show its visitors where the server keeps its files.
    folders = {str(Path(runs.path).parent) + os.sep, str(Path(runs.path).resolve().parent) + os.sep} \
        if limits().hosted else set()
    for w in list(runs.warnings):
        if w not in seen:
            seen.append(w)
            shown = w
            for folder in folders:
                shown = shown.replace(folder, "")
            st.warning(f"Run store: {md_escape(shown)}", icon=":material/database:")
