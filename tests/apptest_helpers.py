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


class _Interrupt(BaseException):  # like Streamlit's stop/rerun exception: not an Exception
    pass


def stopped_entry(epochs: int = 600, at: int = 30, collect: bool = False):
    """The default comparison stopped as the page's Stop stops it: an exception in the epoch
    callback, so train_spec keeps the latest snapshot (core.serve.snapshot), which has no final
    pictures; then the job is stopped as the page's next rerun stops it (stop_and_collect), and
    with collect the entry holds the run as it ended, its pictures drawn."""
    import pytest

    from core import serve
    from core.store import open_run_store
    from dashboard import state
    from dashboard.controls import spec_from_query

    spec, _ = spec_from_query({"epochs": str(epochs), "seeds": "2"})
    store, runs = state.Store(), open_run_store()

    def on_epoch(exp, vi, epoch):
        if epoch >= at:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        state.train_spec(store, spec, on_epoch=on_epoch, runs=runs)
    # Stopped and waited for: its thread ends here, not during the tests that follow.
    ended = serve.stop_and_collect(spec.base, spec.variant_dict(), store=runs, wait_s=60.0)
    assert ended is not None
    return store.finish(spec, ended) if collect else store.current()
