"""History: the runs of this browser session, with settings and final numbers; overlay up to four.
Below them, the runs kept in the server's run store (everyone's finished experiments, except runs
on another session's uploaded file): pick one to reopen it in the Lab as the current run."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.safetext import csv_cell, cut
from core.serve import notes
from dashboard import charts, hosted, state
from dashboard.views.common import draw_charts, guarded, md_escape

MAX_OVERLAY = 4
MAX_STORED = 100
REOPENED = notes.Note("info", notes.REOPENED,
                      "Reopened from the store: this experiment was trained before, on this server.")


@guarded
def page() -> None:
    ss = st.session_state
    st.title("History of this session")
    try:
        runs = hosted.run_store()
    except Exception as e:  # noqa: BLE001 - the session's own history still works
        st.error(f"The run store cannot be opened: {md_escape(str(e))}")
        runs = None
    if runs is not None:
        hosted.show_store_warnings(runs)
    session_history(ss)
    if runs is not None:
        stored_runs(runs)


def _when(created: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))


def _accs(row: dict) -> str:
    """A stored run's variants with their final validation accuracy: "ReLU 0.911, linear 0.881"."""
    acc = row.get("val_acc") or {}
    parts = []
    for name in map(str, row.get("variants") or []):
        v = acc.get(name) if isinstance(acc, dict) else None
        parts.append(f"{name} {v:.3f}" if isinstance(v, int | float) else name)
    return ", ".join(parts) or "one run"


def _label(row: dict) -> str:
    """A stored run in the picker: unique (its key), and telling runs of one minute apart by
    their preset, their variants and what they reached, rather than by a title they share."""
    what = row.get("preset") or row.get("title") or "(untitled)"
    return (f"{what} · {cut(_accs(row), 70)} · {row.get('status', '?')} · "
            f"{_when(row['created'])} · {row['key'][:8]}")


def spec_of(exp) -> state.Spec:
    """The Lab settings of a stored experiment: its preset's spec if it is that preset unchanged."""
    from dashboard.controls import NO_PRESET, Spec, preset_spec

    names = [r.name for r in exp.runs]
    if exp.preset:
        try:
            p = preset_spec(exp.preset)
        except KeyError:
            p = None
        if p is not None and list(p.variant_dict()) == names and \
                p.configs() == [r.config for r in exp.runs]:
            return p
    from core.presets import PRESETS

    base = exp.base.to_dict()
    variants = {r.name: {k: v for k, v in r.config.to_dict().items() if base.get(k) != v} for r in exp.runs}
    if names == ["run"] and not variants["run"]:
        variants = {}
    # A changed preset is stored without its preset name but with its title: "<title> (changed)".
    preset = exp.preset or next((n for n, p in PRESETS.items() if exp.title.startswith(p.title)), NO_PRESET)
    return Spec.make(exp.base, variants, preset)


def reopen(runs, key: str) -> str | None:
    """Load a stored run into this session as the current one; an error sentence if it cannot be.
    Read metered (core.serve.opened): from the server's cache of opened runs if it is there, in
    a slot of the training line if it is heavy, refused if it is too big for this server."""
    from core import serve
    from core.serve.snapshot import view
    from dashboard.controls import widget_values
    from dashboard.views import lab
    from dashboard.views.common import load_widgets

    limits = hosted.limits()
    row = runs.summary(key)
    if row is None or not hosted.run_visible(row):  # someone else's upload: as if it were not there
        return "That run is no longer in the store (or cannot be read)."
    try:
        exp = serve.open_stored(runs, key, limits=limits, gate=hosted.gate(limits), visitor=hosted.visitor_id(),
                                cache=hosted.run_cache())
    except serve.Unreadable as e:  # a document from another engine version
        return f"That run cannot be opened ({e})."
    except serve.ServeError as e:  # too big for this server, or the line is full
        return str(e)
    if exp is None:
        return "That run is no longer in the store (or cannot be read)."
    spec = spec_of(exp)
    ss = st.session_state
    state.get_store(ss).add(spec, view(exp), [REOPENED], from_store=True)
    ss[lab.SPEC] = spec
    load_widgets(widget_values(spec))
    ss["preset_pick"] = spec.preset
    ss[lab.URL_WARNINGS] = []
    ss.pop(lab.URL_SEEN, None)
    return None


def stored_runs(runs) -> None:
    st.subheader("Stored runs on this server")
    # Runs on someone else's upload are not listed (core.serve.uploads.visible).
    rows = [r for r in runs.list(limit=3 * MAX_STORED) if hosted.run_visible(r)][:MAX_STORED]
    if not rows:
        st.caption("The run store is empty: every finished run (ok or diverged) is kept there and served at once "
                   "when anyone asks for the same experiment again.")
        return
    st.caption(f"Finished experiments kept in the run store, newest first (at most {MAX_STORED} shown): "
               "pick one to open it in the Lab as your current run (a sweep opens on the Sweep page).")
    # Stored text may be anyone's (names from links, older versions): the table's CSV download
    # writes cells as shown, so text a spreadsheet would run as a formula is made inert.
    df = pd.DataFrame([{"title": csv_cell(str(r.get("title") or "(untitled)")),
                        "preset": csv_cell(str(r.get("preset") or "–")),
                        "status": csv_cell(str(r.get("status", "?"))), "seconds": r.get("seconds"),
                        "variants (val acc)": csv_cell(_accs(r)),
                        "when": _when(r["created"]), "key": r["key"][:12]} for r in rows])
    st.dataframe(df, hide_index=True, width="stretch", key="stored_table")
    by_key = {r["key"]: r for r in rows}
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    key = c1.selectbox("Stored run", list(by_key), key="stored_pick", format_func=lambda k: _label(by_key[k]))
    sweep = bool(key) and by_key[key].get("kind") == "sweep"  # core.sweep's: opened on the Sweep page
    if c2.button("Open in the Sweep page" if sweep else "Open in the Lab", key="open_stored", type="primary",
                 width="stretch") and key:
        if sweep:
            from dashboard.views import sweep as sweep_view

            err = sweep_view.reopen(runs, by_key[key])
        else:
            err = reopen(runs, key)
        if err:
            st.error(md_escape(err))
        else:
            st.switch_page("views/sweep_page.py" if sweep else "views/lab_page.py")


def session_history(ss) -> None:
    entries = state.get_store(ss).entries
    if not entries:
        st.info("No runs yet. Train something on the Lab page; every run of this browser session is listed here.")
        return
    st.caption(f"The last {state.HISTORY_CAP} runs of this browser session (newest first), one row per variant: "
               "each run is named by its number, the preset it started from and the settings changed. "
               f"Select up to {MAX_OVERLAY} rows to draw them together; a variant keeps its colour.")
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
    draw_charts(charts.overlays(), runs, prefix="history-")
    names = ", ".join(md_escape(r.name) for r in runs)
    st.caption(f"Overlaid: {names}")
