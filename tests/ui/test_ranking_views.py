"""Each result type has its view (ui/views, issue 20): a ranking of single samples and one of
candidate groups, each drawn alone under AppTest, against the engine's own numbers on the credit demo."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("streamlit")
from apptest_support import TIMEOUT
from streamlit.testing.v1 import AppTest

from tda_core import GroupRanking, Ranking
from ui import views


def draw_view(unit: str) -> None:
    """A script of its own: the credit demo's attribution of its largest error group, drawn by its view."""
    import streamlit as st

    from tda_core._analysis import Analysis
    from tda_core._engine import RunConfig
    from tda_core.data import load_demo
    from tda_core.recipes import default_recipe
    from ui import views
    from ui.loaders import Current

    data = load_demo("credit")
    recipe, config = default_recipe(data), RunConfig()
    analysis = Analysis(data, recipe, config)
    group = analysis.errors.groups[0]
    result = analysis.attribute(group, "relabel", "gt_prob", 10, 0.05, unit=unit)
    view = views.view_for(views.RankingPage(Current(data, recipe, config, analysis), result, "gt_prob", 10, 0.05))
    st.text(type(view).__name__)
    heading, how = view.effect_heading()
    st.subheader(heading)
    st.caption(how)
    with st.container(horizontal=True):
        view.render_size()
    view.render_ranking(False)


def drawn(unit: str) -> AppTest:
    at = AppTest.from_function(draw_view, args=(unit,), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_sample_ranking_is_drawn_by_its_view(credit_analysis):
    group = credit_analysis.errors.groups[0]
    expected = credit_analysis.attribute(group, "relabel", "gt_prob", 10, 0.05)
    assert isinstance(expected.ranking, Ranking) and len(expected.selected) == 10
    at = drawn("sample")
    assert at.text[0].value == "SampleRankingView"
    assert at.subheader[0].value == "Effect of relabel on the 10 selected training samples"
    assert at.metric[0].label == "Selected training samples" and at.metric[0].value == "10 of 10"
    assert at.subheader[1].value == "Ranked training samples"
    table = at.dataframe[0].value
    assert list(table["train #"]) == list(expected.ranking.index)
    np.testing.assert_allclose(table["improvement"], expected.ranking.delta_mean, rtol=1e-6)
    np.testing.assert_allclose(table["p-value"], expected.ranking.p_value, rtol=1e-6)
    assert set(table.loc[table["selected"], "train #"]) == set(expected.selected)


def test_a_candidate_group_ranking_is_drawn_by_its_view(credit_analysis):
    group = credit_analysis.errors.groups[0]
    expected = credit_analysis.attribute(group, "relabel", "gt_prob", 10, 0.05, unit="group")
    assert isinstance(expected.ranking, GroupRanking)
    best = expected.ranking.best(0.05)
    assert best is not None
    at = drawn("group")
    assert at.text[0].value == "GroupRankingView"
    assert at.subheader[0].value == f"Effect of relabel on the best candidate group · {best.group_id}"
    assert at.metric[0].label == "Training samples in the group" and at.metric[0].value == str(len(best.train_indices))
    assert at.subheader[1].value == "Candidate training groups"
    table = at.dataframe[0].value
    assert list(table["group"]) == [g.group_id for g in expected.ranking.groups]
    np.testing.assert_allclose(table["improvement"], expected.ranking.delta_mean, rtol=1e-6)
    assert list(table.loc[table["best"], "group"]) == [best.group_id]
    # The best group's members, with the box that picks another group.
    assert at.selectbox(key="shown_group").value == best.group_id
    assert list(at.dataframe[1].value["train #"]) == list(best.train_indices)


def test_the_view_follows_the_rankings_type():
    assert {Ranking: views.SampleRankingView, GroupRanking: views.GroupRankingView} == views.VIEWS
    assert views.SampleRankingView.offers_groups and not views.GroupRankingView.offers_groups
    assert views.SampleRankingView.retry_hint(None) == "or rank candidate groups."  # type: ignore[arg-type]
    assert views.GroupRankingView.retry_hint(None) == "or a larger group size."  # type: ignore[arg-type]
