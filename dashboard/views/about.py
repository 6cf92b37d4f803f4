"""About: the explanation, what each number means and how a link encodes an experiment."""
from __future__ import annotations

import streamlit as st

from core.results import METRIC_HELP
from dashboard import text
from dashboard.views.common import guarded

SHARING = """
Everything that defines an experiment is in the address bar: the preset, every setting you changed
and the variants being compared. Copy the link and send it: whoever opens it sees the same experiment,
and if it was trained on this server before, it is shown at once instead of being trained again. (On a
hosted demo a link to your uploaded CSV works for others only if you tick *Share by link* under the
upload.)

- **`preset=`** picks a starting point, e.g. `?preset=dying-relu`; without it the page opens
  *Does ReLU do what dropout does?*.
- **Any setting** can follow by its name (`lr`, `epochs`, `weight_decay`, `activation`, …), e.g.
  `&lr=0.003&epochs=100`.
- **Variants** are `vA` … `vD`, a name and what differs from the base settings, e.g.
  `&vA=ReLU|activation:relu&vB=dropout|activation:relu,dropout:0.5`.
- **`mode=seminar`** shows large buttons and fonts for a projector.

A value the page cannot use (a typo, a number out of range) is ignored with a warning that names it;
the rest of the link still works.
"""


def metric_table() -> str:
    """Every metric and its meaning as one markdown table: all rows shown, no scrolling box."""
    rows = ["| metric | meaning |", "|---|---|"]
    rows += [f"| `{name}` | {meaning.replace('|', '&#124;')} |" for name, meaning in METRIC_HELP.items()]
    return "\n".join(rows)


@guarded
def page() -> None:
    st.title("Does ReLU produce the same effect as dropout?")
    st.markdown(text.SHORT_ANSWER)
    st.markdown(text.EXPLANATION)
    st.subheader("What the charts measure")
    st.markdown(metric_table())
    st.subheader("Sharing a link")
    st.markdown(SHARING)
    st.subheader("This server")
    try:
        from dashboard import hosted

        limits = hosted.limits()
        st.markdown(limits.describe())
    except Exception as e:  # noqa: BLE001
        st.error(f"The server's limits are misconfigured: {e}")
        return
    st.caption(who_sees_what(limits))


def who_sees_what(limits) -> str:
    """What a visitor's runs and uploads are seen by (README, Hosting: "What a visitor can and
    cannot see"): hosted, "served to anyone" is true of the built-in data sets only."""
    kept = "identical requests in flight are trained once."
    if not limits.hosted:
        return ("Every finished experiment is kept in the server's run store and served at once to anyone who "
                "asks for the same settings again; " + kept)
    out = ("Every finished experiment on the built-in data sets is kept in the server's run store, listed in "
           "everyone's History and served at once to anyone who asks for the same settings again; " + kept
           + " An uploaded CSV and the runs trained on it are seen only in the browser tab that uploaded it (and "
           "by whoever has its link, if that tab ticks Share by link)")
    out += f", and are deleted {limits.upload_ttl_h:g} h after the upload." if limits.upload_ttl_h else "."
    if limits.store_max_mb:
        out += f" The store keeps at most {limits.store_max_mb} MB: the runs opened least recently make room."
    return out
