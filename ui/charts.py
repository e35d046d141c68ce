"""Altair charts of the engine's results. They draw numbers; they compute none."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from tda_core.attribution import TestEffect

CELL = "cell"  # name of the confusion matrix's point selection
BLUE, ORANGE, GREY = "#1f77b4", "#ff7f0e", "#9e9e9e"


def confusion_chart(matrix: np.ndarray, classes: Sequence[str], title: str,
                    selected: tuple[str, str] | None = None, selectable: bool = False) -> alt.LayerChart:
    """Rows are the true class, columns the predicted class; errors are the off-diagonal cells."""
    rows = [
        {"true": t, "predicted": p, "count": int(matrix[i, j]), "error": i != j,
         "chosen": selected is not None and (t, p) == tuple(selected)}
        for i, t in enumerate(classes) for j, p in enumerate(classes)
    ]
    frame = pd.DataFrame(rows)
    step = max(28, min(64, 360 // max(1, len(classes))))  # pixels per cell
    base = alt.Chart(frame, title=title).encode(
        x=alt.X("predicted:N", sort=list(classes), title="predicted class", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("true:N", sort=list(classes), title="true class"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), legend=None),
        stroke=alt.condition("datum.chosen", alt.value(ORANGE), alt.value("white")),
        strokeWidth=alt.condition("datum.chosen", alt.value(4), alt.value(1)),
        tooltip=[alt.Tooltip("true:N", title="true"), alt.Tooltip("predicted:N", title="predicted"), "count:Q"],
    )
    if selectable:
        cells = cells.add_params(alt.selection_point(name=CELL, fields=["true", "predicted"], on="click", toggle=False))
    limit = float(matrix.max()) / 2 if matrix.size else 0
    text = base.mark_text(fontSize=13 if len(classes) <= 6 else 10).encode(
        text="count:Q",
        color=alt.condition(f"datum.count > {limit}", alt.value("white"), alt.value("black")),
    )
    return alt.layer(cells, text).properties(width=alt.Step(step), height=alt.Step(step))


def class_balance_chart(counts: pd.DataFrame) -> alt.Chart:
    """``counts`` has columns class, split (train/test) and share."""
    # One bar per (class, split), labelled directly: grouped bars with yOffset squash at small heights.
    frame = counts.assign(bar=counts["class"].astype(str) + " · " + counts["split"].astype(str),
                          order=counts["split"].map({"train": 0, "test": 1}))
    frame = frame.sort_values(["class", "order"], kind="stable")
    return alt.Chart(frame).mark_bar().encode(
        y=alt.Y("bar:N", title=None, sort=list(frame["bar"])),
        x=alt.X("share:Q", title="share of rows", axis=alt.Axis(format="%")),
        color=alt.Color("split:N", scale=alt.Scale(domain=["train", "test"], range=[BLUE, ORANGE]), title=None,
                        legend=alt.Legend(orient="bottom")),
        tooltip=["class:N", "split:N", "rows:Q", alt.Tooltip("share:Q", format=".1%")],
    ).properties(height=alt.Step(20))


def effect_bars(top: pd.DataFrame, metric_label: str, unit: str = "sample") -> alt.LayerChart | alt.Chart:
    """Effect mean +- std of the top of a ranking: ``top`` comes from tables.ranking_frame
    (``unit="sample"``) or tables.group_ranking_frame (``unit="group"``). Without a spread
    (a deterministic model) the bars stand alone, and without p-values "significant" means improving."""
    if unit == "group":
        names, chosen, title = top["group"].astype(str), top["best"], "candidate group (ranked)"
    else:
        names, chosen, title = top["train index"].map(lambda i: f"#{i}"), top["selected"], "training sample (ranked)"
    frame = top.assign(
        sample=names,
        status=np.where(chosen, "selected", np.where(top["significant"], "significant", "not significant")),
    )
    spread = "± std" in frame.columns
    if spread:
        frame = frame.assign(low=frame["effect"] - frame["± std"], high=frame["effect"] + frame["± std"])
    numeric_p = pd.api.types.is_numeric_dtype(frame["p-value"])
    frame = frame[[c for c in ("sample", "status", "effect", "± std", "p-value", "low", "high") if c in frame.columns]]
    order = list(frame["sample"])
    y = alt.Y("sample:N", sort=order, title=title, axis=alt.Axis(labelLimit=160))
    tooltip = ["sample:N", alt.Tooltip("effect:Q", format=".4g")]
    if spread:
        tooltip.append(alt.Tooltip("± std:Q", format=".2g"))
    tooltip.append(alt.Tooltip("p-value:Q", format=".2g") if numeric_p else "p-value:N")
    bars = alt.Chart(frame).mark_bar().encode(
        y=y,
        x=alt.X("effect:Q", title=f"change of {metric_label}"),
        color=alt.Color("status:N", scale=alt.Scale(domain=["selected", "significant", "not significant"],
                                                    range=[ORANGE, BLUE, GREY]), title=None,
                        legend=alt.Legend(orient="bottom")),
        tooltip=tooltip,
    )
    height = alt.Step(20)  # every bar keeps room for its label
    if not spread:
        return bars.properties(height=height)
    errors = alt.Chart(frame).mark_errorbar(ticks=True).encode(y=y, x=alt.X("low:Q", title=""), x2="high:Q")
    return alt.layer(bars, errors).properties(height=height)


def before_after_chart(per_test: Sequence[TestEffect], metric_label: str) -> alt.LayerChart:
    """Each chosen test sample's metric before and after the edit, mean ± std over members."""
    rows = []
    for t in per_test:
        rows.append({"test sample": f"#{t.test_index}", "when": "before", "mean": t.before_mean, "std": t.before_std})
        rows.append({"test sample": f"#{t.test_index}", "when": "after", "mean": t.after_mean, "std": t.after_std})
    frame = pd.DataFrame(rows)
    frame["low"], frame["high"] = frame["mean"] - frame["std"].fillna(0), frame["mean"] + frame["std"].fillna(0)
    order = [f"#{t.test_index}" for t in per_test]
    y = alt.Y("test sample:N", sort=order, title="test sample")
    color = alt.Color("when:N", scale=alt.Scale(domain=["before", "after"], range=[GREY, ORANGE]), title=None)
    link = alt.Chart(frame).mark_line(color=GREY, strokeDash=[2, 2]).encode(y=y, x="mean:Q", detail="test sample:N")
    points = alt.Chart(frame).mark_point(filled=True, size=70).encode(
        y=y, x=alt.X("mean:Q", title=metric_label), color=color,
        tooltip=["test sample:N", "when:N", alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("std:Q", format=".2g")],
    )
    errors = alt.Chart(frame).mark_errorbar(ticks=True).encode(y=y, x=alt.X("low:Q", title=""), x2="high:Q", color=color)
    return alt.layer(link, errors, points).properties(height=alt.Step(22))  # every test sample keeps its label
