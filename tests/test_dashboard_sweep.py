"""The Sweep page through streamlit.testing (AppTest): it trains and draws a sweep, writes the whole
sweep into its URL, serves a copied link from the store, warns about a bad link, refuses a sweep
over the hosted budget with a sweep's advice, and is the fourth page of the navigation."""
from __future__ import annotations

from apptest_helpers import APP, ROOT, open_page
from apptest_helpers import no_exception as _no_exception
from apptest_helpers import text as _text
from streamlit.testing.v1 import AppTest

from core.sweep import MAIN_METRICS, SWEEP_PRESETS
from dashboard.views import sweep as page

PAGE = str(ROOT / "dashboard" / "views" / "sweep_page.py")
SMALL = {"preset": "dropout-sweep", "epochs": "3", "seeds": "2", "n_samples": "100", "width": "8",
         "grid": "dropout:0,0.5", "grid2": "activation:relu,linear"}


def _page(query: dict[str, str]) -> AppTest:
    return open_page(PAGE, query, 120)


def _shown(at: AppTest) -> page.Shown:
    return at.session_state[page.SHOWN]


def test_a_link_trains_draws_and_a_copied_link_is_served_from_the_store():
    at = _page(SMALL)
    _no_exception(at)
    assert not at.warning and not at.error
    shown = _shown(at)
    exp = shown.result.experiment
    assert [r.name for r in exp.runs] == list(shown.sweep.variants()) and len(exp.runs) == 4
    assert all(r.status == "ok" and r.epochs_done == 4 for r in exp.runs)
    # every main metric against dropout, and the learning curves of the picked point
    assert len(at.get("plotly_chart")) == len(MAIN_METRICS) + 1
    assert "4 points × 2 seeds = 8 networks" in _text(at.caption)
    assert at.selectbox(key="sw_point").value == "dropout 0, activation relu"
    written = dict(at.query_params.items())
    assert {k: written[k] for k in SMALL} == SMALL  # the whole sweep is in the URL
    # A new visitor with the copied link: the same sweep, from the store, not trained again.
    again = _page({k: v for k, v in written.items()})
    _no_exception(again)
    assert "Served from the store" in _text(again.info)
    other = _shown(again)
    assert other.key == shown.key and other.result.summary().equals(shown.result.summary())


def test_the_form_trains_a_new_grid_and_writes_it_into_the_url():
    at = _page(SMALL)
    at.text_input(key="sw_g1_values").set_value("0,0.3,0.6")
    at.selectbox(key="sw_g2_field").set_value(page.NO_SECOND)
    at.button(key="sw_train").click().run()
    _no_exception(at)
    sweep = _shown(at).sweep
    assert sweep.grid == (("dropout", (0.0, 0.3, 0.6)),)
    assert at.query_params["grid"] == "dropout:0,0.3,0.6" and at.query_params["grid2"] == "none"
    assert len(_shown(at).result.experiment.runs) == 3


def test_a_bad_value_in_the_form_names_field_and_value_and_trains_nothing():
    at = _page(SMALL)
    before = _shown(at).key
    at.text_input(key="sw_g1_values").set_value("0,1.5")
    at.button(key="sw_train").click().run()
    _no_exception(at)
    err = _text(at.error)
    assert "dropout" in err and "1.5" in err
    assert _shown(at).key == before


def test_a_bad_link_gives_one_warning_and_still_draws():
    at = _page({**SMALL, "grid": "dropout:0,abc"})
    _no_exception(at)
    assert len(at.warning) == 1
    w = _text(at.warning)
    assert "dropout" in w and "abc" in w and "Traceback" not in w
    assert _shown(at).sweep.fields == ("dropout", "activation")  # the preset's grid stays


def test_a_sweep_over_the_hosted_budget_is_refused_with_a_sweeps_advice(monkeypatch):
    monkeypatch.setenv("RELU_LAB_MAX_WORK", "1000")
    at = _page({**SMALL, "seed": "7"})  # a sweep nobody trained before
    _no_exception(at)
    err = _text(at.error)
    assert "This sweep is" in err and "Reduce the seeds (2" in err and "the points (4" in err and "epochs (3)" in err
    assert not at.get("plotly_chart")


def test_a_stored_sweep_is_served_whatever_its_size(monkeypatch):
    q = {**SMALL, "seed": "11"}
    _no_exception(_page(q))  # trained without a limit
    monkeypatch.setenv("RELU_LAB_MAX_WORK", "1000")
    at = _page(q)
    _no_exception(at)
    assert not at.error and "Served from the store" in _text(at.info)
    assert len(at.get("plotly_chart")) == len(MAIN_METRICS) + 1
    # the command is code, not escaped backticks shown as they are ("with \\`python -m core sweep\\`")
    served = next(i.value for i in at.info if "Served from the store" in i.value)
    assert "`python -m core sweep`" in served and "\\`" not in served


def test_a_preset_pick_loads_its_sweep(monkeypatch):
    at = _page(SMALL)
    sweeps = []

    def fake(sweep, shown):  # only what would be trained: the real dying-relu-lr takes minutes here
        sweeps.append(sweep)
        return False

    monkeypatch.setattr(page, "train_live", fake)
    at.selectbox(key=page.PICK).set_value("dying-relu-lr").run()
    _no_exception(at)
    assert sweeps == [SWEEP_PRESETS["dying-relu-lr"]]
    assert at.query_params["preset"] == "dying-relu-lr" and "grid" not in at.query_params
    assert at.selectbox(key="sw_g1_field").value == "lr"


def test_the_sweep_page_is_in_the_navigation():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"preset": "none", "epochs": "1", "seeds": "1", "n_samples": "100", "width": "4"})
    at.run()
    _no_exception(at)
    at.query_params.clear()
    for k, v in SMALL.items():
        at.query_params[k] = v
    at.switch_page("views/sweep_page.py").run()
    _no_exception(at)
    assert at.title[0].value.startswith(SWEEP_PRESETS["dropout-sweep"].title)
    assert len(at.get("plotly_chart")) == len(MAIN_METRICS) + 1


def test_a_sweep_trained_on_the_command_line_is_served_by_the_page():
    from core.store import open_run_store
    from core.sweep import run_sweep
    from dashboard.sweeplink import sweep_from_query

    q = {**SMALL, "seed": "23"}
    sweep, _ = sweep_from_query(q)
    trained = run_sweep(sweep, store=open_run_store())  # as `python -m core sweep` keeps it
    at = _page(q)
    _no_exception(at)
    assert "Served from the store" in _text(at.info)
    assert _shown(at).result.summary().equals(trained.summary())


def test_a_sweep_trained_on_the_page_is_served_to_the_command_line():
    from core.store import open_run_store
    from core.sweep import run_sweep

    at = _page({**SMALL, "seed": "29"})
    _no_exception(at)
    shown = _shown(at)
    store = open_run_store()
    assert store.summary(shown.sweep.key())["kind"] == "sweep"  # `runs list` shows it as a sweep
    served = run_sweep(shown.sweep, store=store)
    assert served.served and served.summary().equals(shown.result.summary())


def test_history_opens_a_stored_sweep_in_the_sweep_page():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"preset": "none", "epochs": "1", "seeds": "1", "n_samples": "100", "width": "4"})
    at.run()
    at.query_params.clear()
    for k, v in {**SMALL, "seed": "31"}.items():
        at.query_params[k] = v
    at.switch_page("views/sweep_page.py").run()
    key = _shown(at).key
    at.query_params.clear()
    at.switch_page("views/history_page.py").run()
    _no_exception(at)
    pick = at.selectbox(key="stored_pick")
    pick.set_value(key).run()
    assert at.button(key="open_stored").label == "Open in the Sweep page"
    at.button(key="open_stored").click().run()
    _no_exception(at)
    assert at.title[0].value.startswith(SWEEP_PRESETS["dropout-sweep"].title)
    assert _shown(at).key == key and "Served from the store" in _text(at.info)
    assert len(at.get("plotly_chart")) == len(MAIN_METRICS) + 1
    assert at.query_params["seed"] == "31"  # the reopened sweep's link
