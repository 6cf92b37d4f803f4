"""What the tests that drive a page through Streamlit's AppTest share: open a page with a link's
query, check that it ran without an exception, and read the text of its elements."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")


def open_page(path: str, query: dict[str, str], timeout: float) -> AppTest:
    """The page (a script under dashboard/) opened with `query` as its link, after its first run;
    `timeout` bounds each script run."""
    at = AppTest.from_file(path, default_timeout=timeout)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def text(elements) -> str:
    """The elements' text in one string, markdown escapes dropped."""
    return " ".join(e.value for e in elements).replace("\\", "")
