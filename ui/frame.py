"""The shared frame around every page: the sidebar summary and the gate to a ready analysis.

Pages end early with :func:`stop` (not ``st.stop``), so that the router still draws the sidebar
after the page, from the state the page used, and writes the choices into the URL.
"""

from __future__ import annotations

import contextlib
import runpy
import threading
from collections.abc import Iterator
from pathlib import Path

import streamlit as st

from tda_core import METRIC_LABELS, SLICE, TDAError, cache_dir
from tda_core.data import DEMOS

from . import cost, loaders, state, tables
from .progress import ensure_baseline

PAGES = {
    "data": "pages/1_data_and_model.py",
    "errors": "pages/2_errors.py",
    "attribution": "pages/3_attribution.py",
    "fix": "pages/4_fix.py",
    "compare": "pages/5_compare.py",
}

NAVIGATION = {
    "data": (PAGES["data"], "1 · Data & model", ":material/dataset:"),
    "errors": (PAGES["errors"], "2 · Errors", ":material/grid_on:"),
    "attribution": (PAGES["attribution"], "3 · Attribution", ":material/troubleshoot:"),
    # a view of step 3 (reached from the attribution page), listed under it: the steps keep their numbers
    "compare": (PAGES["compare"], "3b · Compare actions", ":material/compare_arrows:"),
    "fix": (PAGES["fix"], "4 · Fix", ":material/build:"),
}


def navigation() -> None:
    """The workflow's steps as links at the top of the sidebar."""
    with st.sidebar:
        for path, title, icon in NAVIGATION.values():
            st.page_link(path, label=title, icon=icon)
        st.divider()


class PageStop(Exception):
    """Raised by :func:`stop`: the page has said what is missing and ends here."""


_ROUTED = threading.local()


@contextlib.contextmanager
def routed() -> Iterator[None]:
    """The router runs the page inside this: :func:`stop` then ends only the page."""
    _ROUTED.active = True
    try:
        with contextlib.suppress(PageStop):
            yield
    finally:
        _ROUTED.active = False


DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard.py"


def enter() -> None:
    """The first line of every page. Streamlit runs a file of the pages/ folder on its own (without
    the router) in the first run of a fresh server process that is opened at that page's address,
    and AppTest's ``switch_page`` does so on every run: then run the router instead, which draws
    the frame and runs this page inside it, and end the page's own run."""
    if getattr(_ROUTED, "active", False):
        return
    runpy.run_path(str(DASHBOARD), run_name="__main__")
    st.stop()


def stop() -> None:
    """End the page here. Under the router the frame is still drawn; a page that runs on its own
    (Streamlit's pages/ folder mode, as AppTest's ``switch_page`` runs it) stops with ``st.stop``."""
    if getattr(_ROUTED, "active", False):
        raise PageStop
    st.stop()


def sidebar() -> None:
    """What the pages are working on, in a few lines (drawn after the page, from its state)."""
    with st.sidebar:
        st.caption("CURRENT CHOICES")
        chosen, errors, attribution = state.data(), state.errors(), state.attribution()
        source = chosen.source
        upload = chosen.upload
        pool = chosen.pool_upload
        pooled = f" · pool {pool.name}" if pool is not None else ""
        if source == "demo":
            st.markdown(f"**Data** demo `{chosen.demo}`{pooled}")
        else:
            st.markdown(f"**Data** {upload.name if upload else '*(no upload yet)*'}{pooled}")
        model = chosen.model_upload if chosen.model_source == "upload" else None
        scheme = "checkpoints of one run" if chosen.members == "checkpoints" else "independent seeds"
        epochs = chosen.epochs
        network = f" · {loaders.net_mode()} mode, {epochs or 'default'} epoch{'' if epochs == 1 else 's'}, {scheme}" \
            if source == "images" or (source == "demo" and DEMOS[chosen.demo].kind == "images") else ""
        candidates = f" · candidate mode, top {chosen.candidates}" if chosen.use_candidates else ""
        st.markdown(f"**Model** {model.name if model else 'recipe `' + str(chosen.recipe) + '`'}"
                    f" × {chosen.ensemble} members{network}{candidates}")
        group = errors.group
        if group:
            tests = errors.tests
            st.markdown(f"**Errors** {group_words(group)}"
                        + (f" ({', '.join(f'test #{t}' for t in tests[:5])}{' …' if len(tests) > 5 else ''})" if tests else ""))
        st.markdown(f"**Attribution** {attribution.action} · {METRIC_LABELS[attribution.metric]}"
                    f" · size {attribution.size}"
                    + (" · candidate groups" if attribution.unit == "group" else ""))
        st.caption(f"Retrained models are cached in `{cache_dir()}`; the numbers come from real retraining. "
                   "The address bar holds these choices: reload or share it to come back to this view"
                   + (" (an uploaded file must be uploaded again)." if source != "demo" else "."))


def group_words(group: tuple[str, str]) -> str:
    """A chosen group in words: 'good → bad', or 'slice tree-1' for an error slice."""
    return f"slice {group[1]}" if group[0] == SLICE else f"{group[0]} → {group[1]}"


def require_analysis() -> loaders.Current:
    """The current analysis with its baseline trained; otherwise say what is missing and stop."""
    state.init()  # where a page runs without the router
    try:
        current = loaders.current()
    except TDAError as exc:
        st.error(str(exc))
        st.page_link(PAGES["data"], label="Fix it on the data & model page", icon=":material/arrow_back:")
        stop()
    if current is None:
        if state.notes().url_upload and state.data().upload is None:
            st.info(f"This link names an uploaded file, {state.notes().url_upload}: an upload cannot be restored "
                    "from a link. Upload it again on the data & model page; the other choices of the link are kept.")
        else:
            st.info("Choose a dataset first.")
        st.page_link(PAGES["data"], label="Go to data & model", icon=":material/arrow_back:")
        stop()
    try:
        if not ensure_baseline(current.analysis):
            stop()
    except TDAError as exc:
        st.error(str(exc))
        stop()
    return current


def rate_key(current: loaders.Current) -> str:
    return cost.rate_key(current.data.fingerprint, current.recipe.fingerprint())


def no_errors(current: loaders.Current) -> None:
    """No test errors: what to try next, and the correct predictions closest to being errors."""
    data = current.data
    st.success(f"The baseline ensemble makes no test errors on these {tables.count(data.n_test, 'test sample')}.")
    tries = []
    if state.data().source == "table" and state.data().test_mode == "split":
        tries.append(f"**a larger test fraction** (now {float(state.data().test_size):.0%}) on the data page: more "
                     "test samples, more chances of an error")
    tries.append("**a weaker model**: another training recipe (logistic-sgd instead of a converged one), fewer epochs, or "
                 "your own simpler model")
    tries.append("**the least confident correct predictions** below: the test samples nearest to an error, whose "
                 "training data you can inspect the same way once one of them is wrong")
    st.markdown("What to try next:\n" + "\n".join(f"- {t}" for t in tries))
    st.page_link(PAGES["data"], label="Data & model: the split and the recipe", icon=":material/tune:")
    st.markdown("**The least confident correct predictions** (margin: probability of the true class minus the next one)")
    st.dataframe(tables.closest_to_errors(current.analysis.errors, data), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("p(true)", "p(next)", "margin")})


def require_group(current: loaders.Current):
    """The chosen error group (narrowed to the chosen test samples), or stop with a pointer."""
    group = state.errors().group
    if not group:
        if not current.analysis.errors.groups:
            no_errors(current)
        else:
            st.info("Pick an error group on the errors page first.")
            st.page_link(PAGES["errors"], label="Go to errors", icon=":material/arrow_back:")
        stop()
    try:
        whole = current.analysis.group(group[0], group[1])
    except TDAError as exc:
        st.error(str(exc))
        stop()
    tests = tuple(state.errors().tests or ())
    kept = tuple(t for t in tests if t in set(whole.test_indices))
    if kept != tests:  # e.g. a link made with another model: use what still applies
        state.update(state.ERRORS_STEP, tests=kept)
        st.caption(f"{len(tests) - len(kept)} of the chosen test samples are not in {group_words(group)} any more; "
                   + ("using the others." if kept else "using the whole group."))
    return current.analysis.group(group[0], group[1], kept or None)
