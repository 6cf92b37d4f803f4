"""The Lab page: settings in the sidebar, training with live curves, the charts and the answer.

What gets trained on a run of this page:
1. Train pressed (form submit) or a preset picked -> those settings, trained now;
2. else the settings of the URL (or, coming back from another page, of the last run): if this
   session already has a run of exactly those settings it is shown, otherwise they are trained
   automatically (first visit: the relu-vs-dropout preset, no clicks needed).

Either way the run goes through core.serve.run_guarded with the server's run store: an
identical experiment trained before (by anyone on this server) is served from the store at
once, so Train on unchanged settings shows the stored result. "Train again" (local mode
only) drops the stored copy and trains it anew; a different `seed` is a fresh draw anywhere.
"""
from __future__ import annotations

import json
import time
from typing import Any

import pandas as pd
import streamlit as st

from core import serve
from core.claims import verdicts
from core.config import ConfigError
from core.csvdata import DataError, example_csv, load_points
from core.presets import PRESETS, Preset
from core.results import Experiment
from core.serve.errors import NeedsConfirmation
from core.serve.notes import DIVERGED, FROM_STORE, REOPENED, SHARED, STOP_CODES, WAITED
from dashboard import charts, hosted, state, text
from dashboard.controls import (
    DEFAULT_PRESET,
    NO_PRESET,
    Spec,
    digest_of,
    examples_note,
    grouped_fields,
    has_settings,
    preset_spec,
    spec_from_query,
    spec_from_widgets,
    spec_to_query,
    widget_values,
)
from dashboard.views import confirm, firstscreen, variants
from dashboard.views.common import (
    font_size,
    guarded,
    host_stops,
    is_seminar,
    load_widgets,
    long_link_probe,
    md_escape,
    open_server,
    render_field,
    scroll_to_top,
)
from dashboard.views.pacing import error_line, redraw_interval, watching
from dashboard.views.results import downloads, results

SPEC = "spec"
URL_SEEN = "_url_seen"
URL_WARNINGS = "_url_warnings"
LINK_PROBE = "_link_probe"  # the page opened with no query: Streamlit may have dropped a long link
TRAIN_NOW = "_train_now"
FORM_ERROR = "_form_error"
RETRAIN = "_retrain"
SCROLL_UP = "_scroll_up"  # a preset was just picked (when: a new element each time): show the page's top
UPLOAD_SHARE = "upload_share"
STOP_PICTURES_S = 5.0  # after Stop, how long the page waits for the run to end with its pictures
TRAIN_HELP = ("Train these settings. The same settings and seeds always give the same result, so an "
              "experiment trained before, by anyone on this server, is served from the store at once. "
              "For a fresh draw change `seed`; to watch an identical run train again, tick 'Train again'.")
RETRAIN_HELP = ("Drop the stored copy of these exact settings and train them again (the result is the same: "
                "the seeds are fixed). Not in the hosted demo, where identical runs are shared.")
GROUP_TITLES = {"data": "Data", "network": "Network", "regularization": "Regularization", "training": "Training"}


# ------------------------------------------------------------------ settings <-> URL <-> widgets
def _canon(q: dict[str, Any]) -> str:
    return json.dumps({k: (v[-1] if isinstance(v, list) else v) for k, v in sorted(q.items())})


def _set_spec(spec: Spec) -> None:
    ss = st.session_state
    ss[SPEC] = spec
    load_widgets(widget_values(spec))
    ss["preset_pick"] = spec.preset


def _sync_from_url() -> None:
    """Load the URL's settings into the widgets when the URL changed since we last saw/wrote it."""
    ss = st.session_state
    q = st.query_params.to_dict()
    if ss.get(URL_SEEN) == _canon(q) and SPEC in ss:
        return
    if not has_settings(q) and SPEC in ss:
        spec, warnings = ss[SPEC], []  # back from another page: keep this session's settings
    else:
        spec, warnings = spec_from_query(q, may_use=hosted.may_use_upload)
    ss[LINK_PROBE] = not q and SPEC not in ss  # a fresh page with no query: was a long link dropped?
    ss[URL_WARNINGS] = warnings
    _set_spec(spec)
    ss[URL_SEEN] = _canon(q)


def _write_url(spec: Spec) -> None:
    mode = "seminar" if is_seminar() else ""
    want = spec_to_query(spec, mode)
    if _canon(st.query_params.to_dict()) != _canon(want):
        st.query_params.from_dict(want)
    st.session_state[URL_SEEN] = _canon(want)


def _ensure_widget_state() -> None:
    """Widget values are dropped by Streamlit when another page ran; put them back from the spec."""
    ss = st.session_state
    missing = {k: v for k, v in widget_values(ss[SPEC]).items() if k not in ss}
    if missing:
        load_widgets(missing)
    if "preset_pick" not in ss:
        ss["preset_pick"] = ss[SPEC].preset


def _pick_preset(name: str | None = None) -> None:
    ss = st.session_state
    name = name or ss.get("preset_pick") or DEFAULT_PRESET
    if name == NO_PRESET:
        from core.config import Config

        spec = Spec.make(Config(), {}, NO_PRESET)
    else:
        spec = preset_spec(name)
    _set_spec(spec)
    ss[URL_WARNINGS], ss[LINK_PROBE] = [], False
    ss[TRAIN_NOW] = True
    ss[SCROLL_UP] = time.monotonic_ns()


def _on_submit() -> None:
    """Form submitted: settings from the widgets (and an upload), checked; train on success."""
    ss = st.session_state
    ss[FORM_ERROR] = None
    if table_error := variants.sync(ss[SPEC].base):  # the table's edits, even one sent with this press
        ss[FORM_ERROR] = f"Not trained: the variants table has an error. {table_error}"
        return
    data_path = ""
    if ss.get("f_dataset") == "csv":
        up = ss.get("upload")
        if up is not None:
            raw = up.getvalue()
            try:
                load_points(raw)
            except DataError as e:
                ss[FORM_ERROR] = f"{up.name}: {e}"
                return
            uploads = hosted.uploads()  # hosted: this session's, shared by link if ticked
            _, data_path = uploads.save(raw, hosted.owner(), shared=bool(ss.get(UPLOAD_SHARE)))
            if hosted.private_uploads():  # old ones go (locally they are kept)
                uploads.sweep(hosted.run_store())
        else:
            data_path = ss[SPEC].base.data_path
            if data_path and hosted.private_uploads():  # the share box may have changed
                hosted.uploads().set_shared(digest_of(data_path), hosted.owner(), bool(ss.get(UPLOAD_SHARE)))
        if not data_path:
            ss[FORM_ERROR] = "dataset csv: upload a CSV file first (see the template below the form)."
            return
    try:
        spec = spec_from_widgets(ss, ss.get("preset_pick") or NO_PRESET, data_path)
    except ConfigError as e:
        ss[FORM_ERROR] = str(e)
        return
    ss[SPEC] = spec
    ss[URL_WARNINGS], ss[LINK_PROBE] = [], False
    ss[TRAIN_NOW] = True
    ss[RETRAIN] = bool(ss.get("f_retrain")) and not hosted.limits().hosted


def sidebar(limits: serve.Limits) -> None:
    ss = st.session_state
    with st.sidebar:
        st.selectbox("Preset", [*PRESETS, NO_PRESET], key="preset_pick", on_change=_pick_preset,
                     format_func=lambda n: PRESETS[n].title if n in PRESETS else "No preset (defaults)",
                     help="Picking a preset fills the settings and trains it.")
        with st.form("settings", border=False):
            st.form_submit_button("▶ Train", type="primary", width="stretch", on_click=_on_submit,
                                  key="train_top", help=TRAIN_HELP)
            st.checkbox("Train again (even if stored)", key="f_retrain", disabled=limits.hosted,
                        help=RETRAIN_HELP)
            if ss.get(FORM_ERROR):
                st.error(md_escape(ss[FORM_ERROR]))
            per_variant = variants.overridden(variants.pending(ss))  # base values no variant uses
            for group, fields in grouped_fields().items():
                with st.expander(GROUP_TITLES[group], expanded=group in ("network", "regularization")):
                    for f in fields:
                        render_field(f, per_variant=f.name in per_variant)
                    if group == "data":
                        st.caption(examples_note(ss[SPEC].base))  # the effective n_samples of this run
                        st.file_uploader("Your own CSV (dataset = csv)", type=["csv", "txt"], key="upload",
                                         help="2-D points: two number columns and a label column.")
                        upload_visibility(limits)
            # the table sits below the first screen, not under the title: name what to look for
            st.caption("Variants (what each changes from these settings) are edited on the page, in "
                       "**Variants: … (edit)** below the first charts.")
            st.form_submit_button("▶ Train", type="primary", width="stretch", on_click=_on_submit,
                                  key="train_bottom", help=TRAIN_HELP)
        st.download_button("CSV template for your own data", example_csv(), file_name="points-template.csv",
                           mime="text/csv", on_click="ignore", width="stretch")
        if limits.hosted or limits.max_work is not None or limits.max_seconds is not None:
            st.caption(f":material/dns: {limits.describe()}")


def upload_visibility(limits: serve.Limits) -> None:
    """Who can see an upload, said where it is uploaded (core.serve.uploads)."""
    if not hosted.private_uploads():
        st.caption("Your file stays on this machine; the lab keeps a copy beside its run store's "
                   "temporary files to retrain it.")
        return
    ttl = limits.upload_ttl_h
    gone = f" Both are deleted {ttl:g} h after the upload." if ttl is not None else ""
    st.caption(":material/lock: Only you (this browser tab) can see your file and the runs trained on it: they "
               f"are not listed in anyone's History and exports name the file, not where it is kept.{gone}")
    st.checkbox("Share by link: anyone with this page's link may train on my file", key=UPLOAD_SHARE,
                help="Applies when you press Train. Unticked, a link with data=… works only in this tab.")


def seminar_buttons() -> None:
    cols = st.columns(len(PRESETS))
    cur = st.session_state[SPEC].preset
    for col, (name, p) in zip(cols, PRESETS.items(), strict=True):
        col.button(p.title, key=f"sem_{name}", on_click=_pick_preset, args=(name,),
                   type="primary" if name == cur else "secondary", width="stretch")


# ------------------------------------------------------------------ training with live curves
def train_live(spec: Spec, retrain: bool = False) -> state.Entry | None:
    """Train (or serve from the store) with live curves; None, after one st.error line, if it
    was refused (budget, full queue, bad data) or failed before measuring anything."""
    ss = st.session_state
    store = state.get_store(ss)
    limits = hosted.limits()
    total = sum(spec.base.replace(**ov).epochs + 1 for ov in spec.variant_dict().values())
    status = st.empty()
    bar = st.progress(0.0, text="Starting…")
    stop = st.empty()
    stop.button("■ Stop", key="stop_btn", help="End the run now and keep what was measured so far.")
    stage_live = st.empty()  # the first screen's boundaries, from the snapshots taken so far
    live = st.empty()
    last = [0.0]
    draws = [0]
    waiting = [False]
    fs = font_size()

    def on_wait(position: int, n_waiting: int, wait_s: float | None = None) -> None:
        waiting[0] = True
        status.info(serve.waiting_message(position, n_waiting, wait_s) +
                    " Press Stop to leave the line.", icon=":material/hourglass_top:")

    def on_epoch(exp, vi: int, epoch: int) -> None:
        now = time.perf_counter()
        if waiting[0]:
            waiting[0] = False
            status.caption("Training… press Stop to end early and keep what was measured.")
        r = exp.runs[vi]
        final = epoch == r.config.epochs
        if now - last[0] < redraw_interval() and not final:
            return
        last[0] = now
        view = serve.thin(exp)  # a private view of a snapshot, never live
        fig = charts.learning_curves(view, font_size=fs)
        done = sum(x.epochs_done for x in exp.runs)
        together = sum(x.status == "running" for x in exp.runs)  # variants trained as one network
        who = f"{together} variants together" if together > 1 else f"{md_escape(r.name)} ({vi + 1} of {len(exp.runs)})"
        bar.progress(min(1.0, done / total), text=f"Training {who}: epoch {epoch} of {r.config.epochs}")
        draws[0] += 1
        firstscreen.live(stage_live, view, key=f"stage_live_{draws[0]}")
        live.plotly_chart(fig, width="stretch", config=charts.chart_config("learning-curves"),
                          key=f"live_{draws[0]}")

    def should_stop() -> bool:
        # Touching session state is a Streamlit yield point: a Stop click (any rerun request)
        # raises Streamlit's rerun exception right here (run_guarded polls this every 0.1 s,
        # while training and while waiting in line).
        ss.get("_probe")
        return False

    status.caption("Training… press Stop to end early and keep what was measured.")
    entry = None
    with watching():
        try:
            private = hosted.privacy(spec.configs())  # a run on an upload: its owner's only
            entry = state.train_spec(store, spec, on_epoch=on_epoch, should_stop=should_stop,
                                     runs=hosted.run_store(), limits=limits, gate=hosted.gate(limits),
                                     on_wait=on_wait, retrain=retrain, visitor=hosted.visitor_id(),
                                     cache=hosted.run_cache(), summary=private, confirmed=confirm.confirmed(spec),
                                     stop_on=host_stops())
        except NeedsConfirmation as e:  # over the local budget: nothing trained, the user decides
            confirm.panel(spec, e.estimate, TRAIN_NOW)
        except Exception as e:  # noqa: BLE001 - engine errors become one readable line, never a traceback
            st.error(error_line(e), icon=":material/error:")
            cur = store.current()
            if cur is not None and cur.spec.key() == spec.key() and any(r.epochs_done for r in cur.exp.runs):
                entry = cur  # failed mid-run: show what was measured
    for el in (status, bar, stop, stage_live, live):
        el.empty()
    return entry


# ------------------------------------------------------------------ results
def summary(entry: state.Entry) -> None:
    exp = entry.exp
    df = pd.DataFrame(charts.summary_rows(exp))
    st.dataframe(df, hide_index=True, width="stretch")
    st.caption("Last epoch, mean ± std over seeds. acc gap = train − val accuracy, loss gap = val − train loss "
               "(bigger = more overfitting). mask agree (hidden layer 1): 1 = the same zeros on two passes with the "
               "same input and weights. dead units: all hidden layers together.")


# ------------------------------------------------------------------ the page
_NOTE_ICONS = {FROM_STORE: ":material/database:", REOPENED: ":material/database:",
               SHARED: ":material/group:", WAITED: ":material/group:"}


def notes(entry: state.Entry) -> None:
    """How the run was served (core.serve.notes.Note): infos as infos, the rest as warnings."""
    for n in entry.notes:
        if n.level == "info":
            st.info(md_escape(n.text), icon=_NOTE_ICONS.get(n.code, ":material/info:"))
        else:
            st.warning(md_escape(n.text), icon=":material/warning:")


def look_for(preset: Preset, exp: Experiment, as_preset: bool) -> str:
    """The preset's claims, each with this run's numbers (core.claims): a claim this run does not
    bear out (other settings, stopped early) is said to be so, never stated as a fact."""
    head = "**What to look for**, checked on this run" + ("" if as_preset else " (with your settings)")
    lines = [text.claim_line(c, v) for c, v in verdicts(preset.claims, exp)]
    return "\n".join([f"{head}:", ""] + [f"- {md_escape(said)} :gray[{md_escape(why)}]" for said, why in lines])


@guarded
def page() -> None:
    ss = st.session_state
    seminar = is_seminar()
    server = open_server(_sync_from_url, _ensure_widget_state)
    if server is None:
        return
    limits, runs = server
    variants.sync(ss[SPEC].base)  # the variants table's edits into the slots the sidebar and Train read
    sidebar(limits)  # collapsed in seminar mode, but everything still works
    spec: Spec = ss[SPEC]
    train_now = ss.pop(TRAIN_NOW, False)
    retrain = ss.pop(RETRAIN, False) and train_now
    _write_url(spec)

    preset = PRESETS.get(spec.preset)
    if nonce := ss.pop(SCROLL_UP, None):  # a preset was just picked: its evidence is at the top
        scroll_to_top(nonce)
    st.title(spec.title)
    if preset is not None and not seminar:  # seminar: the large title says it; the first screen is short
        st.markdown(f"**{preset.question}**")
    for w in ss.get(URL_WARNINGS) or []:
        st.warning(f"Link setting ignored. {md_escape(w)}", icon=":material/warning:")
    if ss.get(LINK_PROBE):
        long_link_probe()
    hosted.show_store_warnings(runs)
    # The first screen (issue 13): this run's numbers, then its boundaries (live while training,
    # replayable after), then the explanation and the table below them.
    strip_slot = st.container()
    stage_slot = st.container()
    if seminar:  # below the evidence: the first screen is the title, the numbers and the chart
        seminar_buttons()

    top_left, top_right = st.columns([3, 2], gap="large")
    with top_right:
        with st.container(border=True):
            if spec.preset in text.SHORT_ANSWERS:  # it answers that preset's question, no other
                st.markdown(text.SHORT_ANSWERS[spec.preset])
            with st.expander("The answer in words (for students)"):
                st.markdown(text.EXPLANATION)
    with top_left:
        claims_slot = st.empty()
        if preset is not None:
            claims_slot.info(f"**What to look for** (checked on the run once it is done): {preset.look_for}",
                             icon=":material/search:")
    # the page's width, not the left column's: at 1366 px the column cut off the table's last
    # column (dead units, "52.3 ± 5.3 of 256") with no sign that it scrolls
    summary_slot = st.container(key="summary_table")
    variants.editor(spec)  # the variants table (dashboard/views/variants.py), below the evidence

    store = state.get_store(ss)
    store.wait_idle()  # a run interrupted by this rerun first records what it measured
    if ss.get("stop_btn"):  # this rerun is a Stop press: stop the run now unless others watch it
        # and show it as it ended, with its pictures of the last measured epoch (the snapshot
        # the interrupted run kept has none; a run that takes longer to end keeps the snapshot's)
        with st.spinner("Stopping: drawing the pictures of the last measured epoch…"):
            ended = serve.stop_and_collect(spec.base, spec.variant_dict(), store=runs, wait_s=STOP_PICTURES_S)
        if ended is not None:
            store.finish(spec, ended)
    entry = store.current()
    if train_now or entry is None or entry.spec.key() != spec.key():
        found = None if train_now else store.find(spec)
        if found is not None:
            store.select(found)
            entry = found
        else:
            with stage_slot:  # progress and live pictures where the visitor is looking
                entry = train_live(spec, retrain=retrain)
    if entry is None:
        return
    if preset is not None:
        claims_slot.info(look_for(preset, entry.exp, spec.matches_preset()), icon=":material/search:")
    with summary_slot:
        timed_or_noted = any(n.code in STOP_CODES for n in entry.notes)
        if entry.stopped and not timed_or_noted:
            ran = [r.last_epoch for r in entry.exp.runs if r.epochs_done > 0] or [0]
            where = f"after {ran[-1]} epochs" + ("" if len(set(ran)) == 1 else " of the last variant that ran")
            st.info(f"Stopped early ({where}): showing what was measured. Press Train to run again.",
                    icon=":material/stop_circle:")
        notes(entry)
        diverged_noted = any(n.code == DIVERGED for n in entry.notes)
        for r in entry.exp.runs:
            for m in r.messages:
                if diverged_noted and "diverged" in m:
                    st.caption(f"{md_escape(r.name)}: {md_escape(m)}")
                else:
                    st.warning(f"{md_escape(r.name)}: {md_escape(m)}")
        summary(entry)
    if all(r.epochs_done == 0 for r in entry.exp.runs):
        st.info("Nothing was measured before the run was stopped. Press Train to start again.")
        return
    with strip_slot:
        firstscreen.strip(entry.exp)
    with stage_slot:
        live = (lambda: firstscreen.run_live_button(limits.hosted, (TRAIN_NOW, RETRAIN))) if seminar else None
        firstscreen.stage(entry, run_live=live)
    results(entry)
    if not seminar:
        downloads(entry)
