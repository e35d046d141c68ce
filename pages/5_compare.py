"""Step 3, compare actions: every action at each group size, measured as a group effect, side by side."""

from functools import partial

import streamlit as st

from tda_core import METRIC_LABELS, METRICS, TDAError
from ui import charts, comparing, frame, state, tables

CHART_WIDTH = 720  # pixels of the scatter: it fits the main area at 1280 wide with the sidebar open


def keep_sizes() -> None:
    """Sizes sorted; none chosen means the default ones (compare needs at least one)."""
    sizes = sorted({int(s) for s in state.attribution().compare_sizes or []})
    state.update(state.ATTRIBUTION_STEP, compare_sizes=sizes or state.AttributionChoice().compare_sizes)


frame.enter()
st.title("Compare actions")
current = frame.require_analysis()
analysis, data = current.analysis, current.data
group = frame.require_group(current)
alpha = state.attribution().alpha
st.caption(f"Step 3 of 4 · errors **{tables.group_label(group)}**, {tables.count(group.count, 'test sample')} · "
           f"{current.recipe.display_name} · every action at each group size, each measured by retraining the "
           f"ensemble with the action applied to its selected samples at once (selected as on the attribution page, "
           + ("" if analysis.baseline.deterministic else f"p < {alpha}, ") + "improving).")
st.page_link(frame.PAGES["attribution"], label="Back to the attribution of one action", icon=":material/arrow_back:")

keep_sizes()
offered = sorted(set(comparing.SIZE_CHOICES) | set(state.attribution().compare_sizes))
with st.container(horizontal=True, gap="medium"):
    st.selectbox("Metric on the chosen test samples", list(METRICS), format_func=METRIC_LABELS.get, key=state.METRIC,
                 persist_state="session", width=240)
    st.multiselect("Group sizes", offered, key=state.COMPARE_SIZES, persist_state="session", on_change=keep_sizes,
                   width=420, help="Each action is measured at each size: its first N selected samples, retrained at once. "
                                   "Rankings are kept in memory, so other sizes cost only their group retrains.")
metric = state.attribution().metric
label = METRIC_LABELS[metric]
sizes = [int(s) for s in state.attribution().compare_sizes]

try:
    comparison = comparing.comparison(current, group, metric, sizes, alpha)
except TDAError as exc:  # e.g. an uploaded model that fails to train on an edited set
    st.error(str(exc))
    frame.stop()

# --- the best setting, in words, above the chart ----------------------------------------------
best = comparison.best
st.markdown(comparing.best_words(comparison, label))
if best is not None and best.effect.net_benefit <= 0:
    st.warning("No setting fixes more of the chosen errors than it creates elsewhere: the best one is the least harmful. "
               "Try another metric, larger sizes, or rank candidate groups on the attribution page.")
if comparison.deterministic:
    st.caption("Deterministic model: every effect is exact; no spread or p-value applies.")

table = comparing.settings_frame(comparison, data.classes)
st.markdown(f"**Local improvement against global accuracy** · one point per action and size; right: the {label} moves "
            "toward fixing the chosen errors, up: global test accuracy rises; lines: ± std over members; the best "
            "setting (highest net benefit) is ringed")
st.altair_chart(charts.compare_scatter(table, label), width=CHART_WIDTH)

# --- every setting as numbers -----------------------------------------------------------------
st.subheader("Every setting")
st.caption(f"Improvement: the change of the {label} signed so that positive means toward fixing the error "
           f"(raw change: the metric's own sign, {tables.direction(metric)}), mean over the chosen test samples, ± std over members. Fixed: "
           "chosen errors that become correct; new errors: test samples anywhere that were correct and become wrong "
           "(both on the ensemble's mean prediction); net benefit = fixed − new errors. Per-class columns: the change "
           "of each class's test accuracy. " + comparing.action_words(data))
p_column = (st.column_config.TextColumn(help="Deterministic model: no p-value applies.")
            if comparison.deterministic else st.column_config.NumberColumn(format="%.2e"))
shown = table.assign(**{"p-value": tables.DASH}) if comparison.deterministic else table
settings = [(s.action, s.size) for s in comparison.settings]
chosen = comparing.chosen_setting(comparison)
column_config = {
    "best": st.column_config.CheckboxColumn("best", width=40,
                                            help="The highest net benefit (ties: accuracy Δ, then improvement)"),
    "action": st.column_config.TextColumn(width=76, help=comparing.action_words(data)),
    "size": st.column_config.NumberColumn(width=40),
    "net benefit": st.column_config.NumberColumn("net", format="%+d", width=44, help="Net benefit: fixed − new errors"),
    "fixed": st.column_config.NumberColumn(width=44),
    "new errors": st.column_config.NumberColumn("new", width=40, help="New errors"),
    "improvement": st.column_config.NumberColumn(format="%+.5f", width=80),
    "p-value": p_column | {"width": 68},
    "accuracy Δ": st.column_config.NumberColumn(format="%+.4f", width=72),
    "samples": st.column_config.NumberColumn(help="Training samples acted on: fewer than the size where fewer are "
                                                  "significant and improving (see the note)"),
    "raw change": st.column_config.NumberColumn(format="%+.5f", help=f"The change of the {label} itself "
                                                                      f"({tables.direction(metric)})"),
    "± std": st.column_config.NumberColumn(format="%.5f"),
    "accuracy ± std": st.column_config.NumberColumn(format="%.4f"),
    **{comparing.class_column(c): st.column_config.NumberColumn(format="%+.3f") for c in data.classes},
    "note": st.column_config.TextColumn(width="large"),
}
coloured = tables.coloured(shown, ["improvement", "net benefit", "accuracy Δ", *(comparing.class_column(c) for c in data.classes)])
# The columns that decide, narrow enough for a 1024 px window; the spreads, per-class changes and notes below.
st.dataframe(
    coloured, hide_index=True, width="stretch", height=min(560, 38 + 35 * len(table)), key=comparing.TABLE_KEY,
    on_select=partial(comparing.on_row_selected, settings), selection_mode="single-row",
    selection_default={"selection": {"rows": [settings.index((chosen.action, chosen.size))] if chosen else []}},
    column_order=comparing.MAIN_COLUMNS, column_config=column_config,
)
with st.expander("Spreads, per-class accuracy changes and notes of every setting"), \
        st.container(key=f"{tables.WIDE}_compare_details"):
    st.dataframe(coloured, hide_index=True, width="stretch", key="compare_details",
                 column_order=["action", "size", *[c for c in table.columns if c not in comparing.MAIN_COLUMNS]],
                 column_config=tables.pinned(column_config, ["action", "size"]))
if chosen is not None:
    result = state.result()
    seen = tuple(result.selected) if result is not None and result.ranking.action == chosen.action else None
    picked = "the best setting" if comparing.is_best(comparison, chosen) else "the selected row"
    st.caption(f"Select a row to act on it. Fix opens with {picked}: **{chosen.action}** with size {chosen.size}, "
               f"its {tables.count(len(chosen.indices), 'sample')} exactly as measured here.")
    if st.button(f"Next: fix with {chosen.action} × {chosen.size} ({tables.count(len(chosen.indices), 'sample')})",
                 type="primary", icon=":material/arrow_forward:", key="open_fix",
                 disabled=not chosen.indices):
        comparing.open_in_fix(chosen, seen)
        st.switch_page(frame.PAGES["fix"])
