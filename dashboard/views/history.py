"""History: the runs of this browser session, with settings and final numbers; overlay up to four."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, state, text
from dashboard.views.common import chart, font_size, md_escape

MAX_OVERLAY = 4


def page() -> None:
    ss = st.session_state
    st.title("History of this session")
    entries = state.get_store(ss).entries
    if not entries:
        st.info("No runs yet. Train something on the Lab page; every run of this browser session is listed here.")
        return
    st.caption(f"The last {state.HISTORY_CAP} runs of this browser session (newest first), one row per variant. "
               f"Select up to {MAX_OVERLAY} rows to draw them together.")
    entries = list(reversed(entries))
    rows = state.history_rows(entries)
    pairs = [(e, r) for e in entries for r in e.exp.runs]
    df = pd.DataFrame(rows)
    event = st.dataframe(df, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
                         key="history_table")
    picked = list(event.selection.rows) if event is not None else []
    if len(picked) > MAX_OVERLAY:
        st.warning(f"{len(picked)} rows selected; drawing the first {MAX_OVERLAY}.")
        picked = picked[:MAX_OVERLAY]
    if not picked:
        st.caption("Tip: tick rows in the table to compare runs with different settings.")
        return
    runs = []
    for i in picked:
        e, r = pairs[i]
        import copy

        rr = copy.copy(r)
        rr.name = f"#{e.id} {r.name}"
        runs.append(rr)
    st.subheader("Selected runs, overlaid")
    fs = font_size()
    c1, c2 = st.columns(2)
    with c1:
        chart(charts.learning_curves(runs, font_size=fs), "history-learning-curves", "", text.CAPTIONS["learning"])
        chart(charts.mask_stability(runs, 0, font_size=fs), "history-mask", "", text.CAPTIONS["mask"])
    with c2:
        chart(charts.gap_chart(runs, font_size=fs), "history-gap", "", text.CAPTIONS["gap"])
        chart(charts.dead_units(runs, font_size=fs), "history-dead", "", text.CAPTIONS["dead"])
    names = ", ".join(md_escape(r.name) for r in runs)
    st.caption(f"Overlaid: {names}")
