"""The attribution page's "until the ranking holds": the ensemble grown seed by seed
(:class:`tda_core.EnsembleGrowth`), its reliability drawn after each step, then kept as the run's
ensemble.

Every member goes through the engine's cache, so growing trains only the new seeds, and the page
that follows (the same ranking with the grown ensemble) reads them all from there: the grown
analysis keeps the test rows the growth pinned (:attr:`Grown.kept_rows`), which keeps the cache keys.
Stop (the progress box's) interrupts the step in training; the seeds finished so far stay cached,
so growing again starts where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import altair as alt
import pandas as pd
import streamlit as st

from tda_core import Dataset, EnsembleGrowth, ErrorGroup, GrowthStep, Recipe, RunConfig

from . import progress, state

if TYPE_CHECKING:  # ui.loaders asks this module which rows a grown analysis keeps
    from .loaders import Current

#: The reliability a grown ensemble aims at (its interval's low end), and the most members.
TARGET, MAX_ENSEMBLE = 0.8, 10
#: What holds better where single samples do not (tda_core.Alternative.kind), as this dashboard offers it.
ALTERNATIVES = {
    "groups": "rank candidate groups of {size} samples instead of single samples (Rank, above)",
    "head": "retrain only the last layer on frozen features (head only, on the data page)",
}


@dataclass(frozen=True)
class Grown:
    """A finished growth, as the session keeps it (no engine object): for the data and model of
    ``identity``, ``members`` seeds, and the reliability after each step."""

    identity: str  # data and recipe fingerprints
    members: int
    group: ErrorGroup  # the test samples it ranked for: the first ensemble's errors of the chosen group
    kept_rows: tuple[int, ...]
    #: (members, reliability, interval low, interval high) after each step
    steps: tuple[tuple[int, float | None, float | None, float | None], ...]
    stopped: str  # "target" | "budget"
    reason: str
    alternatives: tuple[tuple[str, float | None], ...]  # (kind, measured reliability): kind a key of ALTERNATIVES
    size: int = 10  # the group size the alternatives were measured at


def identity(data: Dataset, recipe: Recipe) -> str:
    return f"{data.fingerprint}|{recipe.fingerprint()}"


def grown_run(data: Dataset, recipe: Recipe, config: RunConfig) -> Grown | None:
    """The growth the run's ensemble came from, if it did (ui.loaders then keeps its test rows)."""
    grown = state.notes().grown
    if isinstance(grown, Grown) and grown.identity == identity(data, recipe) and grown.members == config.ensemble:
        return grown
    return None


def grown_for(current: Current) -> Grown | None:
    return grown_run(current.data, current.recipe, current.config)


def pinned_group(current: Current, group: ErrorGroup) -> ErrorGroup:
    """The grown ensemble's group where the page shows the group it grew for: the same test
    samples (the first ensemble's errors), so the ranking is the growth's own, read from the cache,
    although the grown ensemble's errors in that cell may differ."""
    grown = grown_for(current)
    if grown is not None and (grown.group.true, grown.group.pred) == (group.true, group.pred) and not state.errors().tests:
        return grown.group
    return group


def offers(result) -> bool:
    """A grown ensemble is offered where more members can help: independent members, and a
    reliability interval whose low end is below the target."""
    interval = result.reliability_interval
    return not result.deterministic and interval is not None and interval[0] < TARGET


def grow(current: Current, group: ErrorGroup, action: str, metric: str, size: int, alpha: float, unit: str) -> None:
    """Grow the ensemble, drawing each step; at the end, make it the run's ensemble and rerun."""
    chart = st.empty()
    label = f"Growing the ensemble until the ranking holds ({action})"
    with progress.retraining(label, steps=True) as callback:
        growth = EnsembleGrowth(current.data, current.recipe, current.config, group, action, metric, size, alpha, unit,
                                target=TARGET, max_ensemble=MAX_ENSEMBLE, progress=callback)
        try:
            steps: list[GrowthStep] = []
            for step in growth.steps():
                steps.append(step)
                chart.altair_chart(reliability_chart([as_row(s) for s in steps]), width="stretch")
            result = growth.result()
        finally:
            growth.close()
    kept = result.analysis.kept_rows
    members = result.analysis.config.ensemble
    # The most seeds is this page's own limit, not one the user set: said as the page's.
    reason = f"the most members ({MAX_ENSEMBLE}) before the target {TARGET:g}" if result.limit == "seeds" else result.reason
    grown = Grown(identity(current.data, current.recipe), members, result.attribution.group, () if kept is None else tuple(int(i) for i in kept),
                  tuple(as_row(s) for s in result.steps), result.stopped, reason,
                  tuple((a.kind, None if a.reliability is None else a.reliability.value) for a in result.alternatives), size)
    state.update(state.NOTES, grown=grown)
    state.keep_group()  # the same data and model: the same error group with the grown ensemble
    state.update(state.DATA_STEP, ensemble=grown.members)
    st.rerun()


def as_row(step: GrowthStep) -> tuple[int, float | None, float | None, float | None]:
    interval = step.reliability.interval
    return (step.members, step.reliability.value, None if interval is None else interval[0],
            None if interval is None else interval[1])


def reliability_chart(rows) -> alt.LayerChart:
    """The reliability after each step, its interval as a bar, and the target as a rule."""
    frame = pd.DataFrame(rows, columns=["members", "reliability", "low", "high"])
    x = alt.X("members:Q", title="ensemble members", axis=alt.Axis(tickMinStep=1, format="d"),
              scale=alt.Scale(domain=[int(frame["members"].min()) - 0.5, int(frame["members"].max()) + 0.5]))
    interval = alt.Chart(frame).mark_rule(strokeWidth=8, opacity=0.45, color="#4c78a8").encode(
        x=x, y=alt.Y("low:Q", title="reliability", scale=alt.Scale(domain=[-0.2, 1])), y2="high:Q")
    points = alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=60), color="#4c78a8").encode(
        x=x, y="reliability:Q", tooltip=["members", alt.Tooltip("reliability:Q", format=".2f"),
                                         alt.Tooltip("low:Q", format=".2f"), alt.Tooltip("high:Q", format=".2f")])
    target = alt.Chart(pd.DataFrame({"target": [TARGET]})).mark_rule(strokeDash=[4, 4], color="#888").encode(y="target:Q")
    return (interval + points + target).properties(height=180)


def show(grown: Grown) -> None:
    """What the grown ensemble's growth measured, and why it stopped."""
    rows = list(grown.steps)
    st.altair_chart(reliability_chart(rows), width="stretch")
    said = ", ".join(f"{m}: {'—' if r is None else f'{r:.2f}'}" for m, r, _, _ in rows)
    samples = f"Ranked for the {grown.group.count} test samples the growth started from."
    if grown.stopped == "target":
        st.success(f"Grown to **{grown.members} members**: {grown.reason} (reliability by members {said}). {samples}")
    else:
        st.warning(f"Grown to **{grown.members} members** and stopped at the budget: {grown.reason} "
                   f"(reliability by members {said}). {samples}")
        for kind, measured in grown.alternatives:
            advice = ALTERNATIVES.get(kind, kind).format(size=grown.size)
            st.markdown(f"- Instead: {advice}" + ("" if measured is None else f" (reliability {measured:.2f} on the same seeds)"))
