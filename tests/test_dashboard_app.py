"""The page through streamlit.testing (AppTest): presets, links, bad links, Stop, seminar, history."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import validate
from core.presets import PRESETS
from dashboard import charts, controls, state
from dashboard.controls import Spec, spec_from_query, spec_to_query
from dashboard.views import firstscreen

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TINY = {"epochs": "2", "seeds": "1"}


def _app(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at.run()


def _charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def _all_charts_drawn(at: AppTest) -> None:
    """The page draws every chart of the registry that applies to its current experiment."""
    exp = _store(at).current().exp
    want = [c.name for c in charts.shown(exp)]
    stage = firstscreen.STAGE_CHARTS if firstscreen.has_stage(exp) else 0  # the first screen's (its own tests)
    assert want and _charts(at) == len(want) + stage, (_charts(at), want, stage)


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _warnings(at: AppTest) -> str:
    return " ".join(w.value for w in at.warning).replace("\\", "")  # drop markdown escapes


def _store(at: AppTest) -> state.Store:
    return at.session_state[state.STORE]


def test_first_load_trains_the_default_preset():
    at = _app()
    _no_exception(at)
    assert at.title[0].value == PRESETS["relu-vs-dropout"].title
    _all_charts_drawn(at)
    store = _store(at)
    assert [r.name for r in store.current().exp.runs] == list(PRESETS["relu-vs-dropout"].variants)
    assert store.current().exp.status == "ok"
    assert any("Short answer" in m.value for m in at.markdown)
    assert not at.warning
    assert dict(at.query_params) == {}  # the default needs no parameters


def _look_for(at: AppTest) -> str:
    """The "What to look for" box as shown (markdown escapes dropped)."""
    return next(i.value for i in at.info if "What to look for" in i.value).replace("\\", "")


@pytest.mark.parametrize("query", [{}, {"preset": "relu-vs-dropout", **TINY}])
def test_the_presets_claims_show_with_this_runs_evidence(query):
    """Each claim of the preset, checked on the run on screen: ✓ with its numbers where the run
    bears it out; where it does not (here: 2 epochs, 1 seed), said so, never stated as a fact."""
    at = _app(query)
    _no_exception(at)
    exp, shown = _store(at).current().exp, _look_for(at)
    verdicts = [(c, c.verdict(exp)) for c in PRESETS["relu-vs-dropout"].claims]
    for c, v in verdicts:
        if not v.checked:
            assert f"– Not checked on this run: {c.text}" in shown, (c.text, shown)
            continue
        assert v.evidence and f"({v.evidence})" in shown, (c.text, shown)
        assert (f"✓ {c.text}" in shown) == v.holds and (f"✗ Not borne out by this run: {c.text}" in shown) != v.holds
    assert all(v.holds for _, v in verdicts) == (query == {}), shown  # the preset as it is bears out every claim


def test_claims_a_link_leaves_no_variant_for_are_not_checked_rather_than_failed():
    """`?vA=...` alone replaces the preset's variants: its claims name variants the run does not
    have. The walk of 2026-11-30 saw each as "✗ Not borne out by this run ... (not measured in this
    run (StopIteration))": a Python exception's name, and a failure where nothing was measured."""
    at = _app({"vA": "lr 0.01|lr:0.01", **TINY})
    _no_exception(at)
    shown = _look_for(at)
    claims = PRESETS["relu-vs-dropout"].claims
    assert all(f"– Not checked on this run: {c.text}" in shown for c in claims), shown
    assert "StopIteration" not in shown and "Not borne out" not in shown


@pytest.mark.parametrize("preset", [p for p in PRESETS if p != "relu-vs-dropout"])
def test_every_preset_renders(preset):
    at = _app({"preset": preset, **TINY})
    _no_exception(at)
    assert not at.warning, [w.value for w in at.warning]
    _all_charts_drawn(at)
    exp = _store(at).current().exp
    assert [r.name for r in exp.runs] == list(PRESETS[preset].variants)
    assert all(r.epochs_done == 3 for r in exp.runs)


def test_bad_query_values_warn_and_fall_back():
    at = _app({"lr": "abc", "depth": "999", "activation": "foo", "vA": "garbage", "bogus": "1", **TINY})
    _no_exception(at)
    text = _warnings(at)
    for name, value in (("lr", "abc"), ("depth", "999"), ("activation", "foo"), ("vA", "garbage"), ("bogus", "")):
        assert name in text and value in text, (name, text)
    assert "allowed" in text
    base = _store(at).current().spec.base
    preset_base = validate(PRESETS["relu-vs-dropout"].base)
    assert (base.lr, base.depth, base.activation) == (preset_base.lr, preset_base.depth, preset_base.activation)
    # the rewritten link keeps the good parameters and drops the bad ones
    assert at.query_params.get("epochs") == "2"
    assert "lr" not in at.query_params and "vA" not in at.query_params
    _all_charts_drawn(at)


def test_cross_field_error_in_link_falls_back():
    at = _app({"model": "cnn", "batch_size": "15000", **TINY})  # cnn needs digits; batch too big
    _no_exception(at)
    text = _warnings(at)
    assert "model" in text and "batch_size" in text
    _all_charts_drawn(at)


def test_link_round_trips_settings_and_variants():
    q = {"preset": "none", "dataset": "circles", "n_samples": "200", "width": "16", "epochs": "2",
         "seeds": "2", "vA": "ReLU|activation:relu", "vB": "tanh + dropout|activation:tanh,dropout:0.25",
         "vC": "lr:0.003,batchnorm:true"}
    at = _app(q)
    _no_exception(at)
    assert not at.warning
    spec = _store(at).current().spec
    assert spec.base.dataset == "circles" and spec.base.width == 16
    assert spec.variant_dict() == {"ReLU": {"activation": "relu"},
                                   "tanh + dropout": {"activation": "tanh", "dropout": 0.25},
                                   "lr 0.003, batchnorm on": {"batchnorm": True, "lr": 0.003}}
    # URL written by the page -> the same settings when read back
    written = {k: v for k, v in at.query_params.items()}
    again, warnings = spec_from_query(written)
    assert not warnings and again == spec
    # and the widgets show them
    assert at.session_state["f_dataset"] == "circles"
    assert at.session_state["vB_dropout"] == 0.25


@pytest.mark.parametrize("spec", [
    controls.default_spec(),
    controls.preset_spec("tiny-data-overfit"),
    Spec.make(validate(lr=0.0003, weight_decay=1e-4, batchnorm=True, label_noise=0.1), {}, "none"),
    Spec.make(validate(dataset="digits", scaling="none", n_samples=600), {}, "none"),
    Spec.make(validate(PRESETS["dying-relu"].base), {"a/b": {"lr": 0.1}, "x,y:z": {"init": "xavier", "depth": 3}},
              "dying-relu"),
])
def test_spec_query_round_trip(spec):
    q = spec_to_query(spec, mode="seminar")
    back, warnings = spec_from_query(q)
    assert not warnings
    assert back == spec
    assert q.get("mode") == "seminar"


def test_digits_use_every_image_and_the_page_says_how_many():
    # n_samples 0 (the default) is the whole data set: the sidebar shows the number it stands
    # for (1797 digits, 1797 - round(0.3 * 1797) = 1258 of them for training). The scaling
    # widget and URL key come from the schema.
    at = _app({"preset": "none", "dataset": "digits", "scaling": "global", "epochs": "1", "seeds": "1",
               "width": "8"})
    _no_exception(at)
    assert not at.warning
    spec = _store(at).current().spec
    assert (spec.base.dataset, spec.base.n_samples, spec.base.scaling) == ("digits", 0, "global")
    assert at.session_state["f_scaling"] == "global"
    notes = [c.value for c in at.caption]
    assert "1,797 examples (n samples 0 = all of the data set): 1,258 for training, 539 for validation." in notes
    assert at.query_params.get("scaling") == "global" and "n_samples" not in at.query_params


def test_train_button_applies_form_and_writes_url():
    at = _app(TINY)
    n_before = len(_store(at).entries)
    at.session_state["f_dropout"] = 0.3  # as if the slider was dragged (nothing trains yet)
    at.run()
    assert len(_store(at).entries) == n_before
    at.button(key="train_top").click().run()
    _no_exception(at)
    assert len(_store(at).entries) == n_before + 1
    assert at.query_params.get("dropout") == "0.3"
    assert _store(at).current().spec.base.dropout == 0.3


def test_preset_picker_fills_settings_and_trains():
    at = _app(TINY)
    at.selectbox(key="preset_pick").set_value("dying-relu").run()
    _no_exception(at)
    spec = _store(at).current().spec
    want = PRESETS["dying-relu"].base["optimizer"]
    assert spec.preset == "dying-relu" and spec.base.optimizer == want
    assert at.session_state["f_optimizer"] == want
    assert at.query_params.get("preset") == "dying-relu"


def test_invalid_form_shows_error_not_traceback():
    at = _app(TINY)
    at.session_state["f_model"] = "cnn"  # cnn with moons is not allowed
    at.button(key="train_top").click().run()
    _no_exception(at)
    assert any("cnn" in e.value for e in at.error)


def test_stop_keeps_partial_results():
    """train_spec records what was measured when the run is interrupted (as Streamlit does with its
    stop/rerun exception), and the page then shows that partial run instead of training again.
    Training runs in run_guarded's worker thread and on_epoch sees it every 0.1 s, so the exact
    epoch of the interruption is not fixed. The four variants train as one model (core.groups):
    all of them stop at the same epoch."""

    class Interrupt(BaseException):  # like Streamlit's StopException: not an Exception
        pass

    query = {"epochs": "600", "seeds": "1"}
    spec, _ = spec_from_query(query)
    store = state.Store()

    def on_epoch(exp, vi, epoch):
        if epoch >= 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        state.train_spec(store, spec, on_epoch=on_epoch)
    entry = store.current()
    assert entry is not None and entry.stopped and store.wait_idle(0)
    runs = entry.exp.runs
    assert [r.status for r in runs] == ["stopped"] * 4
    assert len({r.epochs_done for r in runs}) == 1 and 4 <= runs[0].epochs_done < 601

    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state[state.STORE] = store
    at.query_params.update(query)
    at.run()
    _no_exception(at)
    assert len(store.entries) == 1  # not trained again
    assert any("Stopped early" in i.value for i in at.info)
    _all_charts_drawn(at)


def test_should_stop_flag_stops_cleanly():
    spec, _ = spec_from_query({"epochs": "3000", "seeds": "1"})
    store = state.Store()
    calls = []
    entry = state.train_spec(store, spec, should_stop=lambda: calls.append(1) or len(calls) > 3)
    assert entry.exp.runs[0].status == "stopped"
    assert all(r.status == "stopped" for r in entry.exp.runs[1:])
    assert any(n.code == "stopped-by-you" and n.text.startswith("Stopped at your request") for n in entry.notes), \
        entry.notes


def test_seminar_mode_renders():
    at = _app({"mode": "seminar", **TINY})
    _no_exception(at)
    labels = [b.label for b in at.button]
    assert all(p.title in labels for p in PRESETS.values())
    _all_charts_drawn(at)
    at.button(key="sem_linear-is-not-enough").click().run()
    _no_exception(at)
    assert _store(at).current().spec.preset == "linear-is-not-enough"
    assert at.query_params.get("mode") == "seminar"


def test_history_and_about_pages():
    at = _app(TINY)
    at.switch_page("views/history_page.py").run()
    _no_exception(at)
    assert at.title[0].value.startswith("History")
    assert len(at.dataframe) == 2  # this session's runs, then the stored runs
    at.switch_page("views/about_page.py").run()
    _no_exception(at)
    assert len(at.code) == 0  # "Sharing a link" is words for users, not the module's docstring
    from core.results import METRIC_HELP
    table = next(m.value for m in at.markdown if m.value.startswith("| metric | meaning |"))
    assert all(f"| `{name}` |" in table for name in METRIC_HELP)  # every metric, no scrolling box
    at.switch_page("views/lab_page.py").run()  # back to the Lab: the last run is shown, not retrained
    _no_exception(at)
    assert len(_store(at).entries) == 1
    _all_charts_drawn(at)


def test_history_is_capped():
    store = state.Store()
    spec = controls.default_spec()
    exp = state.stopped_placeholder(spec)
    for _ in range(state.HISTORY_CAP + 5):
        store.add(spec, exp)
    assert len(store.entries) == state.HISTORY_CAP
    assert store.current().id == state.HISTORY_CAP + 5


def test_uploaded_csv_is_found_by_hash(tmp_path, monkeypatch):
    from core.csvdata import example_csv
    from core.serve.uploads import Uploads

    monkeypatch.setattr(controls, "UPLOAD_DIR", str(tmp_path))
    digest, path = Uploads(controls.UPLOAD_DIR).save(example_csv().encode(), owner="someone")
    spec, warnings = spec_from_query({"dataset": "csv", "data": digest, "preset": "none"})
    assert not warnings and spec.base.data_path == path
    assert spec_to_query(spec)["data"] == digest
    spec, warnings = spec_from_query({"dataset": "csv", "data": "../../etc/passwd"})
    assert spec.base.dataset == "moons" and any("data" in w for w in warnings)


def test_a_bug_in_drawing_shows_one_line_not_a_traceback(monkeypatch, caplog):
    # Whatever goes wrong while drawing (here a chart builder that raises), the visitor sees one
    # line and the rest of the page; the traceback goes to the server log.
    import dataclasses

    def broken(*args, **kwargs):
        raise IndexError("tuple index out of range")

    mask = charts.CHARTS["mask-stability"]
    monkeypatch.setitem(charts.CHARTS, mask.name, dataclasses.replace(mask, build=broken))
    with caplog.at_level("ERROR", logger="relu_lab.page"):
        at = _app(TINY)
    _no_exception(at)
    assert any("Something went wrong" in e.value and "IndexError" in e.value for e in at.error)
    drawn_before = [c.name for c in charts.shown(_store(at).current().exp)].index(mask.name)
    drawn_before += firstscreen.STAGE_CHARTS  # the first screen comes before the charts' table
    assert drawn_before and _charts(at) == drawn_before  # what was drawn before the failure stays
    assert any("Traceback" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_history_cells_are_spreadsheet_safe_and_stored_runs_uniquely_labelled(tiny_experiment):
    """Streamlit's table download writes cells as shown: a name from an older stored run like
    '=HYPERLINK(…)' is written inert. Two stored runs of one title and minute are told apart."""
    import copy

    from dashboard.views import history

    exp = copy.deepcopy(tiny_experiment)
    exp.runs[0].name = '=HYPERLINK("https://evil.example/x","CLICK ME")'
    store = state.Store()
    store.add(controls.default_spec(), exp)
    rows = state.history_rows(store.entries)
    assert rows[0]["variant"] == "'" + exp.runs[0].name and rows[1]["variant"] == exp.runs[1].name
    assert isinstance(rows[0]["dropout"], float)  # numbers stay numbers

    same = {"title": "Your experiment", "status": "ok", "created": 1_700_000_000.0}
    a = history._label({**same, "key": "a" * 32, "variants": ["ReLU"]})
    b = history._label({**same, "key": "b" * 32, "variants": ["ReLU"]})
    c = history._label({**same, "created": 1_700_000_001.0, "key": "a" * 32, "variants": ["tanh"]})
    assert len({a, b, c}) == 3 and "ReLU" in a and "tanh" in c


def test_a_link_with_markup_in_a_variant_name_warns_and_trains_a_plain_name():
    at = _app({"vA": '<a href="https://evil.example/x">CLICK ME</a>|lr:0.01', "vB": "ReLU|", **TINY})
    _no_exception(at)
    assert "variant name" in _warnings(at) and "named from its settings instead" in _warnings(at)
    assert [r.name for r in _store(at).current().exp.runs] == ["lr 0.01", "ReLU"]
    assert at.query_params.get("vA") == "lr 0.01|lr:0.01"  # the rewritten link carries the plain name
    _all_charts_drawn(at)


def test_the_network_picker_is_a_new_widget_for_new_variants():
    """Switching preset in seminar mode: under one key the browser kept showing "dropout 0.5"
    (tiny-data-overfit's pick) above relu-vs-dropout's network of "ReLU + dropout 0.5" (walk of
    2026-11-30, /tmp/shots/walk2/06_1920_0_p0.png). A key of its own per list of variant names."""
    at = _app({"preset": "tiny-data-overfit", "mode": "seminar", **TINY})

    def picker():
        (sb,) = [s for s in at.selectbox if s.label == "Network of"]
        return sb

    before = picker()
    assert before.options == list(PRESETS["tiny-data-overfit"].variants)
    at.button(key="sem_relu-vs-dropout").click().run()
    _no_exception(at)
    after = picker()
    assert after.options == list(PRESETS["relu-vs-dropout"].variants)
    assert after.key != before.key and after.proto.id != before.proto.id
    assert after.key == firstscreen.net_pick_key(list(PRESETS["relu-vs-dropout"].variants))
    at.run()  # the same experiment again: the same widget, so a pick is kept
    assert picker().key == after.key
