"""The page on the serving engine, core.serve (AppTest): the run store, hosted limits, divergence, History.

Each test points RELU_LAB_STORE at its own file before the app builds its store: the page's
st.cache_resource objects are keyed by the store path and the limit variables, so a new path
or a new environment gets a new object, not the previous test's.
"""
from __future__ import annotations

import pytest
from apptest_helpers import APP, open_page
from apptest_helpers import no_exception as _no_exception
from apptest_helpers import text as _text
from streamlit.testing.v1 import AppTest

from core import serve
from core.store import RunStore
from dashboard import charts, state
from dashboard.views import firstscreen

# the TINY experiment trains on 2-D points: the charts' table and the first screen's stage
ALL_CHARTS = len(charts.charts_for("2d")) + firstscreen.STAGE_CHARTS

TINY = {"epochs": "3", "seeds": "1"}
LIMIT_VARS = serve.ENV_VARS


@pytest.fixture
def store_path(tmp_path, monkeypatch):
    path = tmp_path / "runs.db"
    monkeypatch.setenv("RELU_LAB_STORE", str(path))
    for var in LIMIT_VARS:
        monkeypatch.delenv(var, raising=False)
    return path


@pytest.fixture
def keep_threads():
    """A hosted server caps torch threads process-wide (core.serve.apply_process_settings, at its
    start): if this test's app is the first of the process, undo it afterwards."""
    from core.serve.process import current_settings, restore_process_settings

    saved = current_settings()
    yield
    restore_process_settings(saved)


def _app(query: dict[str, str]) -> AppTest:
    return open_page(APP, query, 90)


def _entry(at: AppTest) -> state.Entry:
    return at.session_state[state.STORE].current()


def test_identical_request_is_served_from_the_store(store_path, monkeypatch):
    first = _app(TINY)
    _no_exception(first)
    assert not _entry(first).from_store
    assert len(RunStore(store_path).list()) == 1

    import core.train as train

    def no_training(*a, **k):
        raise AssertionError("trained again although the experiment is in the store")

    monkeypatch.setattr(train, "run_experiment", no_training)
    second = _app(TINY)  # another visitor, same link
    _no_exception(second)
    assert _entry(second).from_store
    assert "Served from the store" in _text(second.info)
    assert len(second.get("plotly_chart")) == ALL_CHARTS
    assert not second.error
    # Train on unchanged settings: served from the store too (the help text says so).
    second.button(key="train_top").click().run()
    _no_exception(second)
    assert _entry(second).from_store and len(second.session_state[state.STORE].entries) == 2


def test_train_again_retrains_locally(store_path):
    at = _app(TINY)
    at.checkbox(key="f_retrain").check()
    at.button(key="train_top").click().run()
    _no_exception(at)
    entry = _entry(at)
    assert not entry.from_store and entry.exp.status == "ok"
    assert len(RunStore(store_path).list()) == 1  # replaced, not duplicated


def test_hosted_budget_error_names_what_to_reduce(store_path, monkeypatch, keep_threads):
    monkeypatch.setenv("RELU_LAB_HOSTED", "1")
    monkeypatch.setenv("RELU_LAB_MAX_WORK", "1000")
    at = _app(TINY)
    _no_exception(at)
    assert len(at.error) == 1
    err = _text(at.error)
    assert "Not trained" in err and "Reduce" in err and "1000" in err, err
    assert "Traceback" not in err
    assert not at.get("plotly_chart")
    assert at.checkbox(key="f_retrain").disabled  # no forced retraining in the hosted demo
    assert any("Hosted demo" in c.value for c in at.caption)  # the limits, in the sidebar
    assert RunStore(store_path).list() == []


def test_diverging_run_says_where_the_curve_stops(store_path):
    at = _app({"preset": "none", "optimizer": "sgd", "lr": "10", "depth": "3", "init": "he", "epochs": "5"})
    _no_exception(at)
    assert not at.error
    warn = _text(at.warning)
    assert "diverged" in warn and "curves stop there" in warn and "learning rate below 10" in warn, warn
    assert _entry(at).exp.status == "diverged"
    assert [r["status"] for r in RunStore(store_path).list()] == ["diverged"]  # a result: kept


def _damaged_store(path) -> None:
    """Our own store of 20 runs, one page of run k07's document overwritten."""
    import random
    import sqlite3

    s = RunStore(path)
    for i in range(20):
        s.put(f"k{i:02d}", {"blob": random.Random(i).randbytes(60_000 if i == 7 else 500).hex()}, {"title": f"{i}"})
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = con.execute("SELECT pageno FROM dbstat WHERE name = 'runs' AND pagetype = 'overflow'").fetchall()[3][0]
    con.close()
    data = bytearray(path.read_bytes())
    data[(page - 1) * 4096:page * 4096] = random.Random(0).randbytes(4096)
    path.write_bytes(bytes(data))


def test_a_damaged_store_is_salvaged_and_said_once_to_one_session(store_path):
    _damaged_store(store_path)
    at = _app(TINY)
    _no_exception(at)
    warn = _text(at.warning)
    assert "was damaged: kept 19 of 20 runs" in warn and "runs.db.corrupt-" in warn, warn
    assert len(at.get("plotly_chart")) == ALL_CHARTS
    assert list(store_path.parent.glob("runs.db.corrupt-*"))
    at.button(key="train_top").click().run()  # shown once per session, not on every rerun
    _no_exception(at)
    assert "damaged" not in _text(at.warning)
    other = _app(TINY)  # another visitor: not told what the first one met
    _no_exception(other)
    assert "damaged" not in _text(other.warning)


def test_a_file_that_is_not_a_store_stops_the_page_untouched(store_path):
    store_path.write_text("lab-host\n")  # e.g. RELU_LAB_STORE=/etc/hostname by mistake
    at = _app(TINY)
    _no_exception(at)
    err = _text(at.error)
    assert "misconfigured" in err and "not a run store" in err and str(store_path) in err, err
    assert store_path.read_text() == "lab-host\n" and sorted(p.name for p in store_path.parent.iterdir()) == ["runs.db"]


@pytest.mark.parametrize("when", ["at start", "while it runs"])
def test_a_read_only_store_serves_stored_runs_and_says_so_once(store_path, read_only, monkeypatch, when):
    """The reproduction: a read-only store folder made the page say "misconfigured" even for
    stored runs. The folder is read-only when the server opens the store, or becomes so later."""
    if when == "at start":  # trained into another store, then served from a read-only copy
        import shutil

        trained = store_path.with_name("trained.db")
        monkeypatch.setenv("RELU_LAB_STORE", str(trained))
        _no_exception(_app(TINY))
        store_path = store_path.parent / "ro" / "runs.db"
        store_path.parent.mkdir()
        RunStore(trained)  # opened and closed: everything is in the main file
        shutil.copy(trained, store_path)
        monkeypatch.setenv("RELU_LAB_STORE", str(store_path))
    else:
        _no_exception(_app(TINY))
    read_only(store_path.parent)

    def no_training(*a, **k):
        raise AssertionError("trained again although the experiment is in the store")
    monkeypatch.setattr("core.train.run_experiment", no_training)
    said = "is read-only: stored runs are served, new ones are not kept"
    at = _app(TINY)
    _no_exception(at)
    assert "misconfigured" not in _text(at.error) and _entry(at).from_store
    assert len(at.get("plotly_chart")) == ALL_CHARTS
    shown = [_text(at.warning).count(said)]
    for _ in range(2):
        at.button(key="train_top").click().run()
        _no_exception(at)
        assert _entry(at).from_store
        shown.append(_text(at.warning).count(said))
    # Once per session: at once if the server opened it read-only; found out while serving, the
    # next page of the session says it.
    assert shown == ([1, 0, 0] if when == "at start" else [0, 1, 0])
    assert sorted(p.name for p in store_path.parent.iterdir()) == ["runs.db"]


def test_history_lists_stored_runs_and_reopens_one(store_path):
    at = _app({**TINY, "preset": "dying-relu"})
    _no_exception(at)
    at = _app(TINY)  # a new session: its own history is one run, the store holds two
    at.switch_page("views/history_page.py").run()
    _no_exception(at)
    stored = at.dataframe[-1].value  # the stored-runs table comes after the session history
    assert len(stored) == 2 and set(stored["status"]) == {"ok"}
    pick = at.selectbox(key="stored_pick")
    pick.select_index(next(i for i, o in enumerate(pick.options) if o.startswith("Dying ReLU"))).run()
    at.button(key="open_stored").click().run()
    _no_exception(at)
    entry = _entry(at)
    assert entry.from_store and entry.exp.runs[0].config.optimizer == "adam"
    assert entry.spec.preset == "dying-relu" and not entry.spec.matches_preset()  # epochs=3, not 60
    assert at.title[0].value.startswith("Dying ReLU")
    assert "Reopened from the store" in _text(at.info)
    assert len(at.get("plotly_chart")) == ALL_CHARTS


def test_hosted_store_messages_do_not_show_the_server_folder(store_path, monkeypatch, keep_threads):
    monkeypatch.setenv("RELU_LAB_HOSTED", "1")
    _damaged_store(store_path)
    at = _app(TINY)
    _no_exception(at)
    warn = _text(at.warning)
    assert "was damaged" in warn and "runs.db" in warn, warn
    assert str(store_path.resolve().parent) not in warn and str(store_path.parent) not in warn
    foreign = store_path.with_name("hostname")
    foreign.write_text("lab-host\n")
    monkeypatch.setenv("RELU_LAB_STORE", str(foreign))
    at = _app(TINY)
    err = _text(at.error)
    assert "not a run store" in err and "hostname" in err and str(store_path.parent) not in err, err


def test_server_start_up_runs_once_per_process(store_path, monkeypatch, keep_threads):
    """Process settings and the warm-up happen once, at the first page, not on every rerun
    (Streamlit runs app.py afresh each time) and not from inside a getter."""
    import threading

    import torch

    import core.train as train
    from dashboard import hosted

    warmed = []
    monkeypatch.setattr(train, "warmup", lambda: warmed.append(threading.current_thread().name))
    monkeypatch.setattr(hosted, "_started", False)  # as in a fresh server process
    monkeypatch.setenv("RELU_LAB_HOSTED", "1")
    torch.set_num_threads(2)
    at = _app(TINY)
    at.button(key="train_top").click().run()
    at.run()
    _no_exception(at)
    for t in threading.enumerate():
        if t.name == "lab-warmup":
            t.join(30)
    assert warmed == ["lab-warmup"]
    seen = []  # the hosted thread cap, applied at start: a new thread (a training's) starts with it
    t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    t.start()
    t.join(30)
    assert seen == [1]


def test_the_visitor_is_the_browser_whatever_mask_its_cookie_carries():
    from dashboard.hosted import xsrf_token

    token = bytes(range(7, 23))

    def cookie(mask: bytes) -> str:
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(token))
        return f"2|{mask.hex()}|{masked.hex()}|1700000000"

    assert xsrf_token(cookie(b"\x01\x02\x03\x04")) == token == xsrf_token(cookie(b"\xff\x00\xaa\x55"))
    for bad in (None, "", "2|zz|00|1", "1|abc", "2|0102|0a0b|1", "2|01020304||1", "garbage"):
        assert xsrf_token(bad) is None


def test_the_page_trains_and_serves_on_a_postgresql_store(store_path, postgres_url, monkeypatch):
    """RELU_LAB_STORE=postgresql://…: the page opens its store, its cache of stored runs and its
    line from the URL (no file path: #14's stack test waited for charts behind a ValueError)."""
    from core.store import open_run_store

    monkeypatch.setenv("RELU_LAB_STORE", postgres_url)
    query = {**TINY, "seed": "9141"}  # an experiment of this test's own in the session's database
    first = _app(query)
    _no_exception(first)
    assert not first.error, [e.value for e in first.error]
    assert not _entry(first).from_store and len(first.get("plotly_chart")) == ALL_CHARTS
    store = open_run_store(postgres_url)
    try:
        assert [r["seconds"] for r in store.list()].count(round(_entry(first).exp.seconds, 3)) == 1
    finally:
        store.close()
    second = _app(query)  # another visitor: served from the shared store
    _no_exception(second)
    assert _entry(second).from_store and "Served from the store" in _text(second.info)
    assert len(second.get("plotly_chart")) == ALL_CHARTS


def test_about_says_who_sees_runs_and_uploads_on_a_hosted_demo(store_path, monkeypatch, keep_threads):
    """About said "Every finished experiment is ... served at once to anyone who asks" on the hosted
    demo too, where an upload's runs are its browser tab's only (README, Hosting)."""
    monkeypatch.setenv("RELU_LAB_HOSTED", "1")
    at = open_page(APP, TINY, 60)
    at.switch_page("views/about_page.py").run()
    _no_exception(at)
    said = _text(at.caption)
    assert "on the built-in data sets is kept" in said and "listed in everyone's History" in said
    assert "seen only in the browser tab that uploaded it" in said and "deleted 24 h after the upload" in said
    assert "at most 512 MB" in said
    assert "Share by link" in " ".join(m.value for m in at.markdown)  # Sharing a link: an upload's link


def test_about_locally_says_every_run_is_served_to_anyone(store_path):
    at = open_page(APP, TINY, 60)
    at.switch_page("views/about_page.py").run()
    _no_exception(at)
    said = _text(at.caption)
    assert "Every finished experiment is kept" in said and "browser tab" not in said
