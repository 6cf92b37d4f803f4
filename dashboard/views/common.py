"""Small Streamlit helpers shared by the pages: mode, escaping, chart drawing, settings widgets."""
from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any

import streamlit as st

from core.config import Field
from dashboard import charts, hosted, text
from dashboard.controls import LOG_GRIDS, log_options, wkey

_MD = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


log = logging.getLogger("relu_lab.page")


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a page (or fragment) body so that a bug shows as one line, not a traceback: the
    whole traceback goes to the server log (stderr). Streamlit's own rerun/stop signals are
    BaseExceptions and pass through untouched."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - the one place the page turns a bug into a message
            log.exception("page %s failed", fn.__qualname__)
            st.error(f"Something went wrong drawing this part of the page ({type(e).__name__}: "
                     f"{md_escape(str(e))[:200]}). Reload the page to try again; the server log has the details.",
                     icon=":material/error:")
            return None
    return wrapper


SEMINAR = "_seminar"


# Streamlit drops a whole query string of more than 1,000 parameters or 512 KiB before the script
# runs, and leaves the server no trace of it: st.query_params is empty, st.context.url has no
# query, and the WebSocket's headers carry no Referer (checked on Streamlit 1.67). The browser
# still has it: its navigation entry keeps the URL the page was loaded from, even after the page
# rewrote its address. This snippet counts there, the way Streamlit counts, and says so in the
# page. It is a constant (no user text goes into it), so running its script is safe.
try:  # private module: its limits if it has them, else the ones of Streamlit 1.67
    from streamlit.runtime.state.query_params import CLIENT_STATE_QUERY_STRING_MAX_FIELDS as _MAX_FIELDS
    from streamlit.runtime.state.query_params import CLIENT_STATE_QUERY_STRING_MAX_LENGTH as _MAX_CHARS
except ImportError:
    _MAX_FIELDS, _MAX_CHARS = 1000, 512 * 1024
LONG_LINK_CLASS = "relu-lab-long-link"
LONG_LINK_PROBE = """<div class="CLASS" role="alert" style="display:none;padding:0.75rem 1rem;border-radius:0.5rem;
background:rgba(255,189,69,0.2);color:inherit"></div>
<script>
(() => {
  const box = Array.from(document.querySelectorAll(".CLASS")).pop();
  const nav = performance.getEntriesByType("navigation")[0];
  let q = "";
  try { q = new URL(nav ? nav.name : location.href).search.slice(1); } catch (e) { return; }
  const n = q ? q.split("&").length : 0;
  if (!box) return;
  box.dataset.params = n;  // it looked (tests wait for this)
  if (n <= MAX_FIELDS && q.length <= MAX_CHARS) return;
  const what = n > MAX_FIELDS ? `${n.toLocaleString("en")} parameters, more than the MAX_FIELDS_TEXT` :
    `${q.length.toLocaleString("en")} characters, more than the MAX_CHARS_TEXT`;
  box.textContent = `⚠ Link ignored. This link has ${what} the page can read, so none of its settings were ` +
    "read and the default experiment opened instead (a link of this page needs fewer than 30 parameters).";
  box.style.display = "block";
})();
</script>""".replace("CLASS", LONG_LINK_CLASS).replace("MAX_FIELDS_TEXT", f"{_MAX_FIELDS:,}") \
    .replace("MAX_CHARS_TEXT", f"{_MAX_CHARS // 1024:,} KiB").replace("MAX_FIELDS", str(_MAX_FIELDS)) \
    .replace("MAX_CHARS", str(_MAX_CHARS))


def long_link_probe() -> None:
    """Warn, in the browser, about a link Streamlit dropped for its size (see LONG_LINK_PROBE)."""
    st.html(LONG_LINK_PROBE, unsafe_allow_javascript=True)


# Streamlit keeps the page's scroll position across reruns. Where a press changes the whole
# experiment (a preset picked below the evidence, as the seminar buttons are), the new evidence
# is at the top and the page stayed at the button: scroll its main area (or, where Streamlit has
# none, the document) back up. The nonce makes each call a new element, so its script runs again.
SCROLL_TOP = """<script>/* NONCE */ (document.querySelector('[data-testid="stMain"]') ||
  document.scrollingElement).scrollTo({top: 0});</script>"""


def scroll_to_top(nonce: int) -> None:
    """Show the top of the page (see SCROLL_TOP); nonce: a number new to this session (a time)."""
    st.html(SCROLL_TOP.replace("NONCE", str(int(nonce))), unsafe_allow_javascript=True)


def is_seminar() -> bool:
    """Seminar mode: `mode=seminar` in the link, kept for this session. Streamlit's navigation
    clears the query string when it changes page (st.navigation, st.switch_page without
    query_params), so the mode lives in session state and is written back into the URL on every
    page, so a copied link or a reload stays in seminar mode; `mode=` anything else leaves it."""
    mode = st.query_params.get("mode")
    ss = st.session_state
    if mode is not None:
        ss[SEMINAR] = mode == "seminar"
    elif ss.get(SEMINAR):
        st.query_params["mode"] = "seminar"
    return bool(ss.get(SEMINAR))


def host_stops() -> tuple[type[BaseException], ...]:
    """Streamlit's own stop signal (its header Stop, st.stop(), a session shut down): a run
    watched when it comes is stopped at once and its partial result kept (run_guarded's
    stop_on). A private class, feature-detected: without it, a stop leaves the run to the
    orphan grace period (core.serve.jobs), as a rerun does."""
    try:
        from streamlit.runtime.scriptrunner_utils.exceptions import StopException
    except ImportError:
        return ()
    return (StopException,)


def md_escape(text: str) -> str:
    """User text (URL values, file contents) shown through markdown must not become markdown."""
    return _MD.sub(r"\\\1", str(text))


def font_size() -> int:
    return 17 if is_seminar() else 13


def draw_charts(shown: list[charts.Chart], obj, title: str = "", prefix: str = "", **picks: int) -> None:
    """Draw registry charts in order, two per row (a wide one alone), each with its caption.
    `obj` is an Experiment or a list of runs; `picks` (layer, seed) go to the charts that read
    them; `prefix` and `title` name the PNG a chart's camera button saves."""
    fs = font_size()
    for row in charts.page_rows(shown):
        if len(row) == 1 and row[0].wide:
            _chart(row[0], obj, title, prefix, fs, picks)
            continue
        for col, c in zip(st.columns(2, gap="medium"), row, strict=False):
            with col:
                _chart(c, obj, title, prefix, fs, picks)


def _chart(c: charts.Chart, obj, title: str, prefix: str, fs: int, picks: dict[str, int]) -> None:
    fig = c.figure(obj, font_size=fs, **picks)
    st.plotly_chart(fig, width="stretch", config=charts.chart_config(prefix + c.name, title), alt=c.alt)
    st.caption(text.caption(c.name, obj))


def label(f: Field) -> str:
    return f.name.replace("_", " ")


def render_field(f: Field, *, key: str | None = None, per_variant: bool = False) -> None:
    """One base-settings widget, generated from the schema (value comes from session state under
    `key`, by default the Lab's).
    per_variant: every variant sets this field itself, so the base value is never used: the
    widget is disabled and says so, instead of letting a change serve the same experiment."""
    key = key or wkey(f.name)
    help_ = f"{f.help}. Allowed: {f.allowed()}."
    if per_variant:
        help_ = f"Every variant sets its own {label(f)}, so this base value is not used. " + help_
    with st.container(key=f"field_{f.name}"):
        _widget(f, key, help_, per_variant)
        if per_variant:
            st.caption(f":material/call_split: set per variant: {label(f)} (see Variants)")


def _widget(f: Field, key: str, help_: str, disabled: bool) -> None:
    if f.choices is not None:
        st.selectbox(label(f), f.choices, key=key, help=help_, disabled=disabled)
    elif f.type is bool:
        st.toggle(label(f), key=key, help=help_, disabled=disabled)
    elif f.type is int:
        if f.hi is not None and f.hi - f.lo <= 100:
            st.slider(label(f), int(f.lo), int(f.hi), step=1, key=key, help=help_, disabled=disabled)
        else:
            st.number_input(label(f), min_value=int(f.lo), max_value=None if f.hi is None else int(f.hi),
                            step=1, key=key, help=help_, disabled=disabled)
    elif f.name in LOG_GRIDS or f.log:
        st.select_slider(label(f), options=log_options(f.name, st.session_state[key]), key=key,
                         help=help_ + " Log scale.", format_func=lambda v: f"{v:g}", disabled=disabled)
    else:
        st.slider(label(f), float(f.lo), float(f.hi), step=0.01, key=key, help=help_, disabled=disabled)


def load_widgets(values: dict[str, Any]) -> None:
    for k, v in values.items():
        st.session_state[k] = v


def open_server(*then: Callable[[], None]) -> tuple | None:
    """The server's limits and run store for a page, or None after one line saying the server is
    misconfigured (a bad RELU_LAB_* setting or store): what every page that trains starts with.
    `then`: the page's own first steps (read its link, put its widgets back), run in order once
    the server is known to work, outside the try, so that their errors are not called
    misconfiguration."""
    try:
        server = hosted.limits(), hosted.run_store()
    except Exception as e:  # noqa: BLE001 - a misconfigured server says so in one line
        st.error(f"The lab is misconfigured: {md_escape(str(e))}")
        return None
    for step in then:
        step()
    return server
