"""Issue 12's views under Streamlit's AppTest, against the engine's own numbers on the credit demo:
the compare-actions view (every action x size, the best named as compare names it), error slices
picked on the errors page and attributed like a class pair (and restored by a link), and the
similar training samples beside the ranking.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("streamlit")
from apptest_support import ATTRIBUTION, COMPARE, ERRORS, start, table_with, visit
from streamlit.testing.v1 import AppTest


def markdown(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


# --- compare actions ----------------------------------------------------------------------------


def test_compare_view_lists_every_setting_and_names_the_best(credit_analysis):
    from tda_core._compare import compare

    group = credit_analysis.errors.groups[0]  # the errors page chooses the largest group first
    expected = compare(credit_analysis, group, "gt_prob", (1, 5, 10), 0.05)
    at = start()
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    assert any(link.label.startswith("Compare every action at sizes 1, 5, 10") for link in at.get("page_link"))
    visit(at, COMPARE)
    table = table_with(at, "net benefit")
    rows = list(zip(table["action"], table["size"]))
    assert rows == [(s.action, s.size) for s in expected.settings]  # every action x size, as compare returns them
    assert len(rows) == len({s.action for s in expected.settings}) * 3 and len(rows) >= 9
    for (_, row), s in zip(table.iterrows(), expected.settings):
        e = s.effect
        assert (row["fixed"], row["new errors"], row["net benefit"]) == (e.errors_fixed, e.errors_new, e.net_benefit)
        assert row["samples"] == len(e.indices)
        assert row["accuracy Δ"] == pytest.approx(e.accuracy_change, abs=1e-12)
        assert row["raw change"] == pytest.approx(e.delta_mean, abs=1e-12)
        assert row["improvement"] == pytest.approx(e.improvement, abs=1e-12)
        assert row["p-value"] == pytest.approx(e.p_value, rel=1e-9)
        for name, delta in e.class_accuracy_delta.items():
            assert row[f"accuracy Δ {name}"] == pytest.approx(delta, abs=1e-12)
    best = expected.best
    assert [tuple(r) for r in table[table["best"]][["action", "size"]].to_numpy()] == [(best.action, best.size)]
    sentence = f"**Best setting: {best.action} with {best.size} sample{'' if best.size == 1 else 's'}**"
    assert sentence in markdown(at)
    assert f"net benefit **{best.effect.net_benefit:+d}**" in markdown(at)
    assert len(at.get("vega_lite_chart")) == 1  # the scatter

    # Other sizes: the rows follow, and the URL keeps them.
    at.multiselect(key="compare_sizes").set_value([2, 5]).run()
    assert not at.exception
    table = table_with(at, "net benefit")
    other = compare(credit_analysis, group, "gt_prob", (2, 5), 0.05)
    assert list(zip(table["action"], table["size"])) == [(s.action, s.size) for s in other.settings]
    assert f"**Best setting: {other.best.action} with " in markdown(at)


def test_compare_sizes_come_back_from_a_link(credit_analysis):
    from tda_core._compare import compare

    group = credit_analysis.group("good", "bad")
    at = start({"true": "good", "pred": "bad", "sizes": "3,1", "metric": "loss"})
    assert at.session_state["compare_sizes"] == [1, 3]
    visit(at, COMPARE)
    expected = compare(credit_analysis, group, "loss", (1, 3), 0.05)
    table = table_with(at, "net benefit")
    assert list(zip(table["action"], table["size"])) == [(s.action, s.size) for s in expected.settings]
    assert list(table["net benefit"]) == [s.effect.net_benefit for s in expected.settings]


# --- error slices -------------------------------------------------------------------------------


def test_errors_page_lists_the_slices_and_a_slice_is_attributed_like_a_group(credit_analysis):
    slices = credit_analysis.slices
    assert slices and {s.id.split("-")[0] for s in slices} == {"tree", "cluster"}
    at = start()
    visit(at, ERRORS)
    listed = table_with(at, "rule or description")
    assert list(listed["slice"]) == [s.id for s in slices]
    assert list(listed["test rows"]) == [s.size for s in slices]
    assert list(listed["errors"]) == [len(s.test_indices) for s in slices]
    assert np.allclose(listed["error rate"], [s.error_rate for s in slices])
    assert list(listed["rule or description"]) == [s.rule if s.rule is not None else s.description for s in slices]
    box = at.selectbox(key="group")
    plural = {1: ""}  # "1 error", "2 errors" (issue 21, item 8)
    assert box.options[len(credit_analysis.errors.groups):] == [
        f"slice {s.id} · {len(s.test_indices)} error{plural.get(len(s.test_indices), 's')} in {s.size} test rows"
        for s in slices]

    chosen = slices[0]  # tree-1: a rule on the features
    box.set_value(("slice", chosen.id)).run()
    assert not at.exception
    assert f"Test samples of slice {chosen.id}" in [h.value for h in at.subheader]
    assert list(table_with(at, "loss")["test #"]) == list(chosen.test_indices)
    assert (at.query_params["true"], at.query_params["pred"]) == ("slice", chosen.id)

    visit(at, ATTRIBUTION)
    result = at.session_state["result"]
    assert result.group.test_indices == chosen.test_indices
    assert result.group.label == f"slice {chosen.id}"
    expected = credit_analysis.attribute(credit_analysis.group("slice", chosen.id), "remove", "gt_prob", 10, 0.05)
    assert result.selected == expected.selected
    assert any(f"errors **slice {chosen.id}**" in c.value for c in at.caption)


def test_a_slice_survives_a_reload(credit_analysis):
    """A reload is a new session with only the URL: the slice comes back as the chosen group."""
    chosen = credit_analysis.slices[-1]  # a cluster in the representation
    at = start({"true": "slice", "pred": chosen.id})
    visit(at, ERRORS)
    assert at.session_state["group"] == ("slice", chosen.id)
    assert at.selectbox(key="group").value == ("slice", chosen.id)
    visit(at, ATTRIBUTION)
    assert at.session_state["result"].group.test_indices == chosen.test_indices


# --- similar training samples -------------------------------------------------------------------


def test_similar_samples_beside_the_ranking(credit_analysis):
    from tda_core._similar import similar_samples

    group = credit_analysis.errors.groups[0]
    ranking = credit_analysis.ranking(group, "remove", "gt_prob")
    expected = similar_samples(credit_analysis, group.test_indices, ranking=ranking)
    at = start()
    visit(at, ERRORS)
    visit(at, ATTRIBUTION)
    table = table_with(at, "distance")
    assert list(table["train #"]) == list(expected.indices)  # the k nearest, nearest first
    assert len(table) == 10
    assert list(table["label"]) == list(expected.labels)
    assert np.allclose(table["distance"], expected.distance)
    assert np.allclose(table["change"], expected.delta_mean)
    assert np.allclose(table["p-value"], expected.p_value)
    place = {int(i): r + 1 for r, i in enumerate(ranking.index)}
    assert list(table["rank by effect"]) == [place[i] for i in expected.indices]
    assert np.allclose(table["improvement"], [ranking.improvement[place[i] - 1] for i in expected.indices])
    assert f"Spearman ρ(closeness, improvement) = **{expected.spearman:+.2f}**" in markdown(at)
