"""Step 4: apply the action, compare the retrained ensemble with the original, export the fix."""

import json

import pandas as pd
import streamlit as st

from tda_core import ACTIONS, METRIC_LABELS, POOL, TDAError, corrected_training_set, edited_arrays, subject_of
from ui import exports, fixing, frame, loaders, matrices, results, state, tables, verify

frame.enter()
st.title("Fix")
current = frame.require_analysis()
analysis, data = current.analysis, current.data
st.radio("Fix by", list(fixing.MODES), format_func=fixing.MODES.get, key=state.FIX_MODE, horizontal=True,
         persist_state="session",
         help="The action chosen on the attribution page, measured by retraining; edits of "
              "single rows by hand (remove, set a label); or a manifest exported before, replayed on this data.")
if state.fix().mode == "hand":
    edits = fixing.hand_edits(data, state.result())
    if edits is not None:  # verify them: the retraining that replaying a manifest cannot do for hand edits
        chosen = state.errors().group
        tests = current.analysis.group(*chosen).test_indices if chosen else current.analysis.errors.error_indices
        verify.section(current, *edited_arrays(data, None, remove=edits[0], labels=edits[1]), tests, "the hand edits")
    frame.stop()
if state.fix().mode == "manifest":
    fixing.load_manifest(data)
    frame.stop()
group = frame.require_group(current)
action, metric = state.attribution().action, state.attribution().metric

result = state.result()
subject = subject_of(action)  # add lists pool samples, the other actions training samples
verb = ACTIONS[action].verb.lower()
seeded = state.fix().seeded_from
if seeded is not None and subject_of(seeded[0]) != subject:  # pool indices are not training indices
    state.update(state.FIX_STEP, indices=[], seeded_from=None)
seed = (action, result.selected) if result is not None and result.ranking.action == action else None
if seed is not None and state.fix().seeded_from != seed:
    state.update(state.FIX_STEP, indices=list(result.selected), seeded_from=seed)

kind = subject.noun.split()[0]  # "training", "pool"
origin = state.fix().origin
from_compare = origin is not None and origin[0] == action and sorted(origin[2]) == sorted(int(i) for i in state.fix().indices)
if from_compare:
    st.info(f"From Compare: **{action} × {origin[1]}**, its {tables.count(len(origin[2]), kind + ' sample')} exactly as "
            "compared there.", icon=":material/compare_arrows:")
st.caption(f"Step 4 of 4 · {verb} {kind} samples to fix **{tables.group_label(group)}**; "
           "the ensemble is retrained with the edit to check the whole model.")
n_samples = subject.size(data)
valid = [int(i) for i in state.fix().indices if 0 <= int(i) < n_samples]  # a link may name others
if valid != list(state.fix().indices):
    state.update(state.FIX_STEP, indices=valid)
targets = analysis.baseline.relabel_targets
st.multiselect(f"{kind.capitalize()} samples to {verb} (seeded from " + ("Compare" if from_compare else "the attribution page") + "; edit freely)",
               list(range(n_samples)), key=state.FIX_INDICES, persist_state="session",
               format_func=lambda i: tables.fix_label(data, targets, action, i))
st.text_input("Reason (recorded in the manifest)", key=state.REASON, persist_state="session",
              placeholder="e.g. what you checked in these samples before acting on them")
fix_list = state.fix()
indices = sorted(int(i) for i in fix_list.indices)
if not indices:
    st.info(f"Choose at least one {kind} sample, or pick them on the attribution page.")
    st.page_link(frame.PAGES["attribution"], label="Go to attribution", icon=":material/arrow_back:")
    frame.stop()

try:
    effect = results.group_effect(current, group, action, metric, indices)
    ranking = analysis.ranking(group, action, metric) if analysis.has_ranking(action, group, metric) else None
    why = exports.why(data, analysis.baseline, group, effect, ranking, result)
    table, manifest = corrected_training_set(data, analysis.baseline, action, indices, fix_list.reason, context=why,
                                             column_order=loaders.export_columns(data))  # the upload's order, target in place
except TDAError as exc:
    st.error(str(exc))
    frame.stop()

# --- what the user must know before acting ---------------------------------------------------
for note in exports.guardrails(effect, METRIC_LABELS[metric]):
    st.warning(note)

st.subheader("Before and after, measured by retraining")
if effect.deterministic:
    st.caption("Deterministic model: effects are exact (every member gives the same probabilities), so there is no "
               "spread and no p-value.")
with st.container(horizontal=True, gap="medium"):  # metrics as wide as their labels, wrapping
    st.metric("Test accuracy before", f"{effect.accuracy_before:.3f}", width="content",
              help="The ensemble's mean prediction, as the matrices below count it.")
    st.metric("Test accuracy after", f"{effect.accuracy_after:.3f}", width="content",
              delta=tables.accuracy_delta(effect), delta_color=tables.delta_colour(effect.accuracy_change),
              help=tables.accuracy_help(effect))
    st.metric(f"Improvement of {METRIC_LABELS[metric]} on {tables.group_label(group)}", tables.signed(effect.improvement),
              delta="exact" if effect.deterministic else f"± {effect.delta_std:.4f} std, p = {tables.p_text(effect.p_value)}",
              delta_color="off", delta_arrow="off", width="content",
              help=f"Positive: toward fixing the error. Raw change of the {METRIC_LABELS[metric]}: {tables.signed(effect.delta_mean)} "
                   f"({tables.direction(metric)}).")
    st.metric("Net benefit", f"{effect.net_benefit:+d}", width="content",
              delta=f"{effect.errors_fixed} fixed, {effect.errors_new} new",
              delta_color=tables.words_colour(effect.net_benefit), delta_arrow="off",
              help="Chosen errors the edit fixes minus test samples it makes wrong (on the ensemble's mean prediction).")
matrices.before_after(effect.confusion_before, effect.confusion_after, data.classes,
                      ("Original ensemble", "Retrained with the fix"), selected=(group.true, group.pred))
if not group.is_slice:
    note = tables.cell_note(effect, data, group)
    if note:
        st.caption(note)

st.subheader("Export")
st.caption(f"{manifest['n_train_before']:,} training rows before, {manifest['n_train_after']:,} after. The manifest "
           "records why: the error group, the action and metric, each sample's effect and p-value, the reliability of "
           "the ranking, and the accuracy before and after.")
stem = exports.stem(data.name)
full = False
if data.kind == "tabular" and state.data().source == "table":
    full = st.checkbox("Export the full table (training and test rows, with a split column)", key="export_full",
                       help="The corrected training rows followed by the test rows as they were, so the table can "
                            "replace the uploaded one.")
export = exports.full_table(data, table) if full else table
with st.container(horizontal=True, gap="small"):
    st.download_button("Corrected table (CSV)" if full else "Corrected training set (CSV)",
                       export.to_csv(index=False).encode(), file_name=f"{stem}-fixed{'-full' if full else ''}.csv",
                       mime="text/csv", icon=":material/download:")
    st.download_button("Manifest (JSON)", json.dumps(manifest, indent=2).encode(), file_name=f"{stem}-manifest.json",
                       mime="application/json", icon=":material/download:")
st.markdown("**Changes**")
st.dataframe(pd.DataFrame(manifest["changes"]), hide_index=True, width="stretch", key="changes")
if subject is POOL:  # the export is the training set with these rows appended: show them as they are written
    st.markdown(f"**The {tables.count(len(indices), 'added row')}**, appended after the {data.n_train:,} training rows "
                "(row id `pool:<pool id>`)")
    st.dataframe(table.tail(len(indices)), hide_index=True, width="stretch", key="added_rows")
verify.section(current, *edited_arrays(data, analysis.baseline, action, indices), group.test_indices,
               f"{verb} {subject.count(len(indices))}")
