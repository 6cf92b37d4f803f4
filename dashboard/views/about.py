"""About: the explanation, what each number means and how a link encodes an experiment."""
from __future__ import annotations

import streamlit as st

from core.results import METRIC_HELP
from dashboard import text
from dashboard.views.common import guarded

SHARING = """
Everything that defines an experiment is in the address bar: the preset, every setting you changed
and the variants being compared. Copy the link and send it: whoever opens it sees the same experiment,
and if it was trained on this server before, it is shown at once instead of being trained again.

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

        st.markdown(hosted.limits().describe())
    except Exception as e:  # noqa: BLE001
        st.error(f"The server's limits are misconfigured: {e}")
    st.caption("Every finished experiment is kept in the server's run store and served at once to anyone who "
               "asks for the same settings again; identical requests in flight are trained once.")
