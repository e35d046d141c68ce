"""The attribution of the page's choices, from the engine, with its retraining shown as progress.

The :class:`~tda_core.analysis.Analysis` keeps each action's per-sample retrains (and, in
candidate mode, each group and metric's ranking) in memory, so reruns of the page are instant.
"""

from __future__ import annotations

from tda_core.analysis import Attribution
from tda_core.attribution import Ranking
from tda_core.errors import ErrorGroup

from .loaders import Current
from .progress import retraining


def ranking(current: Current, group: ErrorGroup, action: str, metric: str) -> Ranking:
    analysis, data, config = current.analysis, current.data, current.config
    if analysis.has_ranking(action, group, metric):
        return analysis.ranking(group, action, metric)
    if config.candidates:
        title = (f"Candidate mode: estimating all {data.n_train:,} samples ({current.recipe.estimate_method}), then "
                 f"retraining the top {config.candidates} and a random check sample ({action})")
    else:
        title = f"Retraining the ensemble once per training sample ({action}, {data.n_train:,} samples)"
    with retraining(title) as progress:
        return analysis.ranking(group, action, metric, progress)


def attribution(current: Current, group: ErrorGroup, action: str, metric: str, size: int, alpha: float) -> Attribution:
    """What ``Analysis.attribute`` returns, with progress shown for each retrain that is not cached."""
    analysis = current.analysis
    selected = ranking(current, group, action, metric).select(size, alpha)  # retrains first, with its own progress
    if not selected or analysis.has_effect(group, action, metric, selected):
        return analysis.attribute(group, action, metric, size, alpha)
    with retraining(f"Retraining the ensemble with all {len(selected)} sample(s) edited at once ({action})") as progress:
        return analysis.attribute(group, action, metric, size, alpha, progress)


def group_effect(current: Current, group: ErrorGroup, action: str, metric: str, indices):
    """The effect of the action on all ``indices`` at once (None for none), by retraining."""
    if not indices:
        return None
    analysis = current.analysis
    if analysis.has_effect(group, action, metric, indices):
        return analysis.effect(group, action, metric, indices)
    with retraining(f"Retraining the ensemble with all {len(indices)} sample(s) edited at once ({action})") as progress:
        return analysis.effect(group, action, metric, indices, progress)
