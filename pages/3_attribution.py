"""Step 3: which training samples are behind the chosen errors, and what acting on them does."""

import streamlit as st

from tda_core.exceptions import TDAError
from tda_core.metrics import METRIC_LABELS, METRICS
from ui import charts, frame, results, state, tables
from ui.gallery import gallery

ACTIONS = {"remove": "Remove", "relabel": "Relabel to the next most likely class", "upweight": "Upweight ×10"}
ALPHAS = [0.001, 0.01, 0.05, 0.1]
CHART_ROWS = 20  # bars in the effect chart
GALLERY_ROWS = 24  # images of the top of the ranking


def clamp_size() -> None:
    if not state.get(state.LARGE):
        state.put(state.SIZE, min(int(state.get(state.SIZE)), 10))


st.title("Attribution")
current = frame.require_analysis()
analysis, data = current.analysis, current.data
group = frame.require_group(current)
st.caption(f"Step 3 of 4 · errors **{group.true} → {group.pred}**, {group.count} test sample(s) · "
           f"{current.recipe.display_name}, {current.config.ensemble} members.")

c1, c2, c3, c4 = st.columns([3, 3, 3, 2])
c1.selectbox("Action on training samples", list(ACTIONS), format_func=ACTIONS.get, key=state.ACTION, persist_state="session")
c2.selectbox("Metric on the chosen test samples", list(METRICS), format_func=METRIC_LABELS.get, key=state.METRIC, persist_state="session")
with c3:
    if state.get(state.LARGE):
        st.number_input("Group size", min_value=1, max_value=data.n_train, step=1, key=state.SIZE, persist_state="session")
    else:
        clamp_size()
        st.slider("Group size", 1, 10, key=state.SIZE, persist_state="session")
    st.checkbox("Allow groups larger than 10", key=state.LARGE, persist_state="session", on_change=clamp_size)
c4.select_slider("Significance α", ALPHAS, key=state.ALPHA, persist_state="session")
action, metric, size, alpha = state.get(state.ACTION), state.get(state.METRIC), int(state.get(state.SIZE)), state.get(state.ALPHA)
label = METRIC_LABELS[metric]

try:
    result = results.attribution(current, group, action, metric, size, alpha)
except TDAError as exc:  # e.g. an uploaded model that fails to train on an edited set
    st.error(str(exc))
    st.stop()
state.put(state.RESULT, result)
ranking, effect, selected = result.ranking, result.effect, result.selected
estimates = ranking.estimates

st.subheader(f"Effect of {action} on the {len(selected)} selected sample(s)")
st.caption(f"Measured by retraining: the ensemble is retrained with the action applied to all selected samples at once, "
           f"member by member against the baseline. Selected = the first {size} ranked samples with p < {alpha} "
           f"that move the {label} toward fixing the error.")
if effect is None:
    st.warning(f"No training sample has a significant improving effect at α = {alpha}. Try another action or metric, "
               "a larger α, or more ensemble members.")
else:
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Selected training samples", f"{len(selected)} of {size}")
    m2.metric(f"Change of {label}", f"{effect.delta_mean:+.4f}", delta=f"± {effect.delta_std:.4f} std over members",
              delta_color="off", delta_arrow="off", help="Mean over the chosen test samples, then over members.")
    m3.metric("p-value of the group effect", f"{effect.p_value:.2g}")
    m4.metric("Global test accuracy", f"{effect.accuracy_after_mean:.3f}",
              delta=f"{effect.accuracy_delta_mean:+.3f} ± {effect.accuracy_delta_std:.3f}",
              help=f"After the edit; the change from {effect.accuracy_before_mean:.3f} is paired by member.")

st.subheader("Ranked training samples")
if estimates is not None:
    st.info(f"**Candidate mode:** {estimates.method} estimates for all {len(estimates.train_index):,} samples, "
            f"{len(estimates.retrained):,} retrained exactly; Spearman ρ(estimate, retrained) = {estimates.spearman:.2f}",
            icon=":material/filter_alt:")
    st.caption(f"**Every number in this table, the chart and the group effect comes from retraining.** The estimates "
               f"only chose which {len(estimates.retrained)} samples to retrain (the top {current.config.candidates} "
               "and a random check sample); the others are listed, as estimates, below the table.")
st.caption(f"Each row: the ensemble retrained with only that sample edited ({action}); effect = change of the {label} "
           f"(mean ± std over {current.config.ensemble} members), t-test p-value, change of global accuracy.")
table = tables.ranking_frame(analysis, ranking, selected, alpha)
rank_col, chart_col = st.columns([3, 2], gap="large")
with rank_col:
    st.dataframe(
        table, hide_index=True, width="stretch", height=420,
        column_config={
            "selected": st.column_config.CheckboxColumn("selected", help="In the group whose effect is measured above"),
            "significant": st.column_config.CheckboxColumn("significant", help=f"p < {alpha} and an improving effect"),
            "effect": st.column_config.NumberColumn(format="%.5f"),
            "± std": st.column_config.NumberColumn(format="%.5f"),
            "p-value": st.column_config.NumberColumn(format="%.2e"),
            "accuracy Δ": st.column_config.NumberColumn(format="%.4f"),
            "accuracy Δ std": None,
        },
    )
with chart_col:
    st.altair_chart(charts.effect_bars(table.head(CHART_ROWS), label), width="stretch")
if data.kind == "images":
    st.markdown(f"**Top {min(GALLERY_ROWS, len(table))} ranked training images** · label, effect on the {label} "
                f"(retrained), p-value; ★ = selected for the group")
    top = table.head(GALLERY_ROWS)
    gallery(data.thumbnails_train, list(top["train index"]), tables.gallery_captions(top), cap=GALLERY_ROWS)
if estimates is not None:
    rest = tables.estimates_frame(analysis, estimates)
    with st.expander(f"Estimates only, not retrained: the other {len(rest):,} samples · {estimates.method}"):
        st.caption("These numbers are estimates, not retraining results: they never enter the ranking, the selection "
                   "or the group effect. Best estimated improvement first.")
        st.dataframe(rest.head(tables.ESTIMATE_ROWS), hide_index=True, width="stretch", height=300,
                     column_config={"estimated effect": st.column_config.NumberColumn(format="%.5f")})
        if len(rest) > tables.ESTIMATE_ROWS:
            st.caption(f"Showing the first {tables.ESTIMATE_ROWS:,} of {len(rest):,}.")

if effect is not None:
    st.subheader("Group effect in detail")
    per_test, matrices = st.columns([1, 1], gap="large")
    with per_test:
        st.markdown(f"**{label.capitalize()} of each chosen test sample**, before → after")
        st.altair_chart(charts.before_after_chart(effect.per_test, label), width="stretch")
    with matrices:
        before, after = st.columns(2)
        before.altair_chart(charts.confusion_chart(effect.confusion_before, data.classes, "Baseline",
                                                   selected=(group.true, group.pred)), width="content")
        after.altair_chart(charts.confusion_chart(effect.confusion_after, data.classes, f"After {action}",
                                                  selected=(group.true, group.pred)), width="content")
    with st.expander("Per test sample numbers"):
        st.dataframe(tables.per_test_frame(effect), hide_index=True, width="stretch")
    st.page_link(frame.PAGES["fix"], label="Next: apply the fix and export the training set",
                 icon=":material/arrow_forward:")
