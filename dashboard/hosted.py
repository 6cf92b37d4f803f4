"""Server-wide objects for the page: limits, the run store, the training gate, and start-up.

Built once per server process (st.cache_resource), keyed by what they are built from (the
environment, the store path), so a test that points RELU_LAB_STORE at a temporary file, or
sets hosted limits, gets its own objects instead of the first test's.

`start_server()` is the one start-up step: process-wide settings (core.serve.process) and the
engine's warm-up, once per process. It lives in this module, not in app.py: Streamlit runs
app.py afresh (new globals) on every rerun, so a flag kept there does not survive a click.
"""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import streamlit as st

from core import serve
from core.serve.uploads import Uploads, owner_token, privacy_fields, visible
from core.store import RunStore, StoreError, default_location, is_url, open_run_store

SHOWN_WARNINGS = "_store_warnings_shown"
_start_lock = threading.Lock()
_started = False


def start_server() -> None:
    """Once per server process: apply the process settings of the environment's limits, and pay
    the engine's one-time start-up (torch's first kernels, digits) in a background thread, so
    the first Train press is fast."""
    global _started
    with _start_lock:
        if _started:
            return
        _started = True
    try:
        if limits().hosted:  # a public demo shows no menu at all (.streamlit/config.toml: viewer)
            st.set_option("client.toolbarMode", "minimal")
        serve.apply_process_settings(limits())
        if private_uploads():  # uploads and their runs past their time go before anyone asks
            uploads().sweep(run_store())
    except Exception:  # noqa: BLE001 - the page says what is wrong, in one line, on every run
        pass

    def work() -> None:
        try:
            from core.train import warmup

            warmup()
        except Exception:  # noqa: BLE001 - a failed warm-up only costs speed, never the page
            pass

    # Not a daemon: the interpreter waits for it (about a second) at exit instead of killing it
    # inside torch's C++, which aborts the process ("terminate called without an active exception").
    threading.Thread(target=work, name="lab-warmup", daemon=False).start()


@st.cache_resource(show_spinner=False)
def _limits(env: tuple[tuple[str, str | None], ...]) -> serve.Limits:
    return serve.Limits.from_env({k: v for k, v in env if v is not None})


def limits() -> serve.Limits:
    """Limits.from_env(), built once per environment. A malformed variable raises ConfigError (naming it)."""
    return _limits(tuple((k, os.environ.get(k)) for k in serve.ENV_VARS))


class _Opened:
    """The server's store and what opening it found (a damaged file salvaged, ...), which is told
    to the first session that looks, not to every visitor after it."""

    def __init__(self, path: str, max_mb: int | None):
        self.said: list[str] = []
        self.store = open_run_store(path, max_mb=max_mb, events=self.said)
        if self.store.condition in self.said:  # a lasting condition is told once per session instead
            self.said.remove(self.store.condition)
        self.lock = threading.Lock()

    def take(self) -> list[str]:
        with self.lock:
            said, self.said = self.said, []
        return said


@st.cache_resource(show_spinner=False)
def _run_store(path: str, max_mb: int | None) -> _Opened:
    return _Opened(path, max_mb)


def _opened() -> _Opened:
    try:
        return _run_store(default_location(), limits().store_max_mb)
    except StoreError as e:  # not a run store, cannot be created: the page says so in one line
        raise StoreError(_hide_folders(str(e), default_location())) from None


def run_store() -> RunStore:
    """The run store at $RELU_LAB_STORE (a file, or a postgresql:// URL shared by replicas), else
    <repo>/.data/runs.db, opened once per location and size cap (RELU_LAB_STORE_MAX_MB). A
    read-only store is served read-only; something else at the path raises StoreError, naming
    it (without its folder, hosted)."""
    return _opened().store


def _hide_folders(text: str, path: Path | str) -> str:
    """A public demo does not show its visitors where the server keeps its files (nor which
    database server it uses)."""
    if not limits().hosted:
        return text
    if is_url(str(path)):
        from core.store.pg import redact

        return text.replace(redact(str(path)), "the shared run store")
    for folder in {str(Path(path).parent) + os.sep, str(Path(path).resolve().parent) + os.sep}:
        text = text.replace(folder, "")
    return text


@st.cache_resource(show_spinner=False)
def _run_cache(path: str) -> serve.RunCache:
    return serve.RunCache()


def run_cache() -> serve.RunCache:
    """The thinned views of stored runs this server has opened (core.serve.opened), one LRU per
    store location (a file, or a postgresql:// URL: default_path() refuses a URL), shared by
    every session."""
    return _run_cache(default_location())


@st.cache_resource(show_spinner=False)
def _gate(max_concurrent: int, max_queue: int, max_per_visitor: int | None) -> serve.TrainingGate:
    return serve.TrainingGate(max_concurrent, max_queue, max_per_visitor=max_per_visitor)


def gate(lim: serve.Limits) -> serve.TrainingGate:
    """One fair line (core.serve.gate) for every session of this server."""
    return _gate(lim.max_concurrent, lim.max_queue, lim.max_per_visitor)


XSRF_COOKIE = "_streamlit_xsrf"  # set by Streamlit in every browser that opens the page


def xsrf_token(cookie: str | None) -> bytes | None:
    """The secret inside Streamlit's XSRF cookie ("2|mask|masked token|time", the token XORed
    with the 4-byte mask, as tornado writes it), which stays the same while the server may
    re-mask the cookie on every request; None if there is no cookie or another format."""
    if not cookie:
        return None
    parts = cookie.split("|")
    try:
        if parts[0] == "2" and len(parts) == 4:
            mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
            if len(mask) == 4 and masked:
                return bytes(b ^ mask[i % 4] for i, b in enumerate(masked))
    except ValueError:
        pass
    return None


def session_id() -> str:
    """This browser tab's Streamlit session (a fresh one on every page load)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else "no-session"


def visitor_id() -> str:
    """Who this is in the training line: the browser (its tabs share Streamlit's XSRF cookie),
    so one visitor cannot hold every slot by opening tabs; a client without the cookie is its
    session. A hash: the line never holds the secret itself."""
    try:
        token = xsrf_token(st.context.cookies.get(XSRF_COOKIE))
    except Exception:  # noqa: BLE001 - no context (a bare script): the session it is
        token = None
    if token:
        return "browser-" + hashlib.sha256(token).hexdigest()[:16]
    return "session-" + session_id()


# ------------------------------------------------------------------ uploads (core.serve.uploads)
@st.cache_resource(show_spinner=False)
def _uploads(folder: str, ttl_h: float | None) -> Uploads:
    return Uploads(folder, ttl_h)


def uploads() -> Uploads:
    """This server's uploaded CSV files, kept RELU_LAB_UPLOAD_TTL_H hours (hosted: 24)."""
    from dashboard.controls import UPLOAD_DIR

    return _uploads(UPLOAD_DIR, limits().upload_ttl_h)


def private_uploads() -> bool:
    """Hosted, an upload is its session's (and its link's, if shared); locally the machine's
    one user sees everything, as before."""
    return limits().hosted


def owner() -> str:
    """This session as an owner of uploads and of the runs trained on them (an opaque token)."""
    return owner_token(session_id())


def may_use_upload(digest: str) -> bool:
    return not private_uploads() or uploads().may_use(digest, owner())


def run_visible(row: dict) -> bool:
    """Whether this session may list (and reopen) a stored run: runs on uploads are their owners'."""
    return not private_uploads() or visible(row, owner(), uploads())


def privacy(configs: list) -> dict:
    """The store summary fields that keep a run on an upload private to this session."""
    return privacy_fields(configs, owner()) if private_uploads() else {}


def show_store_warnings(runs: RunStore) -> None:
    """What this session should know about the store, once per browser session: its lasting
    condition (read-only: stored runs are served, new ones not kept), and what opening it found,
    for the first session only. A request's own store warnings come with its run (its notes)."""
    from dashboard.views.common import md_escape

    seen = st.session_state.setdefault(SHOWN_WARNINGS, [])
    opened = _opened()
    said = opened.take() if opened.store is runs else []
    for w in said + ([runs.condition] if runs.condition else []):
        if w not in seen:
            seen.append(w)
            st.warning(f"Run store: {md_escape(_hide_folders(w, runs.path))}", icon=":material/database:")
