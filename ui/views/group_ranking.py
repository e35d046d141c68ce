"""The attribution page's view of a ranking of candidate training groups: the best group's effect,
the groups' table and chart, and the training samples of the group the user picks."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from tda_core import CandidateGroup, GroupRanking

from .. import charts, state, tables
from ..gallery import gallery
from .base import CHART_ROWS, CHART_WIDTH, GALLERY_ROWS, RankingPage


@dataclass(frozen=True)
class GroupRankingView:
    """A :class:`tda_core.GroupRanking`: one row per candidate group, each retrained as a whole; the
    best significant, improving group is the one whose effect is shown."""

    page: RankingPage
    what = "group"
    offers_groups = False  # it is the ranking of candidate groups

    @property
    def ranking(self) -> GroupRanking:
        ranking = self.page.result.ranking
        assert isinstance(ranking, GroupRanking)
        return ranking

    @property
    def best(self) -> CandidateGroup | None:
        return self.ranking.best(self.page.alpha)

    def effect_heading(self) -> tuple[str, str]:
        page, best = self.page, self.best
        return (f"Effect of {page.action} on the best candidate group" + (f" · {best.group_id}" if best else ""),
                f"Measured by retraining: each candidate group of {page.size} was retrained as a whole, member by member "
                "against the baseline. Best = the highest-ranked group "
                + ("that moves the " if page.deterministic else f"with p < {page.alpha} that moves the ")
                + f"{page.label} toward fixing the error.")

    def retry_hint(self) -> str:
        return "or a larger group size."

    def render_size(self) -> None:
        st.metric("Training samples in the group", f"{len(self.page.result.selected)}", width="content")

    def render_ranking(self, raw: bool) -> None:
        page, ranking, best = self.page, self.ranking, self.best
        analysis, data, action = page.analysis, page.data, page.action
        st.subheader("Candidate training groups")
        st.caption(f"Each row: the ensemble retrained with the whole group edited ({action}); improvement = change of the "
                   f"{page.label} toward fixing the error " + page.spread() + ", change of global accuracy. "
                   "Neighbours: the training samples of one class nearest the chosen errors in the model's "
                   "representation; cluster: the samples nearest the centre of a cluster of the training set.")
        table = tables.group_ranking_frame(ranking, page.result.selected, page.alpha)
        # the table as wide as the page, the chart below it
        st.dataframe(
            tables.coloured(table, ["improvement", "accuracy Δ"]), hide_index=True, width="stretch",
            height=min(420, 38 + 35 * len(table)),
            column_order=[c for c in table.columns if raw or c != "change"],
            column_config={
                "best": st.column_config.CheckboxColumn("best", help="The group whose effect is measured above"),
                **page.columns(raw),
                "description": st.column_config.TextColumn(width="medium"),
            },
        )
        page.chart_caption(len(table), "the best group")
        st.altair_chart(charts.effect_bars(table.head(CHART_ROWS), unit="group"), width=CHART_WIDTH)
        shown = self.render_group_choice(best)
        members = tables.members_frame(analysis, shown.train_indices, action)
        if data.kind == "images":
            st.markdown(f"**{shown.group_id}** · {len(shown.train_indices)} training images (caption: train #, what "
                        f"{action} does to it, the baseline's prediction)")
            gallery(data.thumbnails_train, list(shown.train_indices), tables.member_captions(members), cap=GALLERY_ROWS)
        else:
            st.markdown(f"**{shown.group_id}** · {len(shown.train_indices)} training samples")
            st.dataframe(members, hide_index=True, width="stretch", height=min(420, 40 + 35 * len(members)))

    def render_group_choice(self, best: CandidateGroup | None) -> CandidateGroup:
        """The box that picks the group whose training samples are shown (the best one at first)."""
        ids = [g.group_id for g in self.ranking.groups]
        if state.attribution().shown_group not in ids:
            state.update(state.ATTRIBUTION_STEP, shown_group=best.group_id if best else ids[0])
        # Labels are the group ids alone: the ids are stable, while the best group moves with α and descriptions
        # with the size; a label that changes between runs would reset the choice (see the action box).
        st.selectbox("Show the training samples of", ids, key=state.SHOWN_GROUP, persist_state="session",
                     help="Candidate groups by id, best first in the table above; the group's description is below.")
        shown = self.ranking.groups[ids.index(str(state.attribution().shown_group))]
        tag = " (the best group)" if best is not None and shown.group_id == best.group_id else ""
        st.caption(f"{shown.group_id}{tag}: {shown.description}")
        return shown
