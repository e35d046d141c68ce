"""The attribution of the page's choices, from the engine, with its retraining shown as progress.

The :class:`~tda_core.analysis.Analysis` keeps each action's per-sample retrains (and, in
candidate mode, each group and metric's ranking; and each candidate-group ranking) in memory, so
reruns of the page are instant and draw no progress (see :mod:`ui.progress`).
"""

from __future__ import annotations

from collections.abc import Sequence

from tda_core.analysis import Attribution
from tda_core.attribution import Effect
from tda_core.errors import ErrorGroup

from .loaders import Current
from .progress import retraining


def ranking_label(current: Current, action: str, unit: str, size: int) -> str:
    data, config = current.data, current.config
    if unit == "group":
        return f"Forming candidate groups of {size} and retraining the ensemble once per group ({action})"
    if config.candidates:
        return (f"Candidate mode: estimating all {data.n_train:,} samples ({current.recipe.estimate_method}), then "
                f"retraining the top {config.candidates} and a random check sample ({action})")
    return f"Retraining the ensemble once per training sample ({action}, {data.n_train:,} samples)"


def attribution(current: Current, group: ErrorGroup, action: str, metric: str, size: int, alpha: float,
                unit: str = "sample") -> Attribution:
    """What ``Analysis.attribute`` returns, with progress shown for each retrain that is not in memory."""
    analysis = current.analysis
    if unit == "group":  # the group effect is read from the groups' own retrains
        with retraining(ranking_label(current, action, unit, size)) as progress:
            return analysis.attribute(group, action, metric, size, alpha, unit="group", progress=progress)
    with retraining(ranking_label(current, action, unit, size)) as progress:
        analysis.ranking(group, action, metric, progress)
    with retraining(f"Retraining the ensemble with the selected sample(s) edited at once ({action})") as progress:
        return analysis.attribute(group, action, metric, size, alpha, progress=progress)


def group_effect(current: Current, group: ErrorGroup, action: str, metric: str, indices: Sequence[int]) -> Effect | None:
    """The effect of the action on all ``indices`` at once (None for none), by retraining."""
    if not indices:
        return None
    with retraining(f"Retraining the ensemble with all {len(indices)} sample(s) edited at once ({action})") as progress:
        return current.analysis.effect(group, action, metric, indices, progress)
