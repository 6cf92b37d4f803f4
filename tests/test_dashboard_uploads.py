"""Private uploads on the hosted page (AppTest): another session's file is not usable by its
link unless shared, runs on it are stored private and never listed for others, the upload
widget says who can see the data, exports name the file and not the server's folder."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import serve
from core.csvdata import example_csv
from core.serve.uploads import PRIVATE, Uploads
from core.store import RunStore
from dashboard import controls, state

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TINY = {"epochs": "2", "seeds": "1", "preset": "none"}


@pytest.fixture
def hosted(tmp_path, monkeypatch):
    """A hosted server with its own store and upload folder; torch's thread cap undone after."""
    from core.serve.process import current_settings, restore_process_settings

    for var in serve.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RELU_LAB_HOSTED", "1")
    monkeypatch.setenv("RELU_LAB_STORE", str(tmp_path / "runs.db"))
    monkeypatch.setattr(controls, "UPLOAD_DIR", str(tmp_path / "uploads"))
    saved = current_settings()
    yield Uploads(tmp_path / "uploads", ttl_h=24), RunStore(tmp_path / "runs.db")
    restore_process_settings(saved)


def _app(query: dict[str, str], page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _text(elements) -> str:
    return " ".join(e.value for e in elements).replace("\\", "")


def test_another_sessions_upload_is_not_usable_by_its_link_unless_shared(hosted):
    uploads, store = hosted
    digest, path = uploads.save(example_csv().encode(), owner="someone else")
    link = {**TINY, "dataset": "csv", "data": digest}
    at = _app(link)
    warn = _text(at.warning)
    assert "is not an uploaded file on this server that you can use" in warn, warn
    # in the upload widget's words (a browser tab, Share by link), not the server's ("session")
    assert "the browser tab that uploaded it" in warn and "Share by link" in warn and "session" not in warn
    entry = at.session_state[state.STORE].current()
    assert entry.exp.base.dataset == "moons" and entry.exp.base.data_path == ""  # not trained on their file
    assert any("Only you (this browser tab) can see your file" in c.value for c in at.caption)

    uploads.set_shared(digest, "someone else", True)  # the owner ticks "Share by link"
    at = _app(link)
    entry = at.session_state[state.STORE].current()
    assert entry.exp.base.dataset == "csv" and entry.exp.status == "ok"
    [row] = [r for r in store.list() if r.get("upload")]  # private: its trainer's and the file's owners'
    assert len(store.list()) == 2 and row["visibility"] == PRIVATE and row["upload"] == [digest] and row["owner"]
    exported = json.dumps(entry.exp.export())
    assert str(Path(path).parent) not in exported and f'"data_path": "{digest}.csv"' in exported


def test_history_lists_runs_on_uploads_to_their_owners_only(hosted, tiny_experiment):
    uploads, store = hosted
    digest, _ = uploads.save(example_csv().encode(), owner="someone else")
    doc = tiny_experiment.to_dict()
    store.put("a" * 32, doc, {"title": "their upload", "status": "ok", "visibility": PRIVATE,
                              "owner": "someone else", "upload": [digest]})
    store.put("b" * 32, doc, {"title": "moons for everyone", "status": "ok"})
    at = _app(TINY, "views/history_page.py")  # this session trains one run, stored publicly
    listed = at.dataframe[-1].value
    assert sorted(listed["title"]) == ["Your experiment", "moons for everyone"]
    assert "a" * 32 not in at.selectbox(key="stored_pick").options
    from dashboard.views import history  # nor reopened by its key, should a client send one

    assert history.reopen(store, "a" * 32) == "That run is no longer in the store (or cannot be read)."
