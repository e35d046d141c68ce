"""What the two ranking views share: the page they draw on, their protocol, and the words and
columns both tables use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import streamlit as st

from tda_core import METRIC_LABELS, Analysis, Attribution, Dataset

from .. import tables
from ..loaders import Current

CHART_ROWS = 20  # bars in the effect chart
CHART_WIDTH = 560  # pixels of the effect chart below the ranking table
GALLERY_ROWS = 24  # images of the top of the ranking
DETERMINISTIC = "Deterministic model: effects are exact"
IMPROVEMENT_HELP = "Positive: toward fixing the error (for every metric). Switch on the raw change to see the metric's own sign."


@dataclass(frozen=True)
class RankingPage:
    """What a view draws: the attribution page's result and the choices it was made with."""

    current: Current
    result: Attribution
    metric: str
    size: int
    alpha: float

    @property
    def analysis(self) -> Analysis:
        return self.current.analysis

    @property
    def data(self) -> Dataset:
        return self.current.data

    @property
    def action(self) -> str:
        return self.result.ranking.action

    @property
    def label(self) -> str:
        return METRIC_LABELS[self.metric]

    @property
    def deterministic(self) -> bool:
        return self.result.deterministic

    @property
    def kind(self) -> str:
        """'training' or 'pool': the samples the ranking is of."""
        return self.result.ranking.subject.noun.split()[0]

    def spread(self) -> str:
        """How the improvement is summed up over members, for the table's caption."""
        return (f"(mean{'' if self.deterministic else ' ± std'} over {tables.count(len(self.analysis.members), 'member')})"
                + ("" if self.deterministic else ", t-test p-value"))

    def p_column(self) -> Any:
        if tables.has_p_values(self.result.ranking):
            return st.column_config.NumberColumn(format="%.2e")
        return st.column_config.TextColumn(help=f"{DETERMINISTIC}: no p-value applies." if self.deterministic
                                           else "No p-value: the members span a single run.")

    def significant_help(self) -> str:
        return (f"An improving effect ({DETERMINISTIC.lower()})" if self.deterministic
                else f"p < {self.alpha} and an improving effect")

    def columns(self, raw: bool) -> dict[str, Any]:
        """The columns both ranking tables share."""
        return {
            "significant": st.column_config.CheckboxColumn("significant", help=self.significant_help()),
            "improvement": st.column_config.NumberColumn(format="%+.5f", help=IMPROVEMENT_HELP),
            "change": st.column_config.NumberColumn(f"change of {self.label}", format="%+.5f"),
            "± std": st.column_config.NumberColumn(format="%.5f"),
            "p-value": self.p_column(),
            "accuracy Δ": st.column_config.NumberColumn(format="%+.4f"),
        }

    def chart_caption(self, rows: int, marked: str) -> None:
        st.caption(f"The top {min(CHART_ROWS, rows)}: green improves, red worsens, grey is no change; solid bars are "
                   f"significant, faded ones are not; ★ marks {marked}.")


class RankingView(Protocol):
    """The parts of the attribution page that differ between a ranking of single samples and one of
    candidate groups; the page draws everything else itself."""

    page: RankingPage
    #: The noun of what is ranked, in "No training sample moves ...": "sample" or "group".
    what: str
    #: Whether a low reliability offers ranking candidate groups instead.
    offers_groups: bool

    def effect_heading(self) -> tuple[str, str]:
        """The subheader and the caption above the group effect."""

    def retry_hint(self) -> str:
        """The end of the sentence shown when nothing is selected: what else to try."""

    def render_size(self) -> None:
        """The first metric of the group effect: how many samples it acted on."""

    def render_ranking(self, raw: bool) -> None:
        """The ranking: its table, chart and what belongs to it (members, images, estimates)."""
