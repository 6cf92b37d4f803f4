"""Asking before a big run: the estimate of a run over the local budget, and a confirmation.

Locally (`make run`, core.serve.limits: Limits.ask_first) a run over the work budget or over half
the memory limit is not trained until the user says yes here: run_guarded raises
NeedsConfirmation with the run's estimate before anything trains (a link can no longer start an
hours-long, many-GB run by being opened). A run over the memory limit itself cannot be confirmed:
the panel says so, with the estimate, and offers no button. The yes is kept per experiment (its
Spec key) for this session, so a rerun or a Stop and Train again do not ask twice.
"""
from __future__ import annotations

import streamlit as st

from core.serve.budget import Estimate, duration_text, size_text
from core.serve.limits import sci
from dashboard.controls import Spec
from dashboard.views.common import md_escape

CONFIRMED = "_confirmed_spec"   # the Spec key the user said yes to
TITLE = "Confirm before training"


def confirmed(spec: Spec) -> bool:
    return st.session_state.get(CONFIRMED) == spec.key()


def rows(est: Estimate) -> list[dict[str, str]]:
    """The figures of the panel's table: this run against this machine's budget and limit."""
    lim = est.limits
    out = [{"": "work", "this run": sci(est.work),
            "asks above": sci(lim.max_work) if lim.max_work is not None else "-", "limit": "-"},
           {"": "memory", "this run": size_text(est.memory_mb),
            "asks above": size_text(lim.ask_memory_mb) if lim.ask_memory_mb is not None else "-",
            "limit": size_text(lim.max_memory_mb) if lim.max_memory_mb is not None else "-"},
           {"": "time (1 core)", "this run": duration_text(est.seconds), "asks above": "-", "limit": "-"}]
    if est.piece_s > 1.0:
        out.append({"": "longest uncut piece", "this run": duration_text(est.piece_s), "asks above": "-",
                    "limit": "-"})
    return out


def panel(spec: Spec, est: Estimate, train_now_key: str) -> None:
    """Draw the confirmation of `spec`, asked for by run_guarded (NeedsConfirmation: nothing
    trained). Its button marks the spec confirmed and asks the page to train (train_now_key)."""
    with st.container(border=True, key="confirm_panel"):
        st.markdown(f"#### :material/warning: {TITLE}")
        st.markdown(md_escape(est.sentence()))
        st.dataframe(rows(est), hide_index=True, width="stretch")
        if est.refused is not None:
            st.error(f"This run cannot be trained on this machine, confirmed or not: {md_escape(est.refused)}",
                     icon=":material/block:")
        else:
            st.button(f"Train anyway ({duration_text(est.seconds)}, about {size_text(est.memory_mb)})", type="primary",
                      key="confirm_train", on_click=_yes, args=(spec.key(), train_now_key))
        st.caption("Work = epochs × samples × width × depth × seeds, over the variants; memory and time are "
                   "estimates (core.cost). The limits are this machine's defaults for a laptop; RELU_LAB_MAX_WORK and "
                   "RELU_LAB_MAX_MEMORY_MB change them ('none' lifts a budget). Or pick a preset in the sidebar.")


def _yes(key: str, train_now_key: str) -> None:
    st.session_state[CONFIRMED] = key
    st.session_state[train_now_key] = True
