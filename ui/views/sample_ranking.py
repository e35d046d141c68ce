"""The attribution page's view of a ranking of single samples (training samples, or pool samples
for add): the selected samples' effect, the ranked table and chart, their images, candidate mode's
estimates, and the similar samples."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from tda_core import ACTIONS, Ranking

from .. import charts, state, tables
from ..gallery import gallery
from ..similar import similar_view
from .base import CHART_ROWS, CHART_WIDTH, GALLERY_ROWS, RankingPage


@dataclass(frozen=True)
class SampleRankingView:
    """A :class:`tda_core.Ranking`: one row per sample, the first ``size`` significant, improving ones selected."""

    page: RankingPage
    what = "sample"
    offers_groups = True

    @property
    def ranking(self) -> Ranking:
        ranking = self.page.result.ranking
        assert isinstance(ranking, Ranking)
        return ranking

    def effect_heading(self) -> tuple[str, str]:
        page, selected = self.page, self.page.result.selected
        title = (f"Effect of {page.action} on the {tables.count(len(selected), f'selected {page.kind} sample')}"
                 if selected else f"Effect of {page.action}: no sample selected")
        return title, (f"Measured by retraining: the ensemble is retrained with the action applied to all selected "
                       f"samples at once, member by member against the baseline. Selected = the first {page.size} ranked "
                       "samples " + ("" if page.deterministic else f"with p < {page.alpha} ")
                       + f"that move the {page.label} toward fixing the error.")

    def retry_hint(self) -> str:
        return "or rank candidate groups."

    def render_size(self) -> None:
        st.metric(f"Selected {self.page.kind} samples", f"{len(self.page.result.selected)} of {self.page.size}",
                  width="content")

    def render_ranking(self, raw: bool) -> None:
        page = self.page
        analysis, data, result, action, kind, label = page.analysis, page.data, page.result, page.action, page.kind, page.label
        ranking, subject = self.ranking, self.ranking.subject
        estimates = ranking.estimates
        st.subheader(f"Ranked {kind} samples")
        if estimates is not None:
            st.info(f"**Candidate mode:** {estimates.method} estimates for all {len(estimates.index):,} samples, "
                    f"{len(estimates.retrained):,} retrained exactly; Spearman ρ(estimate, retrained) = "
                    f"{estimates.spearman:.2f}", icon=":material/filter_alt:")
            st.caption(f"**Every number in this table, the chart and the group effect comes from retraining.** The "
                       f"estimates only chose which {len(estimates.retrained)} samples to retrain (the top "
                       f"{page.current.config.candidates} and a random check sample); the others are listed, as "
                       "estimates, below the table.")
        st.caption((f"Each row: the ensemble retrained with only that pool sample added to the training set (every one "
                    f"of the {data.n_pool:,} pool samples is ranked)" if kind == "pool" else
                    f"Each row: the ensemble retrained with only that sample edited ({action}: the {action} column says "
                    "what it does to the sample)") + f"; improvement = change of the {label} toward fixing the error "
                   + page.spread() + ", change of global accuracy.")
        table = tables.ranking_frame(analysis, ranking, result.selected, page.alpha)
        # the table as wide as the page, the chart below it
        with st.container(key=f"{tables.WIDE}_ranking"):  # a column per feature: who and the effect stay pinned
            st.dataframe(
                tables.coloured(table, ["improvement", "accuracy Δ"]), hide_index=True, width="stretch", height=420,
                column_order=tables.ranking_columns(table, raw),
                column_config=tables.pinned({
                    "selected": st.column_config.CheckboxColumn("selected", help="In the group whose effect is measured above"),
                    "edit": st.column_config.TextColumn(f"{action}",
                                                        help=f"What {action} does to the sample ({ACTIONS[action].meaning})"),
                    "why": st.column_config.TextColumn("why (not) selected"),
                    **page.columns(raw),
                }, ["rank", tables.number_column(subject), "edit", "improvement"]),
            )
        page.chart_caption(len(table), "the selected samples")
        st.altair_chart(charts.effect_bars(table.head(CHART_ROWS)), width=CHART_WIDTH)
        if data.kind == "images":
            st.markdown(f"**Top {min(GALLERY_ROWS, len(table))} ranked {kind} images** · what {action} does to each, "
                        f"improvement of the {label} (retrained), {'exact' if page.deterministic else 'p-value'}; "
                        "★ = selected for the group; **Enlarge** shows one with its numbers, and marks it for the fix list")
            top = table.head(GALLERY_ROWS)
            details = tables.image_details(top, action, label)
            gallery(subject.thumbnails(data), list(top[tables.number_column(subject)]),
                    tables.gallery_captions(top), cap=GALLERY_ROWS, key="ranked", details=details.get,
                    mark=lambda i: ("Mark for the fix list", lambda: state.mark_for_fix(action, result.selected, i),
                                    int(i) in state.fix_list(action, result.selected)))
        if estimates is not None:
            rest = tables.estimates_frame(analysis, estimates, page.metric, subject)
            with st.expander(f"Estimates only, not retrained: the other {len(rest):,} samples · {estimates.method}"):
                st.caption("These numbers are estimates, not retraining results: they never enter the ranking, the "
                           "selection or the group effect. Best estimated improvement first.")
                st.dataframe(rest.head(tables.ESTIMATE_ROWS), hide_index=True, width="stretch", height=300,
                             column_config={"estimated improvement": st.column_config.NumberColumn(format="%+.5f")})
                if len(rest) > tables.ESTIMATE_ROWS:
                    st.caption(f"Showing the first {tables.ESTIMATE_ROWS:,} of {len(rest):,}.")
        similar_view(analysis, data, result, label, raw)
