"""Explain and share on the attribution page: feature attributions of the chosen error beside its
top training samples (computed on request, kept in the session), and the triage report download.
Nothing here computes a number: the attributions and the report are the engine's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from tda_core import (
    TRAINING,
    FeatureAttribution,
    TDAError,
    build_report,
    feature_attribution,
    saliency_overlay,
    top_train_indices,
)

from . import exports, state

FEATURES = "feature_attributions"  # {(analysis identity, test index, train indices): FeatureAttribution | message}
SHOW_FEATURES = "show_features"  # the user asked for the feature attributions
KEEP = 8  # attributions kept in the session
SHARED_MARK = " ★"
K = 5  # training samples shown beside the error


def inputs(result: Any) -> tuple[int, tuple[int, ...]]:
    """The error (the group's first chosen test sample) and its top training samples: the selected
    ones, else the top of the ranking (for candidate groups: the best group's members), at most K."""
    return int(result.group.test_indices[0]), tuple(int(i) for i in top_train_indices(result, K))


def cache_key(test_index: int, train: Sequence[int]) -> tuple[Any, int, tuple[int, ...]]:
    return (state.analysis_id(), int(test_index), tuple(int(i) for i in train))


def attribution_for(analysis: Any, result: Any) -> FeatureAttribution | str:
    """The feature attributions for ``result`` (computed once per analysis, error and training
    samples), or the engine's reason in words why there are none."""
    test_index, train = inputs(result)
    key = cache_key(test_index, train)
    kept: dict = st.session_state.setdefault(FEATURES, {})
    if key not in kept:
        try:
            slice_ = result.group.is_slice  # a slice mixes class pairs: each error's own classes
            kept[key] = feature_attribution(analysis, test_index, list(train), pred=None if slice_ else result.group.pred,
                                            true=None if slice_ else result.group.true)
        except TDAError as exc:  # an unsupported model, a correct prediction
            kept[key] = str(exc)
        while len(kept) > KEEP:
            kept.pop(next(iter(kept)))
    return kept[key]


def heat_colour(scale: float):
    """Red toward the predicted class, blue away from it, white at 0 (as on the saliency overlays)."""
    def colour(value) -> str:
        if not isinstance(value, (int, float)) or not np.isfinite(value) or scale <= 0:
            return ""
        a = min(abs(float(value)) / scale, 1.0) * 0.75
        rgb = "220, 50, 47" if value > 0 else "38, 110, 200"
        return f"background-color: rgba({rgb}, {a:.3f})" if a > 0 else ""
    return colour


def heatmap_frame(fa: FeatureAttribution) -> pd.DataFrame:
    """``fa.records()`` as a table, the shared features' columns marked with a star."""
    frame = pd.DataFrame(fa.records())
    return frame.rename(columns={f: f + SHARED_MARK for f in fa.shared})


def feature_view(analysis: Any, data: Any, result: Any) -> None:
    """The feature attribution section (an expander; computed when the user switches it on)."""
    if result.ranking.subject is not TRAINING:  # as the engine's report says: not for pool samples
        st.caption("Feature attributions are computed beside training samples: an add ranking lists pool samples, so "
                   "they are not shown here. The triage report below has the ranking and the group effect.")
        return
    test_index, train = inputs(result)
    names = ", ".join(f"train #{i}" for i in train)
    with st.expander(f"Feature attribution · test #{test_index} and {names or 'no training sample'}", expanded=False):
        toward = "its predicted class" if result.group.is_slice else \
            f"the predicted class **{result.group.pred}** (against **{result.group.true}**)"
        st.caption(f"Which features push the error, and its top training samples, toward {toward}, on the baseline "
                   "model of the first member.")
        if not st.toggle("Compute the feature attributions", key=SHOW_FEATURES):
            return
        fa = attribution_for(analysis, result)
        if isinstance(fa, str):
            st.info(fa)
            return
        st.markdown(fa.sentence)
        st.caption(f"Method: {fa.method}. Red pushes toward {fa.pred}, blue away from it; ★ marks the features the "
                   "error and its training samples share (the same sign, among the 3 largest).")
        table = heatmap_frame(fa)
        values = table.drop(columns="sample").to_numpy(dtype=float)
        scale = float(np.nanmax(np.abs(values))) if values.size else 0.0
        st.dataframe(table.style.map(heat_colour(scale), subset=list(table.columns[1:])).format(precision=4, subset=list(table.columns[1:])),
                     hide_index=True, width="stretch", key="feature_table")
        if fa.error_map is not None and data.thumbnails_test is not None and data.thumbnails_train is not None:
            pictures = [saliency_overlay(np.asarray(data.thumbnails_test[test_index]), fa.error_map)]
            pictures += [saliency_overlay(np.asarray(data.thumbnails_train[i]), fa.train_maps[k]) for k, i in enumerate(fa.train_indices)]
            captions = [f"test #{test_index} (error)"] + [f"train #{i}" for i in fa.train_indices]
            cols = st.columns(len(pictures))
            for col, picture, caption in zip(cols, pictures, captions):
                with col:
                    st.image(picture, width="stretch")
                    st.caption(caption)


def report_button(analysis: Any, data: Any, result: Any) -> None:
    """The self-contained triage report, built when the user clicks (the feature attributions
    already computed in this session are reused)."""
    test_index, train = inputs(result)
    kept = st.session_state.get(FEATURES, {}).get(cache_key(test_index, train))

    def report() -> bytes:
        from tda_core import triage_report

        if isinstance(kept, FeatureAttribution):
            return triage_report(analysis, result, kept).encode()
        return build_report(analysis, result).encode()

    st.download_button("Triage report (HTML)", report, file_name=f"{exports.stem(data.name)}-triage.html", mime="text/html",
                       icon=":material/download:", on_click="ignore", key="triage_report",
                       help="One HTML file that opens offline: data and model, errors, settings, the ranking (top 50), "
                            "the group effect, warnings and the feature attributions.")
