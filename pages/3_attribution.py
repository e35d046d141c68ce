"""Step 3: which training data is behind the chosen errors, and what acting on it does."""

import streamlit as st

from tda_core import (
    ACTIONS,
    LOW_RELIABILITY,
    METRIC_LABELS,
    METRICS,
    POOL,
    TDAError,
    available_actions,
    check_action,
    limits,
    reliability_verdict,
    subject_of,
)
from ui import charts, cost, explain, frame, growing, loaders, matrices, results, state, tables, views
from ui.gallery import gallery
from ui.views.base import CHART_WIDTH, DETERMINISTIC, GALLERY_ROWS

RAW = "raw_change"  # show the raw change of the metric beside the improvement
UNITS = {"sample": "single samples", "group": "candidate groups"}
ALPHAS = [0.001, 0.01, 0.05, 0.1]


def clamp_size() -> None:
    if not state.attribution().large_groups:
        state.update(state.ATTRIBUTION_STEP, size=min(int(state.attribution().size), 10))


def rank_groups_instead() -> None:
    state.update(state.ATTRIBUTION_STEP, unit="group")


def single_samples_for_add() -> None:
    """add ranks pool samples one by one: candidate groups are of training samples."""
    if subject_of(state.attribution().action) is POOL:
        state.update(state.ATTRIBUTION_STEP, unit="sample")


def candidate_mode_on() -> None:
    """Candidate mode on, from the question before a long ranking: a new run configuration, whose
    analysis keeps the error group (the same data and model)."""
    state.update(state.DATA_STEP, use_candidates=True)
    state.keep_group()


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
state.restore_kept_group()  # after a change of the run settings here: the same data and model, the same group
group = growing.pinned_group(current, frame.require_group(current))
st.caption(f"Step 3 of 4 · errors **{tables.group_label(group)}**, {tables.count(group.count, 'test sample')} · "
           f"{current.recipe.display_name}, "
           + ("deterministic: trained once per edit." if analysis.baseline.deterministic
              else f"{current.config.ensemble} members."))

offered = [a.name for a in available_actions(data.has_pool)]  # add needs a pool
if state.attribution().action not in offered:  # e.g. a link made with a pool, on data without one
    state.update(state.ATTRIBUTION_STEP, action="remove")
adding = subject_of(state.attribution().action) is POOL
single_samples_for_add()
st.radio("Rank", list(UNITS), format_func=UNITS.get, key=state.UNIT, persist_state="session", horizontal=True,
         disabled=adding,
         help="Single samples: the ensemble is retrained once per training sample. Candidate groups: training samples "
              "nearest the chosen errors in the model's representation (per class) and clusters of the training set, "
              "each group of the chosen size retrained as a whole: groups move a model beyond its training noise "
              "where single samples do not.")
if adding:
    st.caption("Candidate groups are groups of training samples: add ranks pool samples one by one.")
if state.attribution().unit == "sample":  # a stacked network's first ranking: timed on its own first unit, before any cost is said
    try:
        cost.probe_pace(analysis, state.attribution().action, group, cost.rate_key(data.fingerprint, current.recipe.fingerprint()),
                        results.ranking_models(current, state.attribution().action))
    except TDAError as exc:
        st.error(str(exc))
        frame.stop()
costs = {a: results.ranking_cost(current, group, a, state.attribution().metric) for a in offered} \
    if state.attribution().unit == "sample" else {}
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
        if state.attribution().large_groups:
            st.number_input("Group size", min_value=1, max_value=data.n_train, step=1, key=state.SIZE, persist_state="session")
        else:
            clamp_size()
            st.slider("Group size", 1, 10, key=state.SIZE, persist_state="session")
        st.checkbox("Allow groups larger than 10", key=state.LARGE, persist_state="session", on_change=clamp_size)
    if state.attribution().alpha not in ALPHAS:  # e.g. a hand-edited link
        state.update(state.ATTRIBUTION_STEP, alpha=0.05)
    st.select_slider("Significance α", ALPHAS, key=state.ALPHA, persist_state="session", width=150)
choice = state.attribution()
action, metric, size, alpha, unit = choice.action, choice.metric, int(choice.size), choice.alpha, choice.unit
label = METRIC_LABELS[metric]
st.caption(ACTIONS[action].description + ("" if data.has_pool else " Add from a pool is offered once the data have a pool "
                                   "(upload one on the data page)."))
cost_line = st.empty()  # filled again once this page's ranking has run ('ready')
show_costs(cost_line, costs)
st.page_link(frame.PAGES["compare"], icon=":material/compare_arrows:",
             label=f"Compare every action at sizes {', '.join(str(n) for n in choice.compare_sizes)} side by side")
if subject_of(action) is POOL and state.notes().url_pool and state.data().pool_upload is None:
    st.info(f"This link was made with an uploaded pool, **{state.notes().url_pool}**, which cannot be restored from a "
            "link: this ranking is of the data's own pool. Upload it again on the data page.")
try:  # the engine's own refusal, before anything is trained (candidate groups are of training samples)
    check_action(data, ACTIONS[action], unit)
except TDAError as exc:
    st.error(str(exc))
    frame.stop()

# A ranking of hours (or long at the measured rate) asks first, with its estimate and candidate mode's.
run_label = results.ranking_label(current, action, unit, size)
if unit == "sample" and not analysis.has_ranking(action, group, metric) and state.notes().stopped != run_label \
        and run_label not in state.notes().confirmed:
    try:
        ask = loaders.long_ranking(current, group, action)
    except TDAError as exc:
        st.error(str(exc))
        frame.stop()
    if ask is not None:
        ask_first(ask, run_label, current.recipe)
        frame.stop()

try:
    result = results.attribution(current, group, action, metric, size, alpha, unit)
except TDAError as exc:  # e.g. an uploaded model that fails to train on an edited set
    st.error(str(exc))
    frame.stop()
state.show_result(result)
view = views.view_for(views.RankingPage(current, result, metric, size, alpha))
ranking, effect, selected = result.ranking, result.effect, result.selected
deterministic = result.deterministic
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
                   "ensemble of the same size (split halves of the members, with the jackknife's bias correction; no extra training).")
    verdict = st.container(width="stretch")
with verdict:
    interval = result.reliability_interval
    level, _, meaning = reliability_verdict(reliability, interval).partition(": ")
    if deterministic:
        st.markdown(f"**{DETERMINISTIC}.** Every member gave the same probabilities, so each edit was trained once: "
                    "no spread over members and no p-value apply; an improving effect is enough to be selected.")
    else:
        rerun = "" if interval is None else f" A rerun with other seeds would correlate between {interval[0]:.2f} and {interval[1]:.2f}."
        st.markdown(f"Reliability is **{level}**: {meaning}.{rerun}")
    with st.container(horizontal=True):
        if reliability is not None and reliability < LOW_RELIABILITY and view.offers_groups:
            st.button("Rank candidate groups instead", on_click=rank_groups_instead, icon=":material/workspaces:")
        grow_asked = growing.offers(result) and st.button(
            "Grow the ensemble until the ranking holds", icon=":material/trending_up:", key="grow_ensemble",
            help=f"Adds one seed at a time (each trained once and cached) until the low end of the reliability interval "
                 f"reaches {growing.TARGET}, or {growing.MAX_ENSEMBLE} members; the grown ensemble then becomes the run's.")
if grow_asked:
    growing.grow(current, group, action, metric, size, alpha, unit)
grown = growing.grown_for(current)
if grown is not None:
    growing.show(grown)

# --- the group effect ---------------------------------------------------------------------------
heading, how = view.effect_heading()
st.subheader(heading)
st.caption(how)
if effect is None:
    st.info(f"No {kind} {view.what} moves the {label} toward fixing the error"
            + ("" if deterministic else f" significantly at α = {alpha}")
            + ". Try another action or metric, " + ("" if deterministic else "a larger α, more ensemble members, ")
            + view.retry_hint())
else:
    sign_word = tables.direction(metric)
    if pool:  # the question add answers, in one line: what adding these samples does to the errors
        st.markdown(f"#### {results.add_headline(len(selected), effect.errors_fixed, effect.errors_new)}")
    with st.container(horizontal=True, gap="medium"):  # metrics as wide as their labels, wrapping
        view.render_size()
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
raw = st.toggle(f"Show the raw change of the {label} ({tables.direction(metric)})", key=RAW, persist_state="session",
                help="The improvement is the change of the metric signed so that positive always means toward fixing "
                     "the error: for the loss and the predicted-class probability it is minus the raw change.")
view.render_ranking(raw)

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
