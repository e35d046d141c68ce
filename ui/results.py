"""The attribution of the page's choices, from the engine, with its retraining shown as progress.

The :class:`~tda_core.Analysis` keeps each action's per-sample retrains (and, in
candidate mode, each group and metric's ranking; and each candidate-group ranking) in memory, so
reruns of the page are instant and draw no progress (see :mod:`ui.progress`).
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from tda_core import Attribution, Effect, ErrorGroup, get_action, limits, subject_of

from . import cost, state
from .frame import rate_key, stop
from .loaders import Current
from .progress import retraining, stopped_here


def add_headline(n: int, fixed: int, new: int) -> str:
    """The add group effect in one sentence: 'Adding these 10 pool samples fixes 5 of the chosen
    errors (and creates 2 new errors elsewhere)'."""
    samples = "this pool sample" if n == 1 else f"these {n} pool samples"
    return (f"Adding {samples} fixes {fixed} of the chosen errors (and creates {new} new "
            f"error{'' if new == 1 else 's'} elsewhere)")


def ranking_label(current: Current, action: str, unit: str, size: int) -> str:
    data, config = current.data, current.config
    if unit == "group":
        return f"Forming candidate groups of {size} and retraining the ensemble once per group ({action})"
    subject = subject_of(action)
    n, what = subject.size(data), subject.noun.split()[0]  # "training", "pool"
    if config.candidates:
        return (f"Candidate mode: estimating all {n:,} {what} samples ({current.recipe.estimate_method}), then "
                f"retraining the top {config.candidates} and a random check sample ({action})")
    return f"Retraining the ensemble once per {what} sample ({action}, {n:,} samples)"


def ranking_models(current: Current, action: str = "remove") -> int:
    """Models one single-sample ranking of the current analysis trains: one per training sample
    (add: per pool sample) and run, or the candidates and their check sample in candidate mode."""
    n = subject_of(action).size(current.data)
    return cost.ranking_models(n, cost.runs(current.analysis.members, current.analysis.recipe), current.config.candidates)


def ranking_cost(current: Current, group: ErrorGroup, action: str, metric: str) -> str:
    """'ready' where the ranking is in memory, else its estimate: 'about 2,400 models, about 5 s'."""
    if current.analysis.has_ranking(action, group, metric):
        return "ready"
    full = cost.full_network(current.recipe)
    return cost.describe(ranking_models(current, action), cost.rate(rate_key(current), full), full)


def confirm(label: str) -> None:
    state.notes().confirmed.add(label)
    state.update(state.NOTES, stopped=None)


def ask_before_long_run(current: Current, label: str, action: str = "remove") -> None:
    """A run estimated longer than ``cost.LONG_RUN`` waits for a click, with its estimate."""
    models = ranking_models(current, action)
    full = cost.full_network(current.recipe)
    per_second = cost.rate(rate_key(current), full)
    if not cost.asks(cost.seconds(models, per_second), full) or label in state.notes().confirmed:
        return
    estimate = cost.describe(models, per_second, full)
    st.info(f"{label}: {estimate}, {cost.basis(rate_key(current), full)}. It starts when you click, shows its progress, "
            "and can be stopped; every finished model stays in the cache.", icon=":material/schedule:")
    st.button(f"Start · {estimate}", type="primary", on_click=confirm, args=(label,), icon=":material/play_arrow:")
    stop()


def attribution(current: Current, group: ErrorGroup, action: str, metric: str, size: int, alpha: float,
                unit: str = "sample") -> Attribution:
    """What ``Analysis.attribute`` returns, with progress shown for each retrain that is not in
    memory. A long run waits for a click; a stopped run says so; either ends the page (``stop``)."""
    analysis, key = current.analysis, rate_key(current)
    label = ranking_label(current, action, unit, size)
    # The memory a ranking needs, sized before anything is allocated: a BudgetError (one line).
    limits.check_run(current.data, current.recipe, current.config, ranking=True, unit=unit, subject=subject_of(action))
    if unit == "group":  # the group effect is read from the groups' own retrains
        if stopped_here(label):
            stop()
        with retraining(label) as progress:
            return analysis.attribute(group, action, metric, size, alpha, unit="group", progress=progress)
    if not analysis.has_ranking(action, group, metric):
        if stopped_here(label):
            stop()
        ask_before_long_run(current, label, action)
    with retraining(label, key) as progress:
        analysis.ranking(group, action, metric, progress)
    label = f"Retraining the ensemble with {get_action(action).at_once()}"
    if stopped_here(label):
        stop()
    with retraining(label) as progress:
        return analysis.attribute(group, action, metric, size, alpha, progress=progress)


def group_effect(current: Current, group: ErrorGroup, action: str, metric: str, indices: Sequence[int]) -> Effect | None:
    """The effect of the action on all ``indices`` at once (None for none), by retraining."""
    if not indices:
        return None
    label = (f"Retraining the ensemble with {'the sample' if len(indices) == 1 else f'all {len(indices)} samples'} "
             f"edited at once ({action})")
    if not current.analysis.has_effect(group, action, metric, indices) and stopped_here(label):
        stop()
    with retraining(label) as progress:
        return current.analysis.effect(group, action, metric, indices, progress)
