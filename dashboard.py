"""Training data attribution dashboard: the router. Run with ``streamlit run dashboard.py``.

Each step of the workflow is one page under pages/; this file only sets up the shared frame:
the page icon (a local file: nothing is fetched from another machine), the navigation, and,
after the page has run, the sidebar drawn from the state the page used and the choices written
into the URL (``st.query_params``), so that a reload or a shared link restores the view.
"""

from pathlib import Path

import streamlit as st

from ui import frame, state

ICON = str(Path(__file__).resolve().parent / "ui" / "icon.png")

st.set_page_config(page_title="Training data attribution", page_icon=ICON, layout="wide")
state.init()

# The navigation is drawn by the frame (page links at the top of the sidebar), and Streamlit's own
# list of the pages/ folder is switched off (.streamlit/config.toml), so it never flashes first.
page = st.navigation([st.Page(path, title=title, icon=icon, default=name == "data")
                      for name, (path, title, icon) in frame.NAVIGATION.items()], position="hidden")
frame.navigation()
with frame.routed():  # a page that said what is missing ends early; the frame is still drawn
    page.run()
frame.sidebar()
state.to_url()
