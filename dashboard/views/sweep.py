"""The Sweep page: one or two settings swept over a grid, every point × seeds trained (or served
from the store), and each main metric drawn against the swept value with 95% confidence bands.

What gets trained on a run of this page (as on the Lab page):
1. Train pressed or a sweep preset picked -> that sweep, trained now;
2. else the sweep of the URL (or, back from another page, this session's last): if this session
   already has its result it is shown, otherwise it is trained (a stored sweep is served at once).

A sweep's points are the variants of one experiment (core.sweep.Sweep.variants), trained through
core.serve.run_guarded like the Lab's (with live progress and Stop: dashboard/views/sweep_run.py): the run store, the hosted budget (a sweep over it is
refused before training, with advice), the fair line and the time limit all apply, and an
identical sweep in flight is trained once. The URL holds the whole sweep (dashboard/sweeplink.py).
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from core import serve
from core.config import FIELDS, ConfigError, validate
from core.serve.jobs import JOBS, job_key
from core.serve.notes import FROM_STORE, Note
from core.serve.snapshot import view
from core.sweep import GRID_DEFAULTS, SWEEP_PRESETS, SWEEPABLE, Sweep
from dashboard import charts, hosted
from dashboard.charts import sweep as sweep_charts
from dashboard.controls import grouped_fields
from dashboard.sweeplink import (
    DEFAULT_SWEEP,
    NO_PRESET,
    default_sweep,
    parse_one,
    sweep_from_query,
    sweep_to_query,
)
from dashboard.views.common import font_size, guarded, md_escape, open_server, render_field
from dashboard.views.lab import GROUP_TITLES
from dashboard.views.sweep_run import Shown, metrics_for, record, size_line, train_live

SWEEP = "sw_sweep"
URL_SEEN = "_sw_url_seen"
URL_WARNINGS = "_sw_url_warnings"
TRAIN_NOW = "_sw_train_now"
FORM_ERROR = "_sw_form_error"
SHOWN = "_sw_shown"  # the holder of this session's current sweep result (mutated in place)
PICK = "sw_preset_pick"
NO_SECOND = "(none)"
KEY_PREFIX = "sw_f_"
SWEEP_NOTES = {FROM_STORE: "Served from the store: this exact sweep was trained before, on this page or with "
                           "`python -m core sweep`."}


def wkey(name: str) -> str:
    return KEY_PREFIX + name



def _holder() -> Shown:
    ss = st.session_state
    if SHOWN not in ss:
        ss[SHOWN] = Shown()
    return ss[SHOWN]



def title_of(sweep: Sweep) -> str:
    p = SWEEP_PRESETS.get(sweep.preset)
    return sweep.label() if p is None or p == sweep else f"{p.label()} (changed)"


# ------------------------------------------------------------------ sweep <-> URL <-> widgets
def _canon(q: dict[str, Any]) -> str:
    return json.dumps({k: (v[-1] if isinstance(v, list) else v) for k, v in sorted(q.items())})


def widget_values(sweep: Sweep) -> dict[str, Any]:
    grid = list(dict(sweep.grid).items())
    out: dict[str, Any] = {wkey(f.name): getattr(sweep.base, f.name) for f in FIELDS}
    out["sw_g1_field"], out["sw_g1_values"] = grid[0][0], sweep_charts.pretty(grid[0][1])
    if len(grid) > 1:
        out["sw_g2_field"], out["sw_g2_values"] = grid[1][0], sweep_charts.pretty(grid[1][1])
    else:
        out["sw_g2_field"], out["sw_g2_values"] = NO_SECOND, ""
    out[PICK] = sweep.preset if sweep.preset in SWEEP_PRESETS else NO_PRESET
    return out


def _set_sweep(sweep: Sweep) -> None:
    ss = st.session_state
    ss[SWEEP] = sweep
    for k, v in widget_values(sweep).items():
        ss[k] = v


def _sync_from_url() -> None:
    ss = st.session_state
    q = {k: v for k, v in st.query_params.to_dict().items() if k != "mode"}
    if ss.get(URL_SEEN) == _canon(q) and SWEEP in ss:
        return
    if not q and SWEEP in ss:
        sweep, warnings = ss[SWEEP], []  # back from another page: keep this session's sweep
    else:
        sweep, warnings = sweep_from_query(q)
    ss[URL_WARNINGS] = warnings
    _set_sweep(sweep)
    ss[URL_SEEN] = _canon(q)


def _write_url(sweep: Sweep) -> None:
    want = sweep_to_query(sweep)
    if _canon(st.query_params.to_dict()) != _canon(want):
        st.query_params.from_dict(want)
    st.session_state[URL_SEEN] = _canon(want)


def _ensure_widget_state() -> None:
    """Streamlit drops the widgets' values when another page ran: put them back from the sweep."""
    ss = st.session_state
    for k, v in widget_values(ss[SWEEP]).items():
        if k not in ss:
            ss[k] = v


def _pick_preset() -> None:
    ss = st.session_state
    _set_sweep(default_sweep(ss.get(PICK) or DEFAULT_SWEEP))
    ss[URL_WARNINGS] = []
    ss[FORM_ERROR] = None
    ss[TRAIN_NOW] = True


def _field_changed(n: int) -> None:
    """A new swept setting: its default values in the box beside it (core.sweep.GRID_DEFAULTS)."""
    ss = st.session_state
    f = ss.get(f"sw_g{n}_field")
    ss[f"sw_g{n}_values"] = sweep_charts.pretty(GRID_DEFAULTS.get(f, ())) if f in GRID_DEFAULTS else ""


def sweep_from_widgets(values: dict[str, Any], preset: str) -> Sweep:
    """Widget values -> Sweep. Raises ConfigError naming the field and the value."""
    base_vals = {f.name: values[wkey(f.name)] for f in FIELDS if wkey(f.name) in values and f.name != "data_path"}
    if base_vals.get("dataset") == "csv":
        raise ConfigError("dataset", "csv", "the built-in data sets (the Sweep page takes no upload)")
    base = validate(base_vals)
    grid: dict[str, tuple] = {}
    for n in (1, 2):
        f = values.get(f"sw_g{n}_field")
        if not f or f == NO_SECOND:
            continue
        name, vals = parse_one(f"swept setting {n}", f"{f}:{values.get(f'sw_g{n}_values') or ''}")
        if name in grid:
            raise ConfigError(f"swept setting {n}", name, "a setting other than swept setting 1")
        grid[name] = vals
    p = SWEEP_PRESETS.get(preset)
    return Sweep(base, grid, title=p.title if p is not None else "", preset=preset if p else "")


def _on_submit() -> None:
    ss = st.session_state
    ss[FORM_ERROR] = None
    try:
        sweep = sweep_from_widgets(ss, ss.get(PICK) or NO_PRESET)
    except ConfigError as e:
        ss[FORM_ERROR] = str(e)
        return
    ss[SWEEP] = sweep
    ss[URL_WARNINGS] = []
    ss[TRAIN_NOW] = True


def sidebar(limits: serve.Limits) -> None:
    ss = st.session_state
    with st.sidebar:
        st.selectbox("Sweep preset", [*SWEEP_PRESETS, NO_PRESET], key=PICK, on_change=_pick_preset,
                     format_func=lambda n: SWEEP_PRESETS[n].title if n in SWEEP_PRESETS else "No preset (defaults)",
                     help="Picking a preset fills the sweep and trains it.")
        st.selectbox("Swept setting (x axis)", SWEEPABLE, key="sw_g1_field", on_change=_field_changed, args=(1,))
        st.text_input("its values", key="sw_g1_values", help="Comma-separated, e.g. 0,0.2,0.4. "
                      "Each value is checked like the setting itself.")
        st.selectbox("Second swept setting (one line per value)", [NO_SECOND, *SWEEPABLE], key="sw_g2_field",
                     on_change=_field_changed, args=(2,))
        st.text_input("its values", key="sw_g2_values", disabled=ss.get("sw_g2_field") == NO_SECOND)
        with st.form("sweep_settings", border=False):
            st.form_submit_button("▶ Train sweep", type="primary", width="stretch", on_click=_on_submit,
                                  key="sw_train", help="Train every point of the sweep × seeds (a sweep "
                                  "trained before, by anyone on this server, is served from the store).")
            if ss.get(FORM_ERROR):
                st.error(md_escape(ss[FORM_ERROR]))
            st.caption("Base settings: every point uses these, with the swept settings set to each value.")
            for group, fields in grouped_fields().items():
                with st.expander(GROUP_TITLES[group], expanded=group == "training"):
                    for f in fields:
                        render_field(f, key=wkey(f.name))
        if limits.hosted or limits.max_work is not None or limits.max_seconds is not None:
            st.caption(f":material/dns: {limits.describe()}")



# ------------------------------------------------------------------ results
@st.fragment
@guarded
def results(shown: Shown) -> None:
    sweep, res = shown.sweep, shown.result
    summ = res.summary()
    fs = font_size()
    figs = sweep_charts.sweep_charts(summ, dict(sweep.grid), metrics_for(sweep), font_size=fs)
    stem = charts.slug(f"relu-dropout-lab-sweep-{sweep.preset or 'custom'}")
    for i in range(0, len(figs), 2):
        for col, (metric, fig) in zip(st.columns(2, gap="medium"), figs[i:i + 2], strict=False):
            with col:
                st.plotly_chart(fig, width="stretch", config=charts.chart_config(metric, stem),
                                key=f"sw_chart_{metric}")
    st.caption("Each point: the mean over seeds of the last measured epoch, with its 95% confidence "
               "interval as the band; one line per value of the second swept setting.")
    point_curves(res, fs)
    with st.expander("Summary table (mean and 95% CI per point and metric)"):
        st.dataframe(summ, hide_index=True, width="stretch")
    downloads(sweep, res, summ, stem)


def point_curves(res, fs: int) -> None:
    exp = res.experiment
    names = [r.name for r in exp.runs if r.epochs_done > 0]
    if not names:
        return
    pick = st.selectbox("Learning curves of one point", names, key="sw_point")
    st.plotly_chart(charts.learning_curves([exp.run(pick)], font_size=fs), width="stretch",
                    config=charts.chart_config("learning-curves", pick), key="sw_point_curves")


def downloads(sweep: Sweep, res, summ: pd.DataFrame, stem: str) -> None:
    c1, c2, c3, _ = st.columns([1, 1, 1, 2])
    c1.download_button("⬇ Tidy CSV", lambda: res.tidy().to_csv(index=False), file_name=f"{stem}-tidy.csv",
                       mime="text/csv", on_click="ignore", width="stretch",
                       help="One row per point, seed, epoch and layer, the swept settings as columns.")
    c2.download_button("⬇ Summary CSV", summ.to_csv(index=False), file_name=f"{stem}-summary.csv",
                       mime="text/csv", on_click="ignore", width="stretch")
    c3.download_button("⬇ JSON", lambda: json.dumps(res.export(), indent=1), file_name=f"{stem}.json",
                       mime="application/json", on_click="ignore", width="stretch",
                       help="Everything: settings, every epoch of every point and seed, the grid and the summary.")


def reopen(runs, row: dict) -> str | None:
    """Make a stored sweep (a History row of kind "sweep") this session's sweep on screen; an
    error sentence if it cannot be. Read metered, as History reads stored runs."""
    from core.sweep import sweep_from_dict

    limits = hosted.limits()
    try:
        exp = serve.open_stored(runs, row["key"], limits=limits, gate=hosted.gate(limits),
                                visitor=hosted.visitor_id(), cache=hosted.run_cache())
        if exp is None:
            return "That sweep is no longer in the store (or cannot be read)."
        grid = [[n, v] for n, v in (row.get("grid") or {}).items()]
        sweep = sweep_from_dict(exp.base, {"grid": grid, "preset": exp.preset if exp.preset in SWEEP_PRESETS else ""})
        p = SWEEP_PRESETS.get(sweep.preset)
        sweep = Sweep(sweep.base, sweep.grid, p.title if p is not None else "", sweep.preset)
    except (serve.ServeError, ConfigError) as e:
        return f"That sweep cannot be opened ({e})."
    if len(exp.runs) != len(sweep.configs()) or sweep.key() != row["key"]:
        return "That sweep cannot be opened (its stored grid does not match its points)."
    ss = st.session_state
    _set_sweep(sweep)
    ss[URL_WARNINGS] = []
    ss.pop(URL_SEEN, None)
    record(_holder(), sweep, view(exp, list(sweep.variants()), sweep.label(), sweep.preset),
            [Note("info", FROM_STORE, "")], stopped=False, served=True)
    return None


# ------------------------------------------------------------------ the page
@guarded
def page() -> None:
    ss = st.session_state
    server = open_server(_sync_from_url, _ensure_widget_state)
    if server is None:
        return
    limits, runs = server
    sidebar(limits)
    sweep: Sweep = ss[SWEEP]
    train_now = ss.pop(TRAIN_NOW, False)
    _write_url(sweep)
    st.title(title_of(sweep))
    for w in ss.get(URL_WARNINGS) or []:
        st.warning(f"Link setting ignored. {md_escape(w)}", icon=":material/warning:")
    hosted.show_store_warnings(runs)
    st.caption(md_escape(size_line(sweep, limits)))
    shown = _holder()
    shown.idle.wait(10.0)  # a training interrupted by this rerun first records what it measured
    if ss.get("sw_stop"):  # this rerun is a Stop press: stop the training unless others watch it
        JOBS.stop_unwatched(job_key(runs, sweep.key()))
    if train_now or shown.key != sweep.key():
        if not train_live(sweep, shown):
            return
    if shown.stopped:
        st.info("Stopped early: showing the points measured so far. Press Train sweep to run it again.",
                icon=":material/stop_circle:")
    for n in shown.notes:
        said = SWEEP_NOTES.get(n.code) or md_escape(n.text)  # our own words keep their `code`
        (st.info if n.level == "info" else st.warning)(said)
    if all(r.epochs_done == 0 for r in shown.result.experiment.runs):
        st.info("Nothing was measured before the sweep was stopped. Press Train sweep to start again.")
        return
    results(shown)
