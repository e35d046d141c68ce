"""Step 3: which training data is behind the chosen errors, and what acting on it does."""

import streamlit as st

from tda_core import limits
from tda_core.actions import ACTIONS, POOL, available_actions, subject_of
from tda_core.analysis import check_action
from tda_core.exceptions import TDAError
from tda_core.metrics import METRIC_LABELS, METRICS
from tda_core.stats import LOW_RELIABILITY, reliability_verdict
from ui import charts, cost, explain, frame, loaders, matrices, results, state, tables
from ui.gallery import gallery
from ui.similar import similar_view

RAW = "raw_change"  # show the raw change of the metric beside the improvement
UNITS = {"sample": "single samples", "group": "candidate groups"}
ALPHAS = [0.001, 0.01, 0.05, 0.1]
CHART_ROWS = 20  # bars in the effect chart
CHART_WIDTH = 560  # pixels of the effect chart below the ranking table
GALLERY_ROWS = 24  # images of the top of the ranking
DETERMINISTIC = "Deterministic model: effects are exact"
IMPROVEMENT_HELP = "Positive: toward fixing the error (for every metric). Switch on the raw change to see the metric's own sign."


def clamp_size() -> None:
    if not state.get(state.LARGE):
        state.put(state.SIZE, min(int(state.get(state.SIZE)), 10))


def rank_groups_instead() -> None:
    state.put(state.UNIT, "group")


def single_samples_for_add() -> None:
    """add ranks pool samples one by one: candidate groups are of training samples."""
    if subject_of(state.get(state.ACTION)) is POOL:
        state.put(state.UNIT, "sample")


KEPT_GROUP = "kept_group"  # (group, tests) carried over a change of the run settings made on this page


def candidate_mode_on() -> None:
    """Candidate mode on, from the question before a long ranking: a new run configuration, whose
    analysis keeps the error group (the same data and model)."""
    state.put(state.USE_CANDIDATES, True)
    st.session_state[KEPT_GROUP] = (state.get(state.GROUP), state.get(state.TESTS))


def show_costs(slot, costs: dict[str, str]) -> None:
    """Each action's ranking of single samples for this metric: 'ready', or its estimate."""
    if costs:
        slot.caption("Ranking for this metric · " + " · ".join(f"{a}: {c}" for a, c in costs.items()))


def when(ask: loaders.LongRanking) -> str:
    if ask.seconds is not None:
        return f"{cost.duration(ask.seconds)} {ask.basis}"
    if ask.hours:
        return "hours on one machine"
    return ask.basis or "a time measured by the first ranking"


def ask_first(ask: loaders.LongRanking, label: str, recipe) -> None:
    """The question before a ranking that would run for hours, or longer than a minute or so at the
    rate measured: the engine's estimate of the exact run and of candidate mode; the exact run
    starts on a click where one machine may run it, candidate mode is one click."""
    estimate = cost.describe(ask.trained, None if ask.seconds is None else ask.trained / ask.seconds, ask.full)
    models = ask.ranked * ask.members  # as the engine's own refusal counts them
    exact = (f"**Exact ranking**: {models:,} models ({ask.ranked:,} {ask.what} x {ask.members} "
             f"member{'s' if ask.members != 1 else ''}), about {limits.format_bytes(ask.memory)} of memory at its peak, "
             f"{when(ask)}.")
    if ask.hours:
        st.warning(f"{label} would take hours: {models:,} models, more than the {limits.MAX_EXACT_MODELS:,} one "
                   "machine ranks exactly. Nothing has been trained. Rank in candidate mode here, or run the exact ranking "
                   "on a Dask cluster (the backend in the data page's run settings).", icon=":material/schedule:")
    else:
        st.info(f"{label}: {estimate}" + (f", {ask.basis}" if ask.seconds is not None else "") + ". It starts when you click, "
                "shows its progress, "
                "and can be stopped; every finished model stays in the cache.", icon=":material/schedule:")
    st.markdown(exact)
    if ask.candidate_models is None:
        st.markdown(f"**Candidate mode** is not available: {recipe.display_name} cannot estimate effects without "
                    "retraining.")
    else:
        fewer = cost.describe(ask.candidate_models, None if not ask.candidate_seconds else ask.candidate_models / ask.candidate_seconds)
        st.markdown(f"**Candidate mode** (top {ask.candidates:,}): every one of the {ask.ranked:,} {ask.what} is estimated "
                    f"({recipe.estimate_method}), then the top {ask.candidates:,} and a random check sample are "
                    f"retrained: {fewer}, about {limits.format_bytes(ask.candidate_memory)} of memory"
                    + ("." if ask.candidates_fit else f", over the {limits.format_bytes(ask.max_memory)} limit: choose a "
                       "smaller N on the data page."))
    with st.container(horizontal=True, gap="small"):
        if not ask.hours:
            st.button(f"Start · {estimate}", type="primary", on_click=results.confirm, args=(label,),
                      icon=":material/play_arrow:")
        if ask.candidate_models is not None and ask.candidates_fit:
            st.button(f"Switch to candidate mode · top {ask.candidates:,}", type="secondary" if not ask.hours else "primary",
                      on_click=candidate_mode_on, icon=":material/filter_alt:",
                      help="Estimate every sample, retrain only the top N and a random check sample (N is set on the "
                           "data page); every number shown then still comes from retraining.")
    st.page_link(frame.PAGES["data"], label="Run settings on the data & model page (candidate N, backend)",
                 icon=":material/tune:")


frame.enter()
st.title("Attribution")
current = frame.require_analysis()
analysis, data = current.analysis, current.data
if KEPT_GROUP in st.session_state:  # the same data and model: the group chosen before still applies
    kept_group, kept_tests = st.session_state.pop(KEPT_GROUP)
    state.put(state.GROUP, kept_group)
    state.put(state.TESTS, kept_tests)
group = frame.require_group(current)
st.caption(f"Step 3 of 4 · errors **{tables.group_label(group)}**, {tables.count(group.count, 'test sample')} · "
           f"{current.recipe.display_name}, "
           + ("deterministic: trained once per edit." if analysis.baseline.deterministic
              else f"{current.config.ensemble} members."))

offered = [a.name for a in available_actions(data.has_pool)]  # add needs a pool
if state.get(state.ACTION) not in offered:  # e.g. a link made with a pool, on data without one
    state.put(state.ACTION, "remove")
adding = subject_of(state.get(state.ACTION)) is POOL
single_samples_for_add()
st.radio("Rank", list(UNITS), format_func=UNITS.get, key=state.UNIT, persist_state="session", horizontal=True,
         disabled=adding,
         help="Single samples: the ensemble is retrained once per training sample. Candidate groups: training samples "
              "nearest the chosen errors in the model's representation (per class) and clusters of the training set, "
              "each group of the chosen size retrained as a whole: groups move a model beyond its training noise "
              "where single samples do not.")
if adding:
    st.caption("Candidate groups are groups of training samples: add ranks pool samples one by one.")
costs = {a: results.ranking_cost(current, group, a, state.get(state.METRIC)) for a in offered} \
    if state.get(state.UNIT) == "sample" else {}
with st.container(horizontal=True, gap="medium"):  # one row that wraps on a narrow window
    # The labels are the actions' names only: a selectbox's value travels as its label, so a label that changed
    # between runs (a cost that became 'ready') made the browser send a label no option had, and the choice fell
    # back to the first option. The costs are on the line below the row.
    st.selectbox("Action on training samples", offered, key=state.ACTION, persist_state="session", width=440,
                 format_func=lambda name: ACTIONS[name].title, on_change=single_samples_for_add,
                 help="What is done to each training sample, and then to the selected group. Each action's ranking "
                      "retrains the ensemble once per training sample: the line below the choices gives each one's "
                      "cost, estimated from the rate measured in this session; 'ready' means it is in memory.")
    st.selectbox("Metric on the chosen test samples", list(METRICS), format_func=METRIC_LABELS.get, key=state.METRIC,
                 persist_state="session", width=240)
    with st.container(width=210, gap="small"):
        if state.get(state.LARGE):
            st.number_input("Group size", min_value=1, max_value=data.n_train, step=1, key=state.SIZE, persist_state="session")
        else:
            clamp_size()
            st.slider("Group size", 1, 10, key=state.SIZE, persist_state="session")
        st.checkbox("Allow groups larger than 10", key=state.LARGE, persist_state="session", on_change=clamp_size)
    if state.get(state.ALPHA) not in ALPHAS:  # e.g. a hand-edited link
        state.put(state.ALPHA, 0.05)
    st.select_slider("Significance α", ALPHAS, key=state.ALPHA, persist_state="session", width=150)
action, metric, size, alpha = state.get(state.ACTION), state.get(state.METRIC), int(state.get(state.SIZE)), state.get(state.ALPHA)
unit = state.get(state.UNIT)
label = METRIC_LABELS[metric]
st.caption(ACTIONS[action].description + ("" if data.has_pool else " Add from a pool is offered once the data have a pool "
                                   "(upload one on the data page)."))
cost_line = st.empty()  # filled again once this page's ranking has run ('ready')
show_costs(cost_line, costs)
st.page_link(frame.PAGES["compare"], icon=":material/compare_arrows:",
             label=f"Compare every action at sizes {', '.join(str(n) for n in state.get(state.COMPARE_SIZES))} side by side")
if subject_of(action) is POOL and state.get(state.URL_POOL) and state.get(state.POOL_UPLOAD) is None:
    st.info(f"This link was made with an uploaded pool, **{state.get(state.URL_POOL)}**, which cannot be restored from a "
            "link: this ranking is of the data's own pool. Upload it again on the data page.")
try:  # the engine's own refusal, before anything is trained (candidate groups are of training samples)
    check_action(data, ACTIONS[action], unit)
except TDAError as exc:
    st.error(loaders.in_words(str(exc)))
    frame.stop()

# A ranking of hours (or long at the measured rate) asks first, with its estimate and candidate mode's.
run_label = results.ranking_label(current, action, unit, size)
if unit == "sample" and not analysis.has_ranking(action, group, metric) and state.get(state.STOPPED) != run_label \
        and run_label not in state.get(state.CONFIRMED):
    try:
        ask = loaders.long_ranking(current, group, action)
    except TDAError as exc:
        st.error(loaders.in_words(str(exc)))
        frame.stop()
    if ask is not None:
        ask_first(ask, run_label, current.recipe)
        frame.stop()

try:
    result = results.attribution(current, group, action, metric, size, alpha, unit)
except TDAError as exc:  # e.g. an uploaded model that fails to train on an edited set
    st.error(loaders.in_words(str(exc)))
    frame.stop()
state.put(state.RESULT, result)
ranking, effect, selected = result.ranking, result.effect, result.selected
by_group = result.unit == "group"
deterministic = result.deterministic
what = "group" if by_group else "sample"
subject = ranking.subject  # the ranking, the selection and the effect are of training or pool samples
pool = subject is POOL
kind = subject.noun.split()[0]  # "training", "pool"

# --- what the user must know before acting ---------------------------------------------------
for note in result.warnings:
    st.warning(note)

reliability = result.reliability
with st.container(horizontal=True, gap="large", vertical_alignment="center"):
    st.metric("Reliability of the ranking", tables.DASH if reliability is None else f"{reliability:.2f}", width="content",
              help="The expected Spearman correlation between this ranking and one from an independently retrained "
                   "ensemble of the same size (Spearman-Brown over the members' rankings; no extra training).")
    verdict = st.container(width="stretch")
with verdict:
    level, _, meaning = reliability_verdict(reliability).partition(": ")
    if deterministic:
        st.markdown(f"**{DETERMINISTIC}.** Every member gave the same probabilities, so each edit was trained once: "
                    "no spread over members and no p-value apply; an improving effect is enough to be selected.")
    else:
        st.markdown(f"Reliability is **{level}**: {meaning}.")
    if reliability is not None and reliability < LOW_RELIABILITY and not by_group:
        st.button("Rank candidate groups instead", on_click=rank_groups_instead, icon=":material/workspaces:")

# --- the group effect ---------------------------------------------------------------------------
best = ranking.best(alpha) if by_group else None
if by_group:
    st.subheader(f"Effect of {action} on the best candidate group" + (f" · {best.group_id}" if best else ""))
    st.caption(f"Measured by retraining: each candidate group of {size} was retrained as a whole, member by member "
               f"against the baseline. Best = the highest-ranked group "
               + ("that moves the " if deterministic else f"with p < {alpha} that moves the ")
               + f"{label} toward fixing the error.")
else:
    st.subheader(f"Effect of {action} on the {tables.count(len(selected), f'selected {kind} sample')}" if selected
                 else f"Effect of {action}: no sample selected")
    st.caption(f"Measured by retraining: the ensemble is retrained with the action applied to all selected samples at once, "
               f"member by member against the baseline. Selected = the first {size} ranked samples "
               + ("" if deterministic else f"with p < {alpha} ")
               + f"that move the {label} toward fixing the error.")
if effect is None:
    st.info(f"No {kind} {what} moves the {label} toward fixing the error"
            + ("" if deterministic else f" significantly at α = {alpha}")
            + ". Try another action or metric, " + ("" if deterministic else "a larger α, more ensemble members, ")
            + ("or rank candidate groups." if not by_group else "or a larger group size."))
else:
    sign_word = tables.direction(metric)
    if pool:  # the question add answers, in one line: what adding these samples does to the errors
        st.markdown(f"#### {results.add_headline(len(selected), effect.errors_fixed, effect.errors_new)}")
    with st.container(horizontal=True, gap="medium"):  # metrics as wide as their labels, wrapping
        if by_group:
            st.metric("Training samples in the group", f"{len(selected)}", width="content")
        else:
            st.metric(f"Selected {kind} samples", f"{len(selected)} of {size}", width="content")
        st.metric(f"Improvement of {label}", tables.signed(effect.improvement), width="content",
                  delta="exact" if deterministic else f"± {effect.delta_std:.4f} std over members",
                  delta_color="off", delta_arrow="off",
                  help=f"Positive: toward fixing the error. The raw change of the {label} is {tables.signed(effect.delta_mean)} "
                       f"({sign_word}); mean over the chosen test samples, then over members.")
        st.metric("p-value of the group effect", tables.p_text(effect.p_value), width="content",
                  help=f"{DETERMINISTIC}: no p-value applies." if deterministic else
                  "One-sample t-test of the members' paired deltas against 0.")
        st.metric("Global test accuracy", f"{effect.accuracy_after:.3f}", width="content",
                  delta=tables.accuracy_delta(effect), delta_color=tables.delta_colour(effect.accuracy_change),
                  help=tables.accuracy_help(effect))
    with st.container(horizontal=True, gap="medium"):
        st.metric("Errors fixed", f"{effect.errors_fixed} of {group.count}", width="content",
                  help="Chosen test samples that the ensemble's mean prediction gets right after the edit.")
        st.metric("New errors", f"{effect.errors_new}", width="content",
                  help="Test samples anywhere that were right before the edit and are wrong after it.")
        st.metric("Net benefit", f"{effect.net_benefit:+d}", width="content", help="Errors fixed minus new errors.",
                  delta=f"{effect.errors_fixed} fixed, {effect.errors_new} new",
                  delta_color=tables.words_colour(effect.net_benefit), delta_arrow="off")
    if pool:
        added = tables.pool_frame(data, selected)
        st.markdown(f"**The {tables.count(len(selected), 'pool sample')} to add** (pool # is the place in the pool, "
                    + ("pool id its row in the pool file)" if data.kind == "tabular" else "under it, its file)"))
        if data.kind == "images":
            gallery(data.thumbnails_pool, list(selected), tables.pool_captions(added), cap=GALLERY_ROWS)
        else:
            st.dataframe(added, hide_index=True, width="stretch", key="added_pool",
                         height=min(420, 38 + 35 * len(added)))

# --- the ranking -----------------------------------------------------------------------------
p_column = (st.column_config.NumberColumn(format="%.2e") if tables.has_p_values(ranking)
            else st.column_config.TextColumn(help=f"{DETERMINISTIC}: no p-value applies." if deterministic
                                             else "No p-value: the members span a single run."))
significant_help = f"An improving effect ({DETERMINISTIC.lower()})" if deterministic else f"p < {alpha} and an improving effect"
raw = st.toggle(f"Show the raw change of the {label} ({tables.direction(metric)})", key=RAW, persist_state="session",
                help="The improvement is the change of the metric signed so that positive always means toward fixing "
                     "the error: for the loss and the predicted-class probability it is minus the raw change.")
if by_group:
    st.subheader("Candidate training groups")
    st.caption(f"Each row: the ensemble retrained with the whole group edited ({action}); improvement = change of the {label} "
               f"toward fixing the error "
               f"(mean{'' if deterministic else ' ± std'} over {tables.count(len(analysis.members), 'member')})"
               + ("" if deterministic else ", t-test p-value") + ", change of global accuracy. "
               "Neighbours: the training samples of one class nearest the chosen errors in the model's representation; "
               "cluster: the samples nearest the centre of a cluster of the training set.")
    table = tables.group_ranking_frame(ranking, selected, alpha)
    # the table as wide as the page, the chart below it
    st.dataframe(
        tables.coloured(table, ["improvement", "accuracy Δ"]), hide_index=True, width="stretch",
        height=min(420, 38 + 35 * len(table)),
        column_order=[c for c in table.columns if raw or c != "change"],
        column_config={
            "best": st.column_config.CheckboxColumn("best", help="The group whose effect is measured above"),
            "significant": st.column_config.CheckboxColumn("significant", help=significant_help),
            "improvement": st.column_config.NumberColumn(format="%+.5f", help=IMPROVEMENT_HELP),
            "change": st.column_config.NumberColumn(f"change of {label}", format="%+.5f"),
            "± std": st.column_config.NumberColumn(format="%.5f"),
            "p-value": p_column,
            "accuracy Δ": st.column_config.NumberColumn(format="%+.4f"),
            "description": st.column_config.TextColumn(width="medium"),
        },
    )
    st.caption(f"The top {min(CHART_ROWS, len(table))}: green improves, red worsens, grey is no change; solid bars are "
               "significant, faded ones are not; ★ marks the best group.")
    st.altair_chart(charts.effect_bars(table.head(CHART_ROWS), unit="group"), width=CHART_WIDTH)
    ids = [g.group_id for g in ranking.groups]
    if state.get(state.SHOWN_GROUP) not in ids:
        state.put(state.SHOWN_GROUP, best.group_id if best else ids[0])
    # Labels are the group ids alone: the ids are stable, while the best group moves with α and descriptions
    # with the size; a label that changes between runs would reset the choice (see the action box).
    st.selectbox("Show the training samples of", ids, key=state.SHOWN_GROUP, persist_state="session",
                 help="Candidate groups by id, best first in the table above; the group's description is below.")
    shown = ranking.groups[ids.index(state.get(state.SHOWN_GROUP))]
    tag = " (the best group)" if best is not None and shown.group_id == best.group_id else ""
    st.caption(f"{shown.group_id}{tag}: {shown.description}")
    members = tables.members_frame(analysis, shown.train_indices, action)
    if data.kind == "images":
        st.markdown(f"**{shown.group_id}** · {len(shown.train_indices)} training images (caption: train #, what "
                    f"{action} does to it, the baseline's prediction)")
        gallery(data.thumbnails_train, list(shown.train_indices), tables.member_captions(members), cap=GALLERY_ROWS)
    else:
        st.markdown(f"**{shown.group_id}** · {len(shown.train_indices)} training samples")
        st.dataframe(members, hide_index=True, width="stretch", height=min(420, 40 + 35 * len(members)))
else:
    estimates = ranking.estimates
    st.subheader(f"Ranked {kind} samples")
    if estimates is not None:
        st.info(f"**Candidate mode:** {estimates.method} estimates for all {len(estimates.index):,} samples, "
                f"{len(estimates.retrained):,} retrained exactly; Spearman ρ(estimate, retrained) = {estimates.spearman:.2f}",
                icon=":material/filter_alt:")
        st.caption(f"**Every number in this table, the chart and the group effect comes from retraining.** The estimates "
                   f"only chose which {len(estimates.retrained)} samples to retrain (the top {current.config.candidates} "
                   "and a random check sample); the others are listed, as estimates, below the table.")
    st.caption((f"Each row: the ensemble retrained with only that pool sample added to the training set (every one of "
                f"the {data.n_pool:,} pool samples is ranked)" if pool else
                f"Each row: the ensemble retrained with only that sample edited ({action}: the {action} column says what "
                "it does to the sample)") + f"; improvement = change of the {label} toward fixing the error "
               f"(mean{'' if deterministic else ' ± std'} over {tables.count(len(analysis.members), 'member')})"
               + ("" if deterministic else ", t-test p-value") + ", change of global accuracy.")
    table = tables.ranking_frame(analysis, ranking, selected, alpha)
    # the table as wide as the page, the chart below it
    with st.container(key=f"{tables.WIDE}_ranking"):  # a column per feature: who and the effect stay pinned
        st.dataframe(
        tables.coloured(table, ["improvement", "accuracy Δ"]), hide_index=True, width="stretch", height=420,
        column_order=tables.ranking_columns(table, raw),
        column_config=tables.pinned({
            "selected": st.column_config.CheckboxColumn("selected", help="In the group whose effect is measured above"),
            "significant": st.column_config.CheckboxColumn("significant", help=significant_help),
            "edit": st.column_config.TextColumn(f"{action}", help=f"What {action} does to the sample ({ACTIONS[action].meaning})"),
            "improvement": st.column_config.NumberColumn(format="%+.5f", help=IMPROVEMENT_HELP),
            "change": st.column_config.NumberColumn(f"change of {label}", format="%+.5f"),
            "± std": st.column_config.NumberColumn(format="%.5f"),
            "p-value": p_column,
            "why": st.column_config.TextColumn("why (not) selected"),
            "accuracy Δ": st.column_config.NumberColumn(format="%+.4f"),
        }, ["rank", tables.number_column(subject), "edit", "improvement"]),
        )
    st.caption(f"The top {min(CHART_ROWS, len(table))}: green improves, red worsens, grey is no change; solid bars are "
               "significant, faded ones are not; ★ marks the selected samples.")
    st.altair_chart(charts.effect_bars(table.head(CHART_ROWS)), width=CHART_WIDTH)
    if data.kind == "images":
        st.markdown(f"**Top {min(GALLERY_ROWS, len(table))} ranked {kind} images** · what {action} does to each, "
                    f"improvement of the {label} (retrained), {'exact' if deterministic else 'p-value'}; "
                    "★ = selected for the group; **Enlarge** shows one with its numbers, and marks it for the fix list")
        top = table.head(GALLERY_ROWS)
        details = tables.image_details(top, action, label)
        gallery(subject.thumbnails(data), list(top[tables.number_column(subject)]),
                tables.gallery_captions(top), cap=GALLERY_ROWS, key="ranked", details=details.get,
                mark=lambda i: ("Mark for the fix list", lambda: state.mark_for_fix(action, result.selected, i),
                                int(i) in state.fix_list(action, result.selected)))
    if estimates is not None:
        rest = tables.estimates_frame(analysis, estimates, metric, subject)
        with st.expander(f"Estimates only, not retrained: the other {len(rest):,} samples · {estimates.method}"):
            st.caption("These numbers are estimates, not retraining results: they never enter the ranking, the selection "
                       "or the group effect. Best estimated improvement first.")
            st.dataframe(rest.head(tables.ESTIMATE_ROWS), hide_index=True, width="stretch", height=300,
                         column_config={"estimated improvement": st.column_config.NumberColumn(format="%+.5f")})
            if len(rest) > tables.ESTIMATE_ROWS:
                st.caption(f"Showing the first {tables.ESTIMATE_ROWS:,} of {len(rest):,}.")
    similar_view(analysis, data, result, label, raw)

# --- the group effect in detail -----------------------------------------------------------------
if effect is not None:
    st.subheader("Group effect in detail")
    st.markdown(f"**{label.capitalize()} of each chosen test sample**, before → after "
                "(green: toward fixing the error, red: away from it)")
    st.altair_chart(charts.before_after_chart(effect.per_test, label, tables.direction(metric)), width=CHART_WIDTH)
    matrices.before_after(effect.confusion_before, effect.confusion_after, data.classes,
                          ("Baseline", f"After {action}"), selected=(group.true, group.pred))
    if not group.is_slice and tables.cell_note(effect, data, group):
        st.caption(tables.cell_note(effect, data, group))
    with st.expander("Per test sample and per class numbers"):
        t1, t2 = st.columns([3, 1])
        per_test = tables.per_test_frame(effect)
        t1.dataframe(tables.coloured(per_test, ["improvement"]), hide_index=True, width="stretch",
                     column_order=[c for c in per_test.columns if raw or c not in ("change", "± change")])
        t2.dataframe(tables.coloured(tables.class_accuracy_frame(effect), ["accuracy Δ"]), hide_index=True, width="stretch",
                     column_config={"accuracy Δ": st.column_config.NumberColumn(format="%+.3f")})
    st.page_link(frame.PAGES["fix"], label="Next: apply the fix and export the training set",
                 icon=":material/arrow_forward:")

# --- explain and share --------------------------------------------------------------------------
st.subheader("Explain and share")
explain.feature_view(analysis, data, result)
explain.report_button(analysis, data, result)

# The cost line was drawn before this ranking ran: once it has, it says "ready".
if costs.get(action) not in (None, "ready") and analysis.has_ranking(action, group, metric):
    show_costs(cost_line, {**costs, action: "ready"})
