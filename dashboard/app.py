"""ReLU–Dropout Lab: the Streamlit entry point (`streamlit run dashboard/app.py` from the repo root).

Thin on purpose: page setup, the server's one-time start-up (dashboard/hosted.py) and navigation.
Pages live in dashboard/views, charts in dashboard/charts (the table of them in its __init__.py),
settings and URL in dashboard/controls.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402


def run() -> None:
    from dashboard import hosted, text
    from dashboard.views import common

    seminar = common.is_seminar()
    # "auto": open beside the page on a laptop, closed on a phone, where it would cover the page.
    st.set_page_config(page_title="ReLU–Dropout Lab", page_icon="🧪", layout="wide",
                       initial_sidebar_state="collapsed" if seminar else "auto")
    hosted.start_server()  # process settings and the engine's warm-up, once per process
    st.html(text.PAGE_CSS + (text.SEMINAR_CSS if seminar else ""))
    pages = [
        st.Page("views/lab_page.py", title="Lab", icon=":material/science:", url_path="lab", default=True),
        st.Page("views/sweep_page.py", title="Sweep", icon=":material/stacked_line_chart:", url_path="sweep"),
        st.Page("views/history_page.py", title="History", icon=":material/history:", url_path="history"),
        st.Page("views/about_page.py", title="About", icon=":material/menu_book:", url_path="about"),
    ]
    st.navigation(pages, position="top").run()


def _in_streamlit() -> bool:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return get_script_run_ctx(suppress_warning=True) is not None


if _in_streamlit():  # `import dashboard.app` (tests, tools) must not build a page
    from dashboard.st_workarounds import create_layout_stack

    create_layout_stack()  # before any element: the first sessions of a fresh server race on it
    run()
