"""Compare actions: every action at each group size, measured as a group effect (tda_core.compare),
with its retraining shown as progress, and its settings arranged for the table, the chart and words.

The :class:`~tda_core.Analysis` keeps each action's ranking and each group effect in
memory (and every model in the disk cache), so a rerun of the view, or another set of sizes, reads
them back. Nothing here names the actions: the view shows whatever settings ``compare`` returns
(``add`` among them where the dataset has a pool).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from tda_core import Comparison, ErrorGroup, Setting, available_actions, compare

from . import cost, state, tables
from .frame import rate_key, stop
from .loaders import Current
from .progress import retraining, stopped_here
from .results import confirm, ranking_models

#: Sizes offered besides those the user typed or a link named.
SIZE_CHOICES = (1, 2, 3, 5, 10, 15, 20, 30, 50, 100)
TABLE_KEY = "compare_table"  # the table of every setting: a selected row is the setting opened in Fix
#: The compare table's columns (the others are in its details): the setting and what decides between them.
MAIN_COLUMNS = ["best", "action", "size", "net benefit", "fixed", "new errors", "improvement", "p-value", "accuracy Δ"]


def chosen_setting(comparison: Comparison) -> Setting | None:
    """The setting picked in the table (a row), else the best one."""
    wanted = state.attribution().compare_chosen
    for s in comparison.settings:
        if wanted is not None and (s.action, s.size) == tuple(wanted):
            return s
    return comparison.best


def on_row_selected(settings: Sequence[tuple[str, int]]) -> None:
    rows = st.session_state[TABLE_KEY].selection.rows
    state.update(state.ATTRIBUTION_STEP, compare_chosen=tuple(settings[rows[0]]) if rows else None)


def open_in_fix(setting: Setting, result_selected: tuple[int, ...] | None) -> None:
    """The Fix page takes exactly this setting: its action, its size and its samples (the group the
    comparison retrained); the attribution page's last selection does not replace them there
    (``result_selected``: what it would seed from, marked as seen)."""
    state.update(state.ATTRIBUTION_STEP, action=setting.action, size=int(setting.size),
                 large_groups=bool(state.attribution().large_groups or setting.size > 10))
    state.update(state.FIX_STEP, indices=[int(i) for i in setting.indices],
                 seeded_from=(setting.action, result_selected) if result_selected is not None else None,
                 origin=(setting.action, int(setting.size), tuple(int(i) for i in setting.indices)), mode="action")


def label(sizes: Sequence[int]) -> str:
    return (f"Comparing every action at group sizes {', '.join(str(s) for s in sizes)}: one ranking per action, "
            "then one group retrain per action and size")


def missing_rankings(current: Current, group: ErrorGroup, metric: str) -> int:
    """Single-sample rankings compare will train (not in memory): what its cost is made of. The
    actions are counted here only for the estimate; the results list what compare returns."""
    offered = available_actions(current.data.has_pool)
    return sum(not current.analysis.has_ranking(action.name, group, metric) for action in offered)


def ask_before_long_run(current: Current, run_label: str, rankings: int) -> None:
    """A comparison estimated longer than ``cost.LONG_RUN`` waits for a click, with its estimate."""
    models = rankings * ranking_models(current)
    full = cost.full_network(current.recipe)
    per_second = cost.rate(rate_key(current), full)
    if not cost.asks(cost.seconds(models, per_second), full) or run_label in state.notes().confirmed:
        return
    estimate = cost.describe(models, per_second, full)
    st.info(f"{run_label}: {estimate}, {cost.basis(rate_key(current), full)}. It starts when you click, shows its "
            "progress, and can be stopped; every finished model stays in the cache.", icon=":material/schedule:")
    st.button(f"Start · {estimate}", type="primary", on_click=confirm, args=(run_label,), icon=":material/play_arrow:")
    stop()


def comparison(current: Current, group: ErrorGroup, metric: str, sizes: Sequence[int], alpha: float) -> Comparison:
    """What ``compare`` returns, with progress for what is not in memory; a long run waits for a
    click and a stopped one says so (either ends the page)."""
    run_label = label(sizes)
    rankings = missing_rankings(current, group, metric)
    if rankings:
        if stopped_here(run_label):
            stop()
        ask_before_long_run(current, run_label, rankings)
    # No rate is recorded: the progress of the last step (a few group retrains) would understate a ranking's rate.
    # One overall count: the rankings not in memory, then a group retrain per action and size.
    actions = len(available_actions(current.data.has_pool))
    expected = rankings * ranking_models(current) + actions * len(sizes) * cost.runs(current.analysis.members, current.analysis.recipe)
    with retraining(run_label, steps=True, expected=expected) as progress:
        return compare(current.analysis, group, metric, sizes, alpha, progress=progress)


def action_words(data) -> str:
    """What each action's name in the table means ('add' only where the data have a pool)."""
    return "Actions · " + "; ".join(action.gloss(data) for action in available_actions(data.has_pool)) + "."


def is_best(comparison: Comparison, setting: Setting) -> bool:
    best = comparison.best
    return best is not None and (setting.action, setting.size) == (best.action, best.size)


def class_column(name: str) -> str:
    return f"accuracy Δ {name}"


def settings_frame(comparison: Comparison, classes: Sequence[str]) -> pd.DataFrame:
    """One row per (action, size) as compare returns them: the group effect's numbers."""
    rows = []
    for s in comparison.settings:
        e = s.effect
        # what decides first (net benefit and its parts), then the local and global numbers, then the details
        row = {
            "best": is_best(comparison, s), "action": s.action, "size": s.size,
            "net benefit": e.net_benefit, "fixed": e.errors_fixed, "new errors": e.errors_new,
            "improvement": e.improvement, "± std": e.delta_std, "p-value": e.p_value,
            "accuracy Δ": e.accuracy_change, "accuracy ± std": e.accuracy_delta_std,
        }
        row |= {class_column(c): e.class_accuracy_delta.get(c, np.nan) for c in classes}
        row |= {"samples": len(s.indices), "raw change": e.delta_mean, "note": s.note or ""}
        rows.append(row)
    return pd.DataFrame(rows)


def best_words(comparison: Comparison, metric_label: str) -> str:
    """The best setting in one sentence, from the numbers compare measured."""
    best = comparison.best
    if best is None:
        return "No setting was measured."
    e = best.effect
    spread = "" if comparison.deterministic else f" ± {e.accuracy_delta_std:.4f}"
    used = "" if len(best.indices) == best.size else f" (only {len(best.indices)} qualified)"
    return (f"**Best setting: {best.action} with {tables.count(best.size, 'sample')}**{used}: net benefit **{e.net_benefit:+d}**, it fixes {e.errors_fixed} of the "
            f"{tables.count(len(comparison.group.test_indices), 'chosen error')} and creates {e.errors_new} new "
            f"error{'' if e.errors_new == 1 else 's'}; global accuracy {tables.signed(e.accuracy_change)}{spread}; "
            f"improvement of the {metric_label} {tables.signed(e.improvement)}.")
