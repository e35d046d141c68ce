"""Step 2: the baseline ensemble's test accuracy, its confusion matrix, and the error groups."""

from functools import partial

import streamlit as st

from tda_core import SLICE, TDAError
from ui import charts, frame, state, tables
from ui.gallery import gallery

CHART_KEY, SAMPLES_KEY, SLICES_KEY = "confusion_chart", "group_samples", "error_slices"
GALLERY_CAP = 32  # test images drawn at most
SLICE_THUMBNAILS = 8  # test images of each slice shown beside its description
SLICE_COLUMNS = 14  # narrower than a gallery's 8: a slice's row of thumbnails stays small


def on_cell_click(choices: list[tuple[str, str]]) -> None:
    """A click on an error cell of the confusion matrix picks that (true -> predicted) group."""
    points = st.session_state[CHART_KEY].selection.get(charts.CELL) or []
    if points:
        cell = (str(points[0]["true"]), str(points[0]["predicted"]))
        if cell[0] != cell[1] and cell in choices:
            state.choose_group(cell)


def on_rows_selected(key: str, group_tests: list[int]) -> None:
    """Selected rows narrow the group to those test samples; none selected means the whole group."""
    rows = st.session_state[key].selection.rows
    state.update(state.ERRORS_STEP, tests=tuple(group_tests[r] for r in sorted(rows)))


def on_slice_selected(key: str, ids: list[str]) -> None:
    """A selected row of the slices table picks that slice, as a class pair is picked."""
    rows = st.session_state[key].selection.rows
    if rows:
        state.choose_group((SLICE, ids[rows[0]]))


def choice_text(choice: tuple[str, str], counts: dict, sizes: dict) -> str:
    if choice[0] == SLICE:
        return f"slice {choice[1]} · {tables.count(counts[choice], 'error')} in {tables.count(sizes[choice], 'test row')}"
    return f"{choice[0]} → {choice[1]} · {tables.count(counts[choice], 'test sample')}"


def whole_group() -> None:
    state.update(state.ERRORS_STEP, tests=())


frame.enter()
st.title("Errors")
current = frame.require_analysis()
analysis, data = current.analysis, current.data
report = analysis.errors
try:
    slices = analysis.slices
except TDAError as exc:  # e.g. a model without a representation and no features to cut
    st.caption(f"No error slices: {exc}")
    slices = ()
pairs = [(g.true, g.pred) for g in report.groups]
# Slices are offered as groups after the class pairs: the state holds ("slice", ID), as the CLI's --group slice:ID.
choices = pairs + [(SLICE, s.id) for s in slices]
counts = {(g.true, g.pred): g.count for g in report.groups} | {(SLICE, s.id): len(s.test_indices) for s in slices}
sizes = {(SLICE, s.id): s.size for s in slices}
if choices and state.errors().group not in choices:
    state.choose_group(choices[0])  # largest group first

members = ("a deterministic model: the baseline's members gave the same probabilities, so each edit is trained once "
           "(one model, not one per member)" if analysis.baseline.deterministic
           else f"{current.config.ensemble} retrained members")
st.caption(f"Step 2 of 4 · the baseline: **{current.recipe.display_name}**, {members}, {data.n_test:,} test samples.")
m1, m2, m3 = st.columns(3)
m1.metric("Test accuracy", f"{report.accuracy:.3f}", delta=f"± {report.accuracy_std:.3f} over members",
          delta_color="off", delta_arrow="off",
          help=f"The ensemble's mean prediction: 1 − {report.n_errors:,} errors / {report.n_test:,} test samples, the same "
               f"prediction that decides the errors and the matrix. ±: the spread (std) of the members' own accuracies "
               f"(their mean is {report.accuracy_mean:.3f}).")
m2.metric("Test errors", f"{report.n_errors:,} of {report.n_test:,}", help="Of the ensemble's mean prediction.")
m3.metric("Error groups", len(report.groups), help="Test errors grouped by true class → predicted class.")

if not pairs:
    frame.no_errors(current)
    frame.stop()

st.markdown("**Confusion matrix** · blue: correct, orange to red: errors · click an error cell to pick its group")
with st.container(horizontal=True, gap="large"):  # the groups move below the matrix on a narrow window
    # The groups keep a width their table fits in; beside a wide matrix or in a narrow window they wrap below it.
    matrix_col, groups_col = st.container(width="content"), st.container(width=400)
with matrix_col:
    st.altair_chart(
        charts.confusion_chart(report.confusion, data.classes, "", selected=state.errors().group, selectable=True),
        key=CHART_KEY, on_select=partial(on_cell_click, choices), selection_mode=charts.CELL, width="content",
    )
with groups_col:
    st.selectbox("Error group (true → predicted)", choices, key=state.GROUP, persist_state="session", on_change=whole_group,
                 format_func=lambda c: choice_text(c, counts, sizes),
                 help="Class pairs, largest first, then the error slices listed below the matrix.")
    st.dataframe(tables.groups_frame(report), hide_index=True, width="stretch", height=min(300, 38 + 35 * len(pairs)),
                 column_order=["true", "predicted", "test samples", "share of errors"],
                 column_config={"true": st.column_config.TextColumn(width="small"),
                                "predicted": st.column_config.TextColumn(width="small"),
                                "test samples": st.column_config.NumberColumn(width="small"),
                                "share of errors": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1,
                                                                                   width="small")})

if slices:
    ids = [s.id for s in slices]
    chosen_group = state.errors().group
    chosen_slice = chosen_group[1] if chosen_group[0] == SLICE else None
    st.subheader("Error slices")
    st.caption("Errors grouped beyond class pairs. **tree-N**: a leaf of a shallow decision tree on the test features "
               "that separates errors from correct predictions, with a higher error rate than overall, and its rule; "
               "**cluster-N**: test rows close together in the model's representation (k-means) that hold errors. "
               "Error rate: the share of the slice's test rows that are errors. Select a row to attribute the slice's "
               "errors like a class pair.")
    slices_key = f"{SLICES_KEY}:{chosen_slice}"  # a table per choice: its selected row follows the selectbox too
    st.dataframe(
        tables.slices_frame(slices), key=slices_key, on_select=partial(on_slice_selected, slices_key, ids),
        selection_mode="single-row", hide_index=True, width="stretch", height=min(420, 38 + 35 * len(slices)),
        selection_default={"selection": {"rows": [ids.index(chosen_slice)] if chosen_slice in ids else []}},
        column_order=["slice", "errors", "test rows", "error rate", "rule or description"],  # the id says the kind
        column_config={"slice": st.column_config.TextColumn(width="small"),  # narrow numbers: room for the rule
                       "errors": st.column_config.NumberColumn(width="small"),
                       "test rows": st.column_config.NumberColumn(width="small"),
                       "error rate": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1, width="small"),
                       "rule or description": st.column_config.TextColumn(width="medium", help="The whole text of the "
                                                                          "chosen slice is shown with its test samples")},
    )
    if data.kind == "images":  # members of each slice: its first test errors, small, one row each
        for s in slices:
            st.markdown(f"**{s.id}** · {tables.count(len(s.test_indices), 'error')} in {tables.count(s.size, 'test row')} · "
                        f"{s.rule or s.description}")
            shown = list(s.test_indices[:SLICE_THUMBNAILS])
            gallery(data.thumbnails_test, shown, [tables.test_name(t) for t in shown], cap=SLICE_THUMBNAILS,
                    columns=SLICE_COLUMNS)

choice = state.errors()
group = analysis.group(*choice.group)
group_tests = list(group.test_indices)
chosen = tuple(t for t in choice.tests if t in group_tests)  # a link may name samples of another model
if chosen != tuple(choice.tests):
    state.update(state.ERRORS_STEP, tests=chosen)
st.subheader(f"Test samples of {tables.group_label(group)}")
if group.is_slice:
    chosen_slice = slices[[s.id for s in slices].index(group.pred)]
    st.markdown(f"**{tables.slice_kind(chosen_slice.id).capitalize()}** · {chosen_slice.rule or chosen_slice.description} · "
                f"{tables.count(len(chosen_slice.test_indices), 'error')} in {tables.count(chosen_slice.size, 'test row')} "
                f"(error rate {chosen_slice.error_rate:.0%}); its errors are the test samples below.")
if chosen:  # the button beside the text, away from the table's toolbar (top right of the table)
    with st.container(horizontal=True, gap="medium", vertical_alignment="center"):
        st.button("Use the whole group", on_click=whole_group)
        st.markdown(f"Using **{len(chosen)} of {group.count}** test samples: {', '.join(f'test #{t}' for t in chosen)}")
else:
    st.markdown(f"Using the **whole group** ({tables.count(group.count, 'test sample')}). Select rows to narrow it to a subset.")

samples = tables.test_samples_frame(analysis, group)
samples_key = f"{SAMPLES_KEY}:{group.true}:{group.pred}"
with st.container(key=f"{tables.WIDE}_samples"):  # a column per feature: who and the prediction stay pinned
    st.dataframe(
        samples, key=samples_key, on_select=partial(on_rows_selected, samples_key, group_tests), selection_mode="multi-row",
        hide_index=True, width="stretch",
        selection_default={"selection": {"rows": [group_tests.index(t) for t in chosen if t in group_tests]}},
        column_config=tables.pinned({"loss": st.column_config.NumberColumn(format="%.3f"),
                                     **{c: st.column_config.NumberColumn(format="%.3f") for c in samples.columns
                                        if c.startswith("p(")}}, ["test #", "true", "predicted"]),
    )
if data.kind == "images":
    shown = list(chosen or group_tests)
    if group.is_slice:
        st.markdown(f"**Misclassified test images of {tables.group_label(group)}** (caption: test #, true → predicted, "
                    "ensemble probability of the prediction)")
    else:
        st.markdown(f"**Misclassified test images** · true **{group.true}**, predicted **{group.pred}** "
                    f"(caption: test #, ensemble probability of the prediction)")
    gallery(data.thumbnails_test, shown, tables.error_captions(samples, shown, None if group.is_slice else group.pred),
            cap=GALLERY_CAP)

st.page_link(frame.PAGES["attribution"], label="Next: which training data is behind these errors",
             icon=":material/arrow_forward:")
