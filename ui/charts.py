"""Altair charts of the engine's results. They draw numbers; they compute none."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from tda_core import TestEffect, cell_colours

CELL = "cell"  # name of the confusion matrix's point selection
BLUE, ORANGE, GREY = "#1f77b4", "#ff7f0e", "#9e9e9e"
POOL_COLOUR = "#8e6fb5"  # the pool's bars: neither the train/test pair nor a good/bad colour
#: Better / worse, the same on every chart (and as Streamlit colours a metric's delta).
GREEN, RED, GREEN_LIGHT, RED_LIGHT = "#2e7d32", "#c62828", "#a5d6a7", "#ef9a9a"
NO_CHANGE = 1e-12
#: Each action's hue on the compare scatter: none of them the red or green of worse and better.
ACTION_COLOURS = {"remove": BLUE, "relabel": "#8e6fb5", "upweight": ORANGE, "add": "#17becf"}
EXTRA_ACTION_COLOURS = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]


def matrix_step(n_classes: int) -> int:
    """Pixels per confusion cell: two matrices of up to 20 classes fit beside their labels, and the
    three of a before/after/change row of 10 classes side by side in a 1920 px window."""
    return max(18, min(48, 300 // max(1, n_classes)))


def label_limit(n_classes: int) -> int:
    """Pixels of a class name on a matrix axis (longer names end in …; the tooltip has them whole):
    30 characters fit up to 10 classes, 20 characters beyond."""
    return 170 if n_classes <= 10 else 120


def _matrix_axes(classes: Sequence[str]) -> tuple[alt.X, alt.Y]:
    angle = 0 if len(classes) <= 6 and max(len(str(c)) for c in classes) <= 6 else -45
    limit = label_limit(len(classes))
    x = alt.X("predicted:N", sort=list(classes), title="predicted class",
              axis=alt.Axis(labelAngle=angle, orient="top", labelLimit=limit, labelOverlap=False))
    y = alt.Y("true:N", sort=list(classes), title="true class", axis=alt.Axis(labelLimit=limit, labelOverlap=False))
    return x, y


def confusion_chart(matrix: np.ndarray, classes: Sequence[str], title: str,
                    selected: tuple[str, str] | None = None, selectable: bool = False) -> alt.LayerChart:
    """Rows are the true class, columns the predicted class. Correct counts (the diagonal) are blue,
    errors (off the diagonal) are orange to red, and an empty cell has no colour: the colours of
    :func:`tda_core.cell_colours`, the triage report's too. Each count is written in black or
    white, whichever reads better on its cell (at least 4.5:1, WCAG AA), the chosen cell included."""
    colours = cell_colours(matrix)
    rows = [
        {"true": t, "predicted": p, "count": int(matrix[i, j]), "fill": colours[i][j][0], "ink": colours[i][j][1],
         "kind": "empty" if matrix[i, j] == 0 else ("correct" if i == j else "error"),
         "chosen": selected is not None and (t, p) == tuple(selected)}
        for i, t in enumerate(classes) for j, p in enumerate(classes)
    ]
    frame = pd.DataFrame(rows)
    step = matrix_step(len(classes))
    x, y = _matrix_axes(classes)
    base = alt.Chart(frame, title=title).encode(x=x, y=y)
    cells = base.mark_rect().encode(color=alt.Color("fill:N", scale=None, legend=None))
    frames = base.mark_rect(fillOpacity=0).encode(
        stroke=alt.condition("datum.chosen", alt.value("black"), alt.value("#dddddd")),
        strokeWidth=alt.condition("datum.chosen", alt.value(3), alt.value(1)),
        tooltip=[alt.Tooltip("true:N", title="true"), alt.Tooltip("predicted:N", title="predicted"), "count:Q"],
    )
    if selectable:
        frames = frames.add_params(alt.selection_point(name=CELL, fields=["true", "predicted"], on="click", toggle=False))
    size = 13 if len(classes) <= 6 else 10
    counts = base.transform_filter("datum.count > 0")
    text = alt.layer(*(counts.transform_filter(("" if chosen else "!") + "datum.chosen").mark_text(
        fontSize=size, fontWeight="bold" if chosen else "normal").encode(
        text="count:Q", color=alt.Color("ink:N", scale=None, legend=None)) for chosen in (False, True)))
    return alt.layer(cells, frames, text).properties(width=alt.Step(step), height=alt.Step(step))


def change_matrix_chart(before: np.ndarray, after: np.ndarray, classes: Sequence[str], title: str,
                        selected: tuple[str, str] | None = None) -> alt.LayerChart:
    """After minus before, coloured as better (green: more correct, fewer errors) or worse (red:
    fewer correct, more errors); a cell that did not change has no colour and no number."""
    diff = np.asarray(after) - np.asarray(before)
    rows = []
    for i, t in enumerate(classes):
        for j, p in enumerate(classes):
            d = int(diff[i, j])
            better = d if i == j else -d  # more correct, or fewer errors
            rows.append({"true": t, "predicted": p, "change": d, "text": f"{d:+d}" if d else "",
                         "effect": "no change" if d == 0 else ("better" if better > 0 else "worse"),
                         "chosen": selected is not None and (t, p) == tuple(selected)})
    frame = pd.DataFrame(rows)
    step = matrix_step(len(classes))
    x, y = _matrix_axes(classes)
    base = alt.Chart(frame, title=title).encode(x=x, y=y)
    cells = base.mark_rect().encode(
        color=alt.Color("effect:N", scale=alt.Scale(domain=["better", "worse", "no change"],
                                                    range=[GREEN_LIGHT, RED_LIGHT, "#ffffff"]),
                        legend=None),  # the caption above the matrices says it: a legend would be wider than 2 cells
        stroke=alt.condition("datum.chosen", alt.value("black"), alt.value("#dddddd")),
        strokeWidth=alt.condition("datum.chosen", alt.value(3), alt.value(1)),
        tooltip=[alt.Tooltip("true:N", title="true"), alt.Tooltip("predicted:N", title="predicted"),
                 alt.Tooltip("change:Q", title="after − before"), "effect:N"],
    )
    text = base.mark_text(fontSize=13 if len(classes) <= 6 else 10).encode(text="text:N")
    return alt.layer(cells, text).properties(width=alt.Step(step), height=alt.Step(step))


def class_balance_chart(counts: pd.DataFrame) -> alt.Chart:
    """``counts`` has columns class, split (train/test, and pool where the data have one) and share."""
    # One bar per (class, split), labelled directly: grouped bars with yOffset squash at small heights.
    frame = counts.assign(bar=counts["class"].astype(str) + " · " + counts["split"].astype(str),
                          order=counts["split"].map({"train": 0, "test": 1, "pool": 2}))
    frame = frame.sort_values(["class", "order"], kind="stable")
    splits = [s for s in ("train", "test", "pool") if s in set(frame["split"])]
    return alt.Chart(frame).mark_bar().encode(
        y=alt.Y("bar:N", title=None, sort=list(frame["bar"])),
        x=alt.X("share:Q", title="share of rows", axis=alt.Axis(format="%")),
        color=alt.Color("split:N", scale=alt.Scale(domain=splits, range=[BLUE, ORANGE, POOL_COLOUR][:len(splits)]), title=None,
                        legend=alt.Legend(orient="bottom")),
        tooltip=["class:N", "split:N", "rows:Q", alt.Tooltip("share:Q", format=".1%")],
    ).properties(height=alt.Step(20))


def effect_bars(top: pd.DataFrame, unit: str = "sample") -> alt.LayerChart | alt.Chart:
    """Improvement (positive: toward fixing the error, for every metric) mean ± std of the top of
    a ranking: ``top`` comes from tables.ranking_frame (``unit="sample"``) or
    tables.group_ranking_frame (``unit="group"``). Green improves, red worsens, grey is no change;
    the selected samples (the best group) are starred, and significant bars are solid."""
    if unit == "group":
        names = [("★ " if b else "") + str(g) for g, b in zip(top["group"], top["best"])]
        title = "candidate group (ranked)"
    else:
        word = "pool" if "pool #" in top.columns else "train"  # an add ranking lists pool samples
        names = [("★ " if s else "") + f"{word} #{i}" for i, s in zip(top[f"{word} #"], top["selected"])]
        title = f"{'pool' if word == 'pool' else 'training'} sample (ranked, ★ selected)"
    effect = np.where(top["improvement"] > NO_CHANGE, "improves",
                      np.where(top["improvement"] < -NO_CHANGE, "worsens", "no change"))
    frame = top.assign(sample=names, effect=effect,
                       significance=np.where(top["significant"], "significant", "not significant"))
    spread = "± std" in frame.columns
    if spread:
        frame = frame.assign(low=frame["improvement"] - frame["± std"], high=frame["improvement"] + frame["± std"])
    numeric_p = pd.api.types.is_numeric_dtype(frame["p-value"])
    keep = ("sample", "effect", "significance", "improvement", "± std", "p-value", "low", "high")
    frame = frame[[c for c in keep if c in frame.columns]]
    order = list(frame["sample"])
    y = alt.Y("sample:N", sort=order, title=title, axis=alt.Axis(labelLimit=160))
    tooltip = ["sample:N", alt.Tooltip("improvement:Q", format="+.4g")]
    if spread:
        tooltip.append(alt.Tooltip("± std:Q", format=".2g"))
    tooltip.append(alt.Tooltip("p-value:Q", format=".2g") if numeric_p else "p-value:N")
    bars = alt.Chart(frame).mark_bar().encode(
        y=y,
        x=alt.X("improvement:Q", title="improvement (→ toward fixing the error)"),
        color=alt.Color("effect:N", scale=alt.Scale(domain=["improves", "worsens", "no change"],
                                                    range=[GREEN, RED, GREY]), title=None,
                        legend=alt.Legend(orient="bottom")),
        opacity=alt.Opacity("significance:N", scale=alt.Scale(domain=["significant", "not significant"],
                                                               range=[1.0, 0.4]), legend=None),  # said in the caption
        tooltip=tooltip,
    )
    height = alt.Step(20)  # every bar keeps room for its label
    if not spread:
        return bars.properties(height=height)
    errors = alt.Chart(frame).mark_errorbar(ticks=True).encode(y=y, x=alt.X("low:Q", title=""), x2="high:Q")
    return alt.layer(bars, errors).properties(height=height)


ROW_HEIGHT = 34  # pixels per test sample in the before → after chart


def before_after_chart(per_test: Sequence[TestEffect], metric_label: str, better: str) -> alt.LayerChart:
    """Each chosen test sample's metric before and after the edit, mean ± std over members; the
    arrow's colour says whether it moved toward fixing the error. ``better``: 'higher is better'
    or 'lower is better'. A fixed height per test sample, so a few samples never collapse."""
    sign = 1.0 if better.startswith("higher") else -1.0
    rows = []
    for t in per_test:
        name = f"test #{t.test_index}"
        moved = sign * t.delta_mean
        effect = "improves" if moved > NO_CHANGE else ("worsens" if moved < -NO_CHANGE else "no change")
        rows.append({"test sample": name, "when": "before", "mean": t.before_mean, "std": t.before_std, "effect": effect})
        rows.append({"test sample": name, "when": "after", "mean": t.after_mean, "std": t.after_std, "effect": effect})
    frame = pd.DataFrame(rows)
    frame["low"], frame["high"] = frame["mean"] - frame["std"].fillna(0), frame["mean"] + frame["std"].fillna(0)
    order = [f"test #{t.test_index}" for t in per_test]
    y = alt.Y("test sample:N", sort=order, title=None, axis=alt.Axis(labelLimit=120))
    color = alt.Color("when:N", scale=alt.Scale(domain=["before", "after"], range=[GREY, ORANGE]), title=None,
                      legend=alt.Legend(orient="bottom"))
    link = alt.Chart(frame).mark_line(strokeWidth=4).encode(
        y=y, x="mean:Q", detail="test sample:N",
        color=alt.Color("effect:N", scale=alt.Scale(domain=["improves", "worsens", "no change"], range=[GREEN, RED, GREY]),
                        legend=None))
    points = alt.Chart(frame).mark_point(filled=True, size=70).encode(
        y=y, x=alt.X("mean:Q", title=f"{metric_label} ({better})"), color=color,
        tooltip=["test sample:N", "when:N", alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("std:Q", format=".2g")],
    )
    errors = alt.Chart(frame).mark_errorbar(ticks=True, opacity=0.45, thickness=1).encode(
        y=y, x=alt.X("low:Q", title=""), x2="high:Q",
        color=alt.Color("when:N", scale=alt.Scale(domain=["before", "after"], range=[GREY, ORANGE]), legend=None))
    # The whiskers first and faint, the arrow's colour over them (green stays green), the points on top.
    # A height per row (a fixed total height collapses the rows into one line in Streamlit's renderer).
    return alt.layer(errors, link, points).resolve_scale(color="independent").properties(height=alt.Step(ROW_HEIGHT))


def compare_scatter(settings: pd.DataFrame, metric_label: str) -> alt.LayerChart:
    """Each (action, size) setting of the compare view: improvement of the metric on the chosen
    errors (right = better, for every metric) against the change of global accuracy (up = better),
    mean ± std over members. ``settings`` comes from ui.comparing.settings_frame; the best setting
    is ringed and named. Colours follow whatever actions the frame holds."""
    frame = settings.assign(
        setting=[f"{a} · {s}" for a, s in zip(settings["action"], settings["size"])],
        x_low=settings["improvement"] - settings["± std"].fillna(0),
        x_high=settings["improvement"] + settings["± std"].fillna(0),
        y_low=settings["accuracy Δ"] - settings["accuracy ± std"].fillna(0),
        y_high=settings["accuracy Δ"] + settings["accuracy ± std"].fillna(0),
    )[["setting", "action", "size", "best", "improvement", "± std", "accuracy Δ", "accuracy ± std", "net benefit",
       "fixed", "new errors", "x_low", "x_high", "y_low", "y_high"]]
    x = alt.X("improvement:Q", title=f"improvement of the {metric_label} (→ toward fixing the error)")
    # A short title, kept whole (titleLimit) with room beside the labels: the long one was cut.
    y = alt.Y("accuracy Δ:Q", title="global accuracy Δ (↑ better)",
              axis=alt.Axis(titleLimit=360, titlePadding=8, format="+.3f"))
    # Hues that say nothing of better or worse: red and green mean worse and better everywhere else.
    actions = list(dict.fromkeys(settings["action"]))
    palette = [ACTION_COLOURS.get(a, extra) for a, extra in zip(actions, EXTRA_ACTION_COLOURS * 4)]
    colour = alt.Color("action:N", title="action", scale=alt.Scale(domain=actions, range=palette),
                       legend=alt.Legend(orient="bottom"))
    tooltip = ["setting:N", alt.Tooltip("improvement:Q", format="+.4f"), alt.Tooltip("± std:Q", format=".4f"),
               alt.Tooltip("accuracy Δ:Q", format="+.4f"), alt.Tooltip("accuracy ± std:Q", format=".4f"),
               "fixed:Q", "new errors:Q", "net benefit:Q"]
    zero = pd.DataFrame({"zero": [0.0]})
    axes = [alt.Chart(zero).mark_rule(color=GREY, strokeDash=[4, 4]).encode(x="zero:Q"),
            alt.Chart(zero).mark_rule(color=GREY, strokeDash=[4, 4]).encode(y="zero:Q")]
    spread_x = alt.Chart(frame).mark_rule(opacity=0.6, strokeWidth=2).encode(x=alt.X("x_low:Q", title=""), x2="x_high:Q", y=y, color=colour)
    spread_y = alt.Chart(frame).mark_rule(opacity=0.6, strokeWidth=2).encode(y=alt.Y("y_low:Q", title=""), y2="y_high:Q", x=x, color=colour)
    # Larger groups first, so a small point on the same spot stays on top; a white edge keeps each visible.
    points = alt.Chart(frame).mark_point(filled=True, opacity=0.9, stroke="white", strokeWidth=1).encode(
        x=x, y=y, color=colour, tooltip=tooltip, order=alt.Order("size:Q", sort="descending"),
        size=alt.Size("size:O", title="group size", scale=alt.Scale(range=[60, 320]),  # size 1 is a dot too, not only its
                      legend=alt.Legend(orient="bottom")))                       # whiskers
    best = frame[frame["best"]]
    # The ring under the points, open, and wide enough to circle them: every point stays in sight.
    ring = alt.Chart(best).mark_point(size=900, stroke="black", strokeWidth=1.5, filled=False).encode(x=x, y=y, tooltip=tooltip)
    name = alt.Chart(best.assign(text=["best: " + s for s in best["setting"]])).mark_text(
        align="left", dx=20, dy=-14, fontWeight="bold", fontSize=13).encode(x=x, y=y, text="text:N")
    return alt.layer(*axes, spread_x, spread_y, ring, points, name).properties(height=380, padding={"left": 10, "top": 10})
