"""One view per result type of the attribution page (issue 20): a ranking of single samples
(:class:`tda_core.Ranking`) or of candidate training groups (:class:`tda_core.GroupRanking`).

The page picks the view once, ``view = view_for(page)``, and draws the parts that differ through
the :class:`RankingView` protocol; what both share stays in the page.
"""

from __future__ import annotations

from tda_core import GroupRanking, Ranking

from .base import DETERMINISTIC, RankingPage, RankingView
from .group_ranking import GroupRankingView
from .sample_ranking import SampleRankingView

VIEWS: dict[type, type] = {Ranking: SampleRankingView, GroupRanking: GroupRankingView}


def view_for(page: RankingPage) -> RankingView:
    """The view of ``page.result``'s ranking, by its type."""
    return VIEWS[type(page.result.ranking)](page)


__all__ = ["DETERMINISTIC", "VIEWS", "GroupRankingView", "RankingPage", "RankingView", "SampleRankingView", "view_for"]
