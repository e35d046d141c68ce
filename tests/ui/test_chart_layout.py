"""The dashboard's charts keep their shape whatever the data: a row per test sample in the
before -> after chart, confusion matrices of 2 to 20 classes whose cells and labels fit beside each
other, and one colour code (better / worse / no change) in the improvement bars and the change
matrix. Specs only: the browser tests draw them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("altair")
from tda_core import _attribution as attribution
from ui import charts, tables


@pytest.mark.parametrize("n", [1, 3, 40])
def test_before_after_chart_has_a_height_per_test_sample(n):
    per_test = [attribution.TestEffect(i, 0.2, 0.0, 0.2 + 0.01 * i, 0.0, 0.01 * i, 0.0) for i in range(n)]
    spec = charts.before_after_chart(per_test, "true-class probability", "higher is better").to_dict()
    assert spec["height"] == {"step": charts.ROW_HEIGHT}  # a fixed total height collapsed the rows into one
    labels = spec["layer"][0]["encoding"]["y"]["sort"]
    assert labels == [f"test #{i}" for i in range(n)]


@pytest.mark.parametrize("n", [2, 3, 10, 20])
def test_confusion_matrices_fit_two_abreast_in_a_laptop_window(n):
    classes = [f"category {k:02d} of a long label xy" for k in range(n)]  # 30 characters
    step = charts.matrix_step(n)
    width = n * step + charts.label_limit(n) + 40  # cells, the longest label, the axis title
    assert width <= 640 and step >= 18
    matrix = np.arange(n * n).reshape(n, n)
    for chart in (charts.confusion_chart(matrix, classes, "before"),
                  charts.change_matrix_chart(matrix, matrix.T, classes, "change")):
        spec = chart.to_dict()
        assert spec["width"] == {"step": step} and spec["height"] == {"step": step}


def test_change_matrix_colours_better_worse_and_nothing_for_no_change():
    before = np.array([[5, 2], [1, 7]])
    after = np.array([[6, 1], [2, 7]])  # one more correct 'a', one fewer a->b error, one more b->a error
    spec = charts.change_matrix_chart(before, after, ["a", "b"], "change").to_dict()
    rows = next(iter(spec["datasets"].values()))
    effect = {(r["true"], r["predicted"]): (r["effect"], r["text"]) for r in rows}
    assert effect == {("a", "a"): ("better", "+1"), ("a", "b"): ("better", "-1"),
                      ("b", "a"): ("worse", "+1"), ("b", "b"): ("no change", "")}


def test_improvement_bars_colour_by_sign_and_star_the_selected():
    top = pd.DataFrame({"train #": [4, 9, 2], "selected": [True, False, False], "significant": [True, True, False],
                        "improvement": [0.3, 0.0, -0.2], "p-value": [0.01, 0.02, 0.5]})
    spec = charts.effect_bars(top).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert [(r["sample"], r["effect"]) for r in rows] == [("★ train #4", "improves"), ("train #9", "no change"),
                                                          ("train #2", "worsens")]
    assert spec["encoding"]["x"]["field"] == "improvement"


def test_signed_colours_leave_no_change_uncoloured():
    assert tables.signed_colour(0.01).endswith("#2e7d32")
    assert tables.signed_colour(-0.01).endswith("#c62828")
    assert tables.signed_colour(0.0) == "" and tables.signed_colour(float("nan")) == ""
    assert tables.delta_colour(0.0) == "off" and tables.words_colour(-1) == "inverse"


def test_every_confusion_count_reads_on_its_cell():
    """Black or white per cell, whichever reads (issue 21, item 5: dark digits on dark red); the
    browser test measures the rendered colours of the chosen cell."""
    from tda_core._report import contrast

    matrix = np.array([[150, 40, 3], [7, 90, 0], [1, 12, 60]])
    spec = charts.confusion_chart(matrix, ["a", "b", "c"], "", selected=("a", "b")).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert all(contrast(r["fill"], r["ink"]) >= 4.5 for r in rows)
    chosen = next(r for r in rows if r["chosen"])
    assert chosen["count"] == 40 and chosen["ink"] == "#ffffff"  # the largest error: the darkest red


def test_compare_scatter_keeps_its_points_in_sight_and_red_for_worse():
    """The best ring is drawn under the points (which carry a white edge, small groups on top), no
    action is drawn in the red or green of worse and better, and the y title is short and whole
    (issue 21, item 7; the browser test reads the rendered title)."""
    settings = pd.DataFrame({"action": ["remove", "relabel", "upweight", "add"], "size": [5, 5, 10, 1],
                             "best": [False, True, False, False], "improvement": [0.1, 0.2, 0.2, 0.0],
                             "± std": [0.01] * 4, "accuracy Δ": [0.0, 0.005, 0.005, -0.01], "accuracy ± std": [0.002] * 4,
                             "net benefit": [0, 2, 1, -1], "fixed": [1, 3, 2, 0], "new errors": [1, 1, 1, 1]})
    spec = charts.compare_scatter(settings, "test loss").to_dict()
    layers = spec["layer"]
    kinds = [(layer["mark"]["type"], layer["mark"].get("size"), layer["mark"].get("filled")) for layer in layers]
    ring = next(k for k, m in enumerate(kinds) if m[0] == "point" and m[1] == 900)
    points = next(k for k, m in enumerate(kinds) if m[0] == "point" and m[2] is True)
    assert ring < points  # the open ring first: every point is drawn over it
    colour = layers[points]["encoding"]["color"]["scale"]
    palette = dict(zip(colour["domain"], colour["range"]))
    assert palette["remove"] not in (charts.RED, charts.RED_LIGHT) and not set(palette.values()) & {
        charts.RED, charts.GREEN, charts.RED_LIGHT, charts.GREEN_LIGHT}
    assert layers[points]["encoding"]["order"]["sort"] == "descending"
    y = layers[points]["encoding"]["y"]
    assert y["title"] == "global accuracy Δ (↑ better)" and y["axis"]["titleLimit"] >= 300
