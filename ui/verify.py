"""Verify a fix: retrain the ensemble on the corrected training set (tda_core.verify, through
the engine, with progress and Stop) and show the chosen errors and the global accuracy before and
after. It covers every fix, hand edits that remove and relabel at once included."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from tda_core import TDAError, Verification, verify

from . import loaders
from .frame import stop
from .progress import retraining, stopped_here

RESULTS = "verifications"  # {key: Verification} kept for this session
ASKED = "verify_asked"  # keys of the verifications the user asked for


def key_of(current: loaders.Current, y: np.ndarray, weight: np.ndarray) -> str:
    digest = hashlib.sha256(np.asarray(y).tobytes() + np.asarray(weight, dtype=np.float64).tobytes()).hexdigest()[:16]
    return f"{current.data.fingerprint}|{current.recipe.fingerprint()}|{current.config!r}|{digest}"


def errors_frame(data, check: Verification) -> pd.DataFrame:
    tests = list(check.test_indices)
    classes = data.classes
    return pd.DataFrame({
        "test #": tests,
        "true": [classes[data.y_test[t]] for t in tests],
        "predicted before": [classes[check.predicted_before[t]] for t in tests],
        "predicted after": [classes[check.predicted_after[t]] for t in tests],
        "fixed": [bool(check.correct_after[t] and not check.correct_before[t]) for t in tests],
    })


def section(current: loaders.Current, y: np.ndarray, weight: np.ndarray, tests: Sequence[int], what: str) -> None:
    """The verify step below an export: a button, then the retraining, then before/after."""
    st.subheader("Verify the fix")
    st.caption(f"Retrains the ensemble ({len(current.analysis.members)} member"
               f"{'' if len(current.analysis.members) == 1 else 's'}, the same recipe and seeds) on the corrected "
               f"training set ({what}), as you would after loading the export, and compares it with the original on "
               "the chosen errors and the whole test set (the ensemble's mean prediction).")
    key = key_of(current, y, weight)
    results: dict = st.session_state.setdefault(RESULTS, {})
    asked: set = st.session_state.setdefault(ASKED, set())
    if key not in results:
        if key not in asked:
            st.button("Verify: retrain on the corrected set", icon=":material/fact_check:", key=f"verify:{key}",
                      on_click=asked.add, args=(key,))
            return
        label = "Verifying: retraining the ensemble on the corrected training set"
        if stopped_here(label):
            stop()
        try:
            with retraining(label) as progress:
                results[key] = verify(current.analysis, y, weight, tests, progress)
        except TDAError as exc:
            st.error(str(exc))
            return
    check = results[key]
    with st.container(horizontal=True, gap="medium"):
        st.metric("Test accuracy before", f"{check.accuracy_before:.3f}", width="content")
        change = check.accuracy_after - check.accuracy_before
        st.metric("Test accuracy after the fix", f"{check.accuracy_after:.3f}", width="content",
                  delta=f"{change:+.3f}" + ("" if len(check.member_accuracy_after) < 2
                                            else f" · members ± {check.accuracy_after_std:.3f}"),
                  delta_color="off" if abs(change) < 1e-12 else "normal")
        st.metric("Chosen errors fixed", f"{check.errors_fixed} of {len(check.test_indices)}", width="content")
        st.metric("New errors after the fix", f"{check.errors_new}", width="content",
                  help="Test samples anywhere that the original ensemble got right and the retrained one gets wrong.")
    st.caption(f"Retrained on {check.n_train_after:,} training rows.")
    st.dataframe(errors_frame(current.data, check), hide_index=True, width="stretch", key="verify_errors",
                 height=min(320, 38 + 35 * len(check.test_indices)))
