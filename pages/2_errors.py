"""Step 2: the baseline ensemble's test accuracy, its confusion matrix, and the error groups."""

from functools import partial

import streamlit as st

from ui import charts, frame, state, tables
from ui.gallery import gallery

CHART_KEY, SAMPLES_KEY = "confusion_chart", "group_samples"
GALLERY_CAP = 32  # test images drawn at most


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
    state.put(state.TESTS, tuple(group_tests[r] for r in sorted(rows)))


def whole_group() -> None:
    state.put(state.TESTS, ())


frame.enter()
st.title("Errors")
current = frame.require_analysis()
analysis, data = current.analysis, current.data
report = analysis.errors
choices = [(g.true, g.pred) for g in report.groups]
counts = {(g.true, g.pred): g.count for g in report.groups}
if choices and state.get(state.GROUP) not in choices:
    state.choose_group(choices[0])  # largest group first

members = ("a deterministic model (every member gives the same probabilities, so it is trained once)"
           if analysis.baseline.deterministic else f"{current.config.ensemble} retrained members")
st.caption(f"Step 2 of 4 · the baseline: **{current.recipe.display_name}**, {members}, {data.n_test:,} test samples.")
m1, m2, m3 = st.columns(3)
m1.metric("Test accuracy", f"{report.accuracy_mean:.3f}", delta=f"± {report.accuracy_std:.3f} std over members",
          delta_color="off", delta_arrow="off", help="Mean ± std over the ensemble members (each member's own accuracy).")
m2.metric("Test errors", f"{int(len(data.y_test) - report.confusion.trace()):,}",
          help="Of the ensemble's mean prediction.")
m3.metric("Error groups", len(report.groups), help="Test errors grouped by true class → predicted class.")

if not choices:
    st.success("The baseline ensemble makes no test errors.")
    frame.stop()

st.markdown("**Confusion matrix** · blue: correct, orange to red: errors · click an error cell to pick its group")
with st.container(horizontal=True, gap="large"):  # the groups move below the matrix on a narrow window
    matrix_col, groups_col = st.container(width="content"), st.container(width="stretch")
with matrix_col:
    st.altair_chart(
        charts.confusion_chart(report.confusion, data.classes, "", selected=state.get(state.GROUP), selectable=True),
        key=CHART_KEY, on_select=partial(on_cell_click, choices), selection_mode=charts.CELL, width="content",
    )
with groups_col:
    st.selectbox("Error group (true → predicted)", choices, key=state.GROUP, persist_state="session", on_change=whole_group,
                 format_func=lambda c: f"{c[0]} → {c[1]} · {counts[c]} test samples")
    st.dataframe(tables.groups_frame(report), hide_index=True, width="stretch", height=min(300, 38 + 35 * len(choices)),
                 column_order=["true", "predicted", "test samples", "share of errors"],
                 column_config={"share of errors": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)})

group = analysis.group(*state.get(state.GROUP))
group_tests = list(group.test_indices)
chosen = tuple(t for t in state.get(state.TESTS) if t in group_tests)  # a link may name samples of another model
if chosen != tuple(state.get(state.TESTS)):
    state.put(state.TESTS, chosen)
st.subheader(f"Test samples of {group.true} → {group.pred}")
if chosen:  # the button beside the text, away from the table's toolbar (top right of the table)
    with st.container(horizontal=True, gap="medium", vertical_alignment="center"):
        st.button("Use the whole group", on_click=whole_group)
        st.markdown(f"Using **{len(chosen)} of {group.count}** test samples: {', '.join(f'test #{t}' for t in chosen)}")
else:
    st.markdown(f"Using the **whole group** ({group.count} test samples). Select rows to narrow it to a subset.")

samples = tables.test_samples_frame(analysis, group)
samples_key = f"{SAMPLES_KEY}:{group.true}:{group.pred}"
st.dataframe(
    samples, key=samples_key, on_select=partial(on_rows_selected, samples_key, group_tests), selection_mode="multi-row", hide_index=True, width="stretch",
    selection_default={"selection": {"rows": [group_tests.index(t) for t in chosen if t in group_tests]}},
    column_config={"loss": st.column_config.NumberColumn(format="%.3f"),
                   **{c: st.column_config.NumberColumn(format="%.3f") for c in samples.columns if c.startswith("p(")}},
)
if data.kind == "images":
    shown = list(chosen or group_tests)
    st.markdown(f"**Misclassified test images** · true **{group.true}**, predicted **{group.pred}** "
                f"(caption: test #, ensemble probability of the prediction)")
    gallery(data.thumbnails_test, shown, tables.error_captions(samples, shown, group.pred), cap=GALLERY_CAP)

st.page_link(frame.PAGES["attribution"], label="Next: which training data is behind these errors",
             icon=":material/arrow_forward:")
