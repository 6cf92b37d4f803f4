"""The first screen (dashboard/views/firstscreen.py) through streamlit.testing: the verdict
strip's numbers, the replay slider, seminar mode's Run live, and no stage for digits."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from apptest_helpers import stopped_entry
from streamlit.testing.v1 import AppTest

from core.replay import replay_epochs
from core.verdict import VERDICT_CLAIM, verdict
from dashboard import state
from dashboard.views import firstscreen
from dashboard.views.common import md_escape

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


def _app(query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _arr(v) -> np.ndarray:
    """A plotly array from a figure's JSON: a list, or typed-array form {dtype, bdata, shape}."""
    if isinstance(v, dict) and "bdata" in v:
        import base64
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        return a.reshape([int(n) for n in str(v.get("shape", len(a))).split(",")])
    return np.asarray(v if v is not None else [], dtype=float)


def _titled(at: AppTest, start: str) -> dict:
    return next(f for f in _figures(at) if f["layout"]["title"]["text"].startswith(start))


@pytest.fixture(scope="module")
def page():
    at = _app({"epochs": "12", "seeds": "2"})
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_strip_shows_this_runs_numbers_with_their_spread(page):
    exp = page.session_state[state.STORE].current().exp
    s = verdict(exp)
    text = " ".join(m.value for m in page.markdown)
    for f in (s.agreement_relu, s.agreement_dropout, s.gap_relu, s.gap_dropout, s.acc_relu, s.acc_linear):
        assert f"**{f.mean:.3f}** :gray[± {f.spread:.3f}]" in text
    assert "Same zeros on two training passes?" in text


def test_the_first_chart_is_the_stage_and_the_network_shows_the_dropout_variant(page):
    figs = _figures(page)
    assert figs[0]["layout"]["title"]["text"].startswith("Boundaries, seed #1")
    assert "epoch 12/12" in figs[0]["layout"]["title"]["text"]
    assert "ReLU + dropout 0.5" in _titled(page, "The network unit by unit")["layout"]["title"]["text"].replace("<br>", " ")


def test_the_replay_slider_cuts_the_curves_and_shows_that_epochs_pictures(page):
    exp = page.session_state[state.STORE].current().exp
    epochs = replay_epochs(exp)
    mid = epochs[len(epochs) // 2]
    assert 0 < mid < 12
    entry = page.session_state[state.STORE].current()
    page.select_slider(key=f"replay_epoch_{entry.id}").set_value(mid).run()
    assert not page.exception
    stage = _titled(page, "Boundaries, seed #1")
    assert f"epoch {mid}/12" in stage["layout"]["title"]["text"] and "seed #1" in stage["layout"]["title"]["text"]
    heat = next(t for t in stage["data"] if t["type"] == "heatmap")
    assert _arr(heat["z"]).shape == (24, 24)  # a snapshot's grid, not the final 80x80
    curves = _titled(page, "Learning curves")
    xs = np.concatenate([_arr(t.get("x")).astype(float).ravel() for t in curves["data"]])
    xs = xs[np.isfinite(xs)]
    assert len(xs) and xs.max() == mid  # curves cut at the chosen epoch
    # back to the end: the finished run's own pictures
    page.select_slider(key=f"replay_epoch_{entry.id}").set_value(12).run()
    heat = next(t for t in _titled(page, "Boundaries, seed #1")["data"] if t["type"] == "heatmap")
    assert _arr(heat["z"]).shape == (80, 80)


def test_seminar_run_live_trains_the_experiment_again_locally():
    at = _app({"mode": "seminar", "epochs": "3", "seeds": "1"})
    assert not at.exception
    before = at.session_state[state.STORE].current()
    at.button(key="run_live").click().run()
    assert not at.exception
    after = at.session_state[state.STORE].current()
    assert after.id != before.id and not after.from_store  # trained again, not served from the store
    assert after.spec.key() == before.spec.key()


def test_seminar_run_live_on_a_hosted_server_replays(monkeypatch):
    at = _app({"mode": "seminar", "epochs": "3", "seeds": "1"})
    calls = []
    monkeypatch.setattr(firstscreen, "_pause", lambda: calls.append(1))
    # the flag Run live sets on a hosted server (firstscreen._run_live): the stage plays every snapshot once
    at.session_state[firstscreen.AUTOPLAY] = True
    at.run()
    assert not at.exception
    assert len(calls) == len(replay_epochs(at.session_state[state.STORE].current().exp))


def test_digits_have_no_stage():
    at = _app({"preset": "digits-cnn", "epochs": "1", "seeds": "1", "n_samples": "200", "width": "4"})
    assert not at.exception
    exp = at.session_state[state.STORE].current().exp
    assert not firstscreen.has_stage(exp)
    assert not any(f["layout"]["title"]["text"].startswith("Decision boundary of each") for f in _figures(at))


_VERDICT_WORDS = "dropout's are redrawn"  # a part of VERDICT_CLAIM.text that markdown escaping leaves alone
assert _VERDICT_WORDS in VERDICT_CLAIM.text


def _markdown(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def test_the_strip_names_each_number_by_its_variant_and_draws_only_complete_pairs():
    # tiny-data-overfit: ReLU without dropout is "plain", with dropout "dropout 0.5"; no linear
    # variant, so the accuracy box (linear against ReLU) has nothing to compare and is left out.
    at = _app({"preset": "tiny-data-overfit", "epochs": "3", "seeds": "2"})
    assert not at.exception, [e.value for e in at.exception]
    s = verdict(at.session_state[state.STORE].current().exp)
    assert s.acc_linear is None and s.gap_relu.variant == "plain" and s.gap_dropout.variant == "dropout 0.5"
    text = _markdown(at)
    assert f"plain **{s.gap_relu.mean:.3f}** :gray[± {s.gap_relu.spread:.3f}]" in text
    # names go through markdown escaped ("0\\.5"), as every user-given text does
    assert f"{md_escape('dropout 0.5')} **{s.gap_dropout.mean:.3f}** :gray[± {s.gap_dropout.spread:.3f}]" in text
    assert "Does dropout narrow the gap?" in text
    assert "What bends the boundary?" not in text and "not in this run" not in text
    assert any(c.value == "Last epoch, mean ± std over 2 seeds." for c in at.caption)


def test_a_run_without_the_three_pairs_gets_no_strip_and_no_verdict_sentence():
    # dying-relu compares learning rates: no dropout, no linear variant. A "not borne out" verdict
    # there would answer a question the run never asked.
    at = _app({"preset": "dying-relu", "epochs": "2", "seeds": "1"})
    assert not at.exception, [e.value for e in at.exception]
    s = verdict(at.session_state[state.STORE].current().exp)
    assert s.agreement_dropout is None and s.acc_linear is None and s.agreement_relu is not None
    assert "Same zeros on two training passes?" not in _markdown(at)
    assert not any(_VERDICT_WORDS in c.value for c in at.caption)


def test_the_verdict_sentence_stays_on_the_default_preset(page):
    exp = page.session_state[state.STORE].current().exp
    assert all(f is not None for f in firstscreen._figures(verdict(exp)))
    assert any(_VERDICT_WORDS in c.value for c in page.caption)


def _stopped_page(entry) -> tuple[AppTest, state.Store]:
    """The Lab opened on a session holding only `entry` (apptest_helpers.stopped_entry: the
    default comparison, 600 epochs, 2 seeds), as after the Stop's rerun."""
    store = state.Store()
    store.add(entry.spec, entry.exp)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[state.STORE] = store
    at.query_params.update({"epochs": "600", "seeds": "2"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at, store


def test_a_stopped_run_draws_the_pictures_of_its_last_snapshot_and_says_which_epoch():
    # Stopped as the page's Stop stops it (tests/test_dashboard_state.py): before, every boundary
    # panel said "no picture yet", the raster was blank and the boundary claim read "(KeyError)".
    at, store = _stopped_page(stopped_entry())
    assert len(store.entries) == 1  # shown, not trained again
    shown = {r.artifacts["shown_epoch"] for r in store.current().exp.runs}
    last = max(r.last_epoch for r in store.current().exp.runs)
    assert len(shown) == 1 and next(iter(shown)) <= last
    (e,) = shown
    for start in ("Boundaries, seed #1", "Decision boundary", "On/off pattern"):
        fig = _titled(at, start)
        annotations = " ".join(a.get("text", "") for a in fig["layout"].get("annotations", []))
        assert "no picture" not in annotations, start
        assert sum(t["type"] == "heatmap" for t in fig["data"]) >= 4, start  # every variant drawn
        assert fig["layout"]["title"]["text"].count("<br>") <= 1, start  # a third line sat on the panels
    stage_title = _titled(at, "Boundaries, seed #1")["layout"]["title"]["text"].replace("<br>", " ")
    assert f"epoch {last}/600" in stage_title and (e == last or f"pictures: epoch {e}" in stage_title)
    lower = _titled(at, "Decision boundary")["layout"]["title"]["text"].replace("<br>", " ")
    assert f"(seed #1, epoch {e})" in lower
    assert not any("KeyError" in str(i.value) for i in at.info)


def test_a_run_stopped_on_the_page_shows_its_pictures_of_the_last_measured_epoch():
    """The page's Stop as its rerun does it (stop_and_collect): the entry holds the run as it
    ended, so every picture is of the epoch the curves end at, with the data points drawn."""
    entry = stopped_entry(collect=True)
    assert all("shown_epoch" not in r.artifacts and "boundary" in r.artifacts for r in entry.exp.runs)
    at, store = _stopped_page(entry)
    last = {r.last_epoch for r in store.current().exp.runs}
    assert len(last) == 1  # the variants, trained as one network, stopped at one epoch
    (e,) = last
    stage = _titled(at, "Boundaries, seed #1")
    assert f"epoch {e}/600" in stage["layout"]["title"]["text"] and "pictures: epoch" not in stage["layout"]["title"]["text"]
    lower = _titled(at, "Decision boundary")
    assert "the last picture before the stop" not in lower["layout"]["title"]["text"]
    assert sum(t["type"] == "heatmap" for t in lower["data"]) == 4  # every variant drawn
    assert any(t["type"].startswith("scatter") and len(t.get("x") or []) for t in lower["data"])  # with its points
