"""Asking before a big run (dashboard/views/confirm.py) and stopping cleanly, through AppTest:
the huge link of issue 13 trains nothing, a run over the local budget trains once confirmed,
Streamlit's own stop ends the run at once and leaves its partial result for the next run."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import serve
from dashboard import state
from dashboard.controls import spec_from_query
from dashboard.views import confirm
from dashboard.views.common import host_stops

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
HUGE = {"width": "1024", "depth": "20", "epochs": "5000", "seeds": "64", "n_samples": "20000"}


def _app(query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update(query)
    return at.run()


def _texts(els) -> str:
    return " ".join(e.value for e in els).replace("\\", "")


def test_the_huge_link_shows_its_estimate_and_trains_nothing(count_trainings, monkeypatch, tmp_path):
    for var in serve.ENV_VARS:  # local mode with its default budget, whatever the shell says
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RELU_LAB_STORE", str(tmp_path / "runs.db"))
    at = _app(HUGE)
    assert not at.exception, [e.value for e in at.exception]
    assert any(confirm.TITLE in m.value for m in at.markdown)
    assert "Nothing is trained until you confirm" not in _texts(at.markdown)  # it could not be, anyway:
    refusal = _texts(at.error)
    assert "cannot be trained on this machine, confirmed or not" in refusal and "GB of memory" in refusal
    assert "confirm_train" not in [b.key for b in at.button]  # no button that could start it
    assert count_trainings == [] and at.session_state[state.STORE].current() is None


def test_a_run_over_the_local_budget_trains_once_confirmed(count_trainings, monkeypatch, tmp_path):
    monkeypatch.setenv("RELU_LAB_STORE", str(tmp_path / "runs.db"))  # a stored copy would be served unasked
    monkeypatch.delenv("RELU_LAB_HOSTED", raising=False)
    monkeypatch.setenv("RELU_LAB_MAX_WORK", "1000")  # the same variable as hosted sets the local budget
    at = _app({"epochs": "2", "seeds": "1"})
    assert not at.exception, [e.value for e in at.exception]
    shown = _texts(at.markdown)
    assert confirm.TITLE in shown and "Nothing is trained until you confirm" in shown
    assert count_trainings == [] and at.session_state[state.STORE].current() is None
    at.button(key="confirm_train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(count_trainings) == 1 and at.session_state[state.STORE].current().exp.status == "ok"
    assert confirm.TITLE not in _texts(at.markdown)
    at.run()  # a rerun of the confirmed experiment does not ask again, nor train again
    assert confirm.TITLE not in _texts(at.markdown) and len(count_trainings) == 1


def test_streamlits_stop_ends_the_run_at_once_and_keeps_its_partial_result():
    """Streamlit's header Stop raises its StopException in the script thread: the run stops at
    once (nothing left for stop_unwatched to stop), and the next run of the page shows what was
    measured, marked stopped, instead of training again."""
    stops = host_stops()
    assert stops, "Streamlit's StopException moved: host_stops() must find it again"
    query = {"epochs": "3000", "seeds": "1"}
    spec, _ = spec_from_query(query)
    store = state.Store()

    def on_epoch(exp, vi, epoch):
        if epoch >= 3:
            raise stops[0]()

    with pytest.raises(stops[0]):
        state.train_spec(store, spec, on_epoch=on_epoch, stop_on=stops)
    from core.store import open_run_store

    assert not serve.stop_unwatched(spec.base, spec.variant_dict(), store=open_run_store())  # stopped already
    entry = store.current()
    assert entry is not None and entry.stopped and 4 <= entry.exp.runs[0].epochs_done < 3001

    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state[state.STORE] = store
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(store.entries) == 1 and any("Stopped early" in i.value for i in at.info)
