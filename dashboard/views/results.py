"""The results of one experiment below the summary: its charts with the pickers they read, and
its downloads. The Lab page calls `results(entry)` and `downloads(entry)`."""
from __future__ import annotations

import json

import streamlit as st

from core.serve.thin import shown_note
from dashboard import charts, state
from dashboard.views.common import draw_charts, guarded, md_escape


@st.fragment
@guarded  # a fragment reruns on its own, outside the page's guard
def results(entry: state.Entry) -> None:
    """The charts of this experiment (dashboard.charts.CHARTS), with the pickers they read."""
    exp = entry.exp
    shown = charts.shown(exp)
    needs = {n for c in shown for n in c.needs}
    picks: dict[str, int] = {}
    c1, c2, _ = st.columns([2, 2, 3])
    if "seed" in needs:
        seeds = max(len(r.seeds) for r in exp.runs)
        with c1:
            seed = st.segmented_control("Seed shown in the pictures", [f"#{i + 1}" for i in range(seeds)],
                                        default="#1", key="seed_pick") or "#1"
        picks["seed"] = int(seed[1:]) - 1
    if "layer" in needs:
        layers = max(r.layers for r in exp.runs)
        with c2:
            layer = st.segmented_control("Hidden layer", [str(i + 1) for i in range(layers)], default="1",
                                         key="layer_pick") or "1"
        picks["layer"] = int(layer) - 1
    draw_charts(shown, exp, exp.title or entry.spec.title, **picks)


def downloads(entry: state.Entry) -> None:
    exp = entry.exp
    if note := shown_note(exp):  # a long history: say what the files hold
        st.caption(md_escape(note + " On the server, `python -m core runs export` writes every epoch."))
    stem = charts.slug(f"relu-dropout-lab-{exp.preset or 'custom'}-run{entry.id}")
    c1, c2, _ = st.columns([1, 1, 3])
    c1.download_button("⬇ History as CSV", exp.to_csv, file_name=f"{stem}.csv",
                       mime="text/csv", on_click="ignore", width="stretch")
    c2.download_button("⬇ Everything as JSON", lambda: json.dumps(exp.export(), indent=1),
                       file_name=f"{stem}.json", mime="application/json", on_click="ignore", width="stretch")
