"""Similar training samples beside the ranking (attribution page): the nearest training samples to
the chosen errors in the model's representation (tda_core._similar), with their measured effects,
and how far "similar" agrees with "influential". Nothing here computes a number."""

from __future__ import annotations

import numpy as np
import streamlit as st

from tda_core import DEFAULT_K, POOL, Analysis, Attribution, ModelError, SimilarSamples, similar_samples
from tda_core.data import Dataset

from . import tables
from .gallery import gallery

#: Above this Spearman correlation the similar samples are also, broadly, the influential ones.
AGREE = 0.5


def agreement(spearman: float | None, kind: str = "training") -> str:
    """The Spearman number in words (one sentence on when the two disagree); ``kind``: the
    samples ranked ("training", or "pool" beside an add ranking)."""
    if spearman is None:
        return "No correlation can be computed here (fewer than 3 ranked samples, or no spread)."
    if spearman >= AGREE:
        verdict = "similarity and influence broadly agree here"
    elif spearman > 0.1:
        verdict = "similarity is only a weak guide to influence here"
    else:
        verdict = "similarity is no guide to influence here"
    if kind == "pool":
        return (f"Spearman ρ(closeness, improvement) = **{spearman:+.2f}** over every ranked pool sample: {verdict}. "
                "They disagree when the pool samples that look like the error carry its wrong class, or add nothing the "
                "training set does not already hold, or when what moves the error lies elsewhere in the representation.")
    return (f"Spearman ρ(closeness, improvement) = **{spearman:+.2f}** over every ranked training sample: {verdict}. "
            "They disagree when the samples that look like the error are redundant (many near-duplicates, so removing "
            "one changes nothing) or when what moves the error lies elsewhere (a mislabeled or atypical sample far "
            "from it in the representation).")


def similar_view(analysis: Analysis, data: Dataset, result: Attribution, metric_label: str,
                 raw: bool = False) -> SimilarSamples | None:
    """The section on the attribution page (single-sample rankings); None without a representation.
    Beside an add ranking, the nearest POOL samples. ``raw``: show the raw change of the metric too,
    as the ranking above does."""
    among = result.ranking.subject  # beside an add ranking, the pool
    kind = among.noun.split()[0]  # "training", "pool"
    st.subheader(f"Similar {kind} samples")
    try:
        similar = similar_samples(analysis, result.group.test_indices, DEFAULT_K, ranking=result.ranking, among=among)
    except ModelError as exc:  # a model without a representation: nothing to be similar in
        st.info(f"No similar samples: {exc}")
        return None
    st.caption(f"The {DEFAULT_K} {kind} samples nearest the chosen errors in the model's representation (Euclidean "
               "distance, standardised features, to the nearest chosen error), nearest first, beside their effect "
               f"measured by retraining above: their place in the ranking and the improvement of the {metric_label}"
               + (" when each is added." if among is POOL else "."))
    st.markdown(agreement(similar.spearman, kind))
    frame = tables.similar_frame(analysis, similar, result.ranking)
    p_column = (st.column_config.NumberColumn(format="%.2e") if np.isfinite(frame["p-value"]).any()
                else st.column_config.NumberColumn(help="No p-value applies (deterministic model or a single run)."))
    with st.container(key=f"{tables.WIDE}_similar"):  # the samples' features scroll; the distance columns fit
        st.dataframe(
            tables.coloured(frame, ["improvement"]), hide_index=True, width="stretch", key="similar_table",
            column_order=[c for c in frame.columns if raw or c != "change"],
            column_config={
                "distance": st.column_config.NumberColumn(format="%.3f"),
                "rank by effect": st.column_config.NumberColumn(format="%d", help=f"Place in the ranking of "
                                                                f"{len(result.ranking.index):,} (1 = most improving)"),
                "improvement": st.column_config.NumberColumn(format="%+.5f"),
                "change": st.column_config.NumberColumn(f"change of {metric_label}", format="%+.5f"),
                "p-value": p_column,
            },
        )
    if data.kind == "images":
        gallery(among.thumbnails(data), list(similar.indices),
                tables.similar_captions(frame), cap=DEFAULT_K)
    return similar
