"""Training data attribution dashboard: the router. Run with ``streamlit run dashboard.py``.

Each step of the workflow is one page under pages/; this file only sets up the shared frame.
"""

import streamlit as st

from ui import frame, state

st.set_page_config(page_title="Training data attribution", page_icon=":material/troubleshoot:", layout="wide")
state.init()

page = st.navigation(
    [
        st.Page(frame.PAGES["data"], title="1 · Data & model", icon=":material/dataset:", default=True),
        st.Page(frame.PAGES["errors"], title="2 · Errors", icon=":material/grid_on:"),
        st.Page(frame.PAGES["attribution"], title="3 · Attribution", icon=":material/troubleshoot:"),
        st.Page(frame.PAGES["fix"], title="4 · Fix", icon=":material/build:"),
    ]
)
frame.sidebar()
page.run()
