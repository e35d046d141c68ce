"""The shared frame around every page: the sidebar summary and the gate to a ready analysis."""

from __future__ import annotations

import streamlit as st

from tda_core.cache import cache_dir
from tda_core.data import DEMOS
from tda_core.exceptions import TDAError
from tda_core.metrics import METRIC_LABELS

from . import loaders, state
from .progress import ensure_baseline

PAGES = {
    "data": "pages/1_data_and_model.py",
    "errors": "pages/2_errors.py",
    "attribution": "pages/3_attribution.py",
    "fix": "pages/4_fix.py",
}


def sidebar() -> None:
    """What the pages are working on, in a few lines."""
    with st.sidebar:
        st.caption("CURRENT CHOICES")
        source = state.get(state.SOURCE)
        upload = state.get(state.UPLOAD)
        if source == "demo":
            st.markdown(f"**Data** demo `{state.get(state.DEMO)}`")
        else:
            st.markdown(f"**Data** {upload.name if upload else '*(no upload yet)*'}")
        model = state.get(state.MODEL_UPLOAD)
        scheme = "checkpoints of one run" if state.get(state.MEMBERS) == "checkpoints" else "independent seeds"
        network = f" · {state.get(state.NET_MODE)} mode, {state.get(state.EPOCHS) or 'default'} epochs, {scheme}" \
            if source == "images" or (source == "demo" and DEMOS[state.get(state.DEMO)].kind == "images") else ""
        candidates = f" · candidate mode, top {state.get(state.CANDIDATES)}" if state.get(state.USE_CANDIDATES) else ""
        st.markdown(f"**Model** {model.name if model else 'recipe `' + str(state.get(state.RECIPE)) + '`'}"
                    f" × {state.get(state.ENSEMBLE)} members{network}{candidates}")
        group = state.get(state.GROUP)
        if group:
            tests = state.get(state.TESTS)
            st.markdown(f"**Errors** {group[0]} → {group[1]}" + (f" ({len(tests)} chosen)" if tests else ""))
        st.markdown(f"**Attribution** {state.get(state.ACTION)} · {METRIC_LABELS[state.get(state.METRIC)]}"
                    f" · size {state.get(state.SIZE)}"
                    + (" · candidate groups" if state.get(state.UNIT) == "group" else ""))
        st.caption(f"Retrained models are cached in `{cache_dir()}`; the numbers come from real retraining.")


def require_analysis() -> loaders.Current:
    """The current analysis with its baseline trained; otherwise say what is missing and stop."""
    try:
        current = loaders.current()
    except TDAError as exc:
        st.error(str(exc))
        st.page_link(PAGES["data"], label="Fix it on the data & model page", icon=":material/arrow_back:")
        st.stop()
    if current is None:
        st.info("Choose a dataset first.")
        st.page_link(PAGES["data"], label="Go to data & model", icon=":material/arrow_back:")
        st.stop()
    try:
        ensure_baseline(current.analysis)
    except TDAError as exc:
        st.error(str(exc))
        st.stop()
    return current


def require_group(current: loaders.Current):
    """The chosen error group (narrowed to the chosen test samples), or stop with a pointer."""
    group = state.get(state.GROUP)
    if not group:
        if not current.analysis.errors.groups:
            st.success("The baseline ensemble makes no test errors: there is nothing to attribute.")
        else:
            st.info("Pick an error group on the errors page first.")
            st.page_link(PAGES["errors"], label="Go to errors", icon=":material/arrow_back:")
        st.stop()
    try:
        return current.analysis.group(group[0], group[1], state.get(state.TESTS) or None)
    except TDAError as exc:
        st.error(str(exc))
        st.stop()
