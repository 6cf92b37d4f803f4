"""About: the explanation, what each number means and how a link encodes an experiment."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.results import METRIC_HELP
from dashboard import controls, text
from dashboard.views.common import guarded


@guarded
def page() -> None:
    st.title("Does ReLU produce the same effect as dropout?")
    st.markdown(text.SHORT_ANSWER)
    st.markdown(text.EXPLANATION)
    st.subheader("What the charts measure")
    st.dataframe(pd.DataFrame({"metric": list(METRIC_HELP), "meaning": list(METRIC_HELP.values())}),
                 hide_index=True, width="stretch")
    st.subheader("Sharing a link")
    st.markdown("Every setting and every variant is in the address bar, so a copied link opens the same "
                "experiment. The format:")
    st.code(controls.__doc__.split("URL query string", 1)[1].strip(), language="text")
    st.subheader("This server")
    try:
        from dashboard import hosted

        st.markdown(hosted.limits().describe())
    except Exception as e:  # noqa: BLE001
        st.error(f"The server's limits are misconfigured: {e}")
    st.caption("Every finished experiment is kept in the server's run store and served at once to anyone who "
               "asks for the same settings again; identical requests in flight are trained once.")
