"""Step 4: apply the action, compare the retrained ensemble with the original, export the fix."""

import json

import pandas as pd
import streamlit as st

from tda_core.exceptions import TDAError
from tda_core.fix import corrected_training_set
from tda_core.metrics import METRIC_LABELS
from ui import frame, matrices, results, state, tables

ACTION_VERBS = {"remove": "Remove", "relabel": "Relabel", "upweight": "Upweight ×10"}

st.title("Fix")
current = frame.require_analysis()
analysis, data = current.analysis, current.data
group = frame.require_group(current)
action, metric = state.get(state.ACTION), state.get(state.METRIC)

result = state.get(state.RESULT)
seed = (action, result.selected) if result is not None and result.ranking.action == action else None
if seed is not None and state.get(state.FIX_SEEDED_FROM) != seed:
    state.put(state.FIX_INDICES, list(result.selected))
    state.put(state.FIX_SEEDED_FROM, seed)

st.caption(f"Step 4 of 4 · {ACTION_VERBS[action].lower()} training samples to fix **{group.true} → {group.pred}**; "
           "the ensemble is retrained with the edit to check the whole model.")
st.multiselect(f"Training samples to {ACTION_VERBS[action].lower()} (seeded from the attribution page; edit freely)",
               list(range(data.n_train)), key=state.FIX_INDICES, persist_state="session", format_func=lambda i: tables.train_label(data, i))
st.text_input("Reason (recorded in the manifest)", key=state.REASON, persist_state="session",
              placeholder=f"e.g. {group.true} → {group.pred} errors traced to mislabeled rows")
indices = sorted(int(i) for i in state.get(state.FIX_INDICES))
if not indices:
    st.info("Choose at least one training sample, or pick them on the attribution page.")
    st.page_link(frame.PAGES["attribution"], label="Go to attribution", icon=":material/arrow_back:")
    st.stop()

try:
    effect = results.group_effect(current, group, action, metric, indices)
    table, manifest = corrected_training_set(data, analysis.baseline, action, indices, state.get(state.REASON))
except TDAError as exc:
    st.error(str(exc))
    st.stop()

st.subheader("Before and after, measured by retraining")
if effect.deterministic:
    st.caption("Deterministic model: effects are exact (every member gives the same probabilities), so there is no "
               "spread and no p-value.")
with st.container(horizontal=True, gap="medium"):  # metrics as wide as their labels, wrapping
    st.metric("Test accuracy before", f"{effect.accuracy_before_mean:.3f}", width="content")
    st.metric("Test accuracy after", f"{effect.accuracy_after_mean:.3f}", width="content",
              delta=f"{effect.accuracy_delta_mean:+.3f}" if effect.deterministic
              else f"{effect.accuracy_delta_mean:+.3f} ± {effect.accuracy_delta_std:.3f}")
    st.metric(f"Change of {METRIC_LABELS[metric]} on {group.true} → {group.pred}", f"{effect.delta_mean:+.4f}",
              delta="exact" if effect.deterministic else f"± {effect.delta_std:.4f} std, p = {tables.p_text(effect.p_value)}",
              delta_color="off", delta_arrow="off", width="content")
    st.metric("Net benefit", f"{effect.net_benefit:+d}", width="content",
              delta=f"{effect.errors_fixed} fixed, {effect.errors_new} new", delta_color="off", delta_arrow="off",
              help="Chosen errors the edit fixes minus test samples it makes wrong (on the ensemble's mean prediction).")
matrices.before_after(effect.confusion_before, effect.confusion_after, data.classes,
                      ("Original ensemble", "Retrained with the fix"), selected=(group.true, group.pred))

st.subheader("Export")
st.caption(f"{manifest['n_train_before']:,} training rows before, {manifest['n_train_after']:,} after.")
with st.container(horizontal=True, gap="small"):
    st.download_button("Corrected training set (CSV)", table.to_csv(index=False).encode(),
                       file_name=f"{data.name}-fixed.csv", mime="text/csv", icon=":material/download:")
    st.download_button("Manifest (JSON)", json.dumps(manifest, indent=2).encode(), file_name=f"{data.name}-manifest.json",
                       mime="application/json", icon=":material/download:")
st.markdown("**Changes**")
st.dataframe(pd.DataFrame(manifest["changes"]), hide_index=True, width="stretch")
