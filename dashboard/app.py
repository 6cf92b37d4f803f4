"""ReLU–Dropout Lab: the Streamlit entry point (`streamlit run dashboard/app.py` from the repo root).

Thin on purpose: page setup, the one-time engine warm-up and navigation. Pages live in
dashboard/views, charts in dashboard/charts (the table of them in its __init__.py), settings and
URL in dashboard/controls.py.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

_warm_lock = threading.Lock()
_warm_started = False


def start_warmup() -> None:
    """Pay the engine's one-time start-up (torch import, first kernels) once per server process,
    in a background thread, so the first Train press is fast."""
    global _warm_started
    with _warm_lock:
        if _warm_started:
            return
        _warm_started = True

    def work() -> None:
        try:
            from core.train import warmup

            warmup()
        except Exception:  # noqa: BLE001 - a failed warm-up only costs speed, never the page
            pass

    # Not a daemon: the interpreter waits for it (about a second) at exit instead of killing it
    # inside torch's C++, which aborts the process ("terminate called without an active exception").
    threading.Thread(target=work, name="lab-warmup", daemon=False).start()


def run() -> None:
    from dashboard import text
    from dashboard.views import common

    seminar = common.is_seminar()
    st.set_page_config(page_title="ReLU–Dropout Lab", page_icon="🧪", layout="wide",
                       initial_sidebar_state="collapsed" if seminar else "expanded")
    start_warmup()
    st.html(text.PAGE_CSS + (text.SEMINAR_CSS if seminar else ""))
    pages = [
        st.Page("views/lab_page.py", title="Lab", icon=":material/science:", url_path="lab", default=True),
        st.Page("views/history_page.py", title="History", icon=":material/history:", url_path="history"),
        st.Page("views/about_page.py", title="About", icon=":material/menu_book:", url_path="about"),
    ]
    st.navigation(pages, position="top").run()


def _in_streamlit() -> bool:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return get_script_run_ctx(suppress_warning=True) is not None


if _in_streamlit():  # `import dashboard.app` (tests, tools) must not build a page
    run()
