"""Step 1: choose the dataset, the model (a training recipe or an uploaded model) and the run."""

import contextlib

import streamlit as st

from tda_core import TDAError, UntrustedFileError
from tda_core.data import DEMOS, Dataset
from tda_core.recipes import TrainsNetworks
from ui import charts, cost, frame, loaders, state, tables
from ui.gallery import gallery

SOURCES = {"demo": "Embedded demo", "table": "Upload a table", "images": "Upload images (ZIP)"}
MODEL_SOURCES = {"recipe": "Training recipe", "upload": "Upload a model"}
PREVIEW_IMAGES = 24  # training images drawn in the preview
SAMPLE_WIDTH = 580  # pixels of the preview rows or images beside the class balance
POOL_WIDGET = "pool_widget"  # generation of the pool uploader: a new one forgets the file the old one held
NET_MODES = {"full": "Full: retrain every layer",
             "head": "Head only (fast): retrains only the last layer on frozen features"}
MEMBER_SCHEMES = {"seeds": "Independent seeds (default)",
                  "checkpoints": "Checkpoints of one run (the study's scheme)"}
RECIPE_HELP = {
    "default": "the default for this kind of data",
    "logistic-sgd": "logistic regression, averaged SGD (the tabular default)",
    "paper-sgd": "the paper's SGD logistic regression, checkpoints 30/40/50",
    "logistic-lbfgs": "converged logistic regression (deterministic; exact optima, warm-started)",
}


def remember(name: str, uploaded) -> None:
    """Keep an upload in the session (the uploader itself forgets it on a page switch), in the
    ``name`` field of :class:`~ui.state.DataChoice` ("upload", "pool_upload", ...)."""
    if uploaded is not None:
        upload = loaders.make_upload(uploaded.name, uploaded.getvalue())
        previous = getattr(state.data(), name)
        if previous is None or previous.digest != upload.digest:
            state.update(state.DATA_STEP, **{name: upload})
            if name == "model_upload":
                state.update(state.DATA_STEP, trust=False)  # trust is given to one file, not to the next
            if name == "pool_upload":
                state.update(state.NOTES, url_pool=None)  # the pool a link named is here again (or another one)


def forget_upload() -> None:
    state.reset_analysis_choices()  # another source: the old error group, results and fix list no longer apply
    state.update(state.DATA_STEP, upload=None, test_upload=None)
    state.update(state.NOTES, url_upload=None)
    forget_pool()


def forget_pool() -> None:
    """Back to the data's own pool (or none): the uploaded pool and its uploader's file are dropped."""
    state.update(state.DATA_STEP, pool_upload=None)
    state.update(state.NOTES, url_pool=None)
    st.session_state[POOL_WIDGET] = st.session_state.get(POOL_WIDGET, 0) + 1


def demo_chosen() -> None:
    """Another demo: its pool is its own, and a demo too large for an exact ranking (census) starts in
    candidate mode, whose cost the caption below the model gives."""
    state.reset_analysis_choices()  # the old demo's error group and fix list leave the URL at once
    forget_pool()
    wanted = DEMOS[state.data().demo].candidates
    if wanted:
        state.update(state.DATA_STEP, use_candidates=True, candidates=wanted)


def own_pool_words(data: Dataset) -> str:
    return "the demo's own pool" if state.data().source == "demo" else "the pool/ folder of the ZIP"


def pool_section(base: Dataset) -> Dataset:
    """The pool that add draws from: the data's own (a demo's, a pool/ folder in an image ZIP) or an
    upload that replaces it. A pool that cannot be read is one message, and the data keep their own."""
    st.markdown("**Pool** · labelled samples outside the training set, that the *add* action may add")
    layout = "a table with the training columns and the target" if base.kind == "tabular" \
        else "a ZIP of <class>/ folders of images"
    remember("pool_upload", st.file_uploader(
        f"Pool: {layout}", type=loaders.TABLE_TYPES if base.kind == "tabular" else ["zip"],
        key=f"pool_file_{st.session_state.get(POOL_WIDGET, 0)}",
        help="Each pool sample is added to the training set on its own and the ensemble retrained: the ranking says "
             "which samples, if added, would fix the chosen errors. Classes must be training classes."))
    data, problem = loaders.with_pool(base)
    upload, own = state.data().pool_upload, own_pool_words(base)
    if problem:
        st.error(problem)
        st.caption(f"This pool is not used: {own} ({tables.count(base.n_pool, 'sample')}) is used instead."
                   if base.has_pool else "No pool is used: the add action is not offered.")
    elif upload is not None:
        st.caption(f"Using the pool **{upload.name}**: {tables.count(data.n_pool, 'sample')}"
                   + (f", in place of {own} ({base.n_pool:,})." if base.has_pool else "."))
    elif state.notes().url_pool:
        st.info(f"This link was made with an uploaded pool, **{state.notes().url_pool}**, which cannot be restored "
                "from a link: upload it again. Until then "
                + (f"{own} ({tables.count(base.n_pool, 'sample')}) is used." if base.has_pool
                   else "there is no pool, and add is not offered."))
    elif base.has_pool:
        st.caption(f"{own[0].upper() + own[1:]} is used: {tables.count(base.n_pool, 'sample')}. Upload a pool to replace it.")
    else:
        st.caption("No pool: the add action is not offered. Upload one to find which samples, if added, would fix an error.")
    if upload is not None:
        st.button("Remove the uploaded pool", on_click=forget_pool, icon=":material/close:",
                  help=f"Use {own} instead." if base.has_pool else "Work without a pool.")
    return data


def ranking_cost(data, recipe, networks_rate: float | None = None) -> str:
    """What one single-sample ranking of this recipe costs: its models, and their time from the rate
    measured in this session. A full network retrains whole for every model, so before a ranking its
    time comes from a baseline's networks (``networks_rate``: those of the same network in head-only
    mode); head only fits a last layer per model, far faster than its baseline, so it waits for a ranking."""
    candidates = int(state.data().candidates) if state.data().use_candidates and loaders.can_estimate(recipe) \
        else None
    models = cost.ranking_models(data.n_train, cost.runs(recipe.members(int(state.data().ensemble)), recipe), candidates)
    key, full = cost.rate_key(data.fingerprint, recipe.fingerprint()), cost.full_network(recipe)
    per_second = cost.rate(key, full) or (networks_rate if full else None)
    if full:
        text = cost.describe(models, per_second, full=True)
        return text + ("" if per_second is None else ", from the time the baseline's networks took (retraining in "
                                                        "batches may be faster)")
    if isinstance(recipe, TrainsNetworks) and recipe.mode == "head" and per_second is None:
        return (f"{cost.models_text(models)}, each only a last layer fitted on frozen features: seconds to a few "
                "minutes (the time is measured by the first ranking)")
    return cost.describe(models, per_second)


frame.enter()
st.title("Data and model")
st.caption("Step 1 of 4 · what to debug: a dataset, how the model is trained, and how the ensemble is retrained.")

data, base, data_error = None, None, None
left, right = st.columns(2, gap="large")

with left:
    st.subheader("Dataset")
    sources = [s for s in SOURCES if s != "images" or loaders.images_supported()]
    if state.data().source not in sources:
        state.update(state.DATA_STEP, source="demo")
    st.radio("Data source", sources, format_func=SOURCES.get, key=state.SOURCE, persist_state="session", horizontal=True, on_change=forget_upload)
    source = state.data().source

    if source == "demo":
        names = loaders.demo_names()
        if state.data().demo not in names:
            state.update(state.DATA_STEP, demo=names[0])
        # The box holds the name (a long description is cut in a closed box); the description is below it.
        st.selectbox("Demo", names, key=state.DEMO, persist_state="session",
                     on_change=demo_chosen)  # another demo's pool has other columns or classes
        st.caption(DEMOS[state.data().demo].description)
    elif source == "table":
        remember("upload", st.file_uploader("Table (CSV or Parquet)", type=loaders.TABLE_TYPES, key="table_file"))
    else:
        remember("upload", st.file_uploader("Images: a ZIP with train/<class>/ and test/<class>/", type=["zip"],
                                                key="images_file"))

    upload = state.data().upload
    if source != "demo" and upload is not None:
        st.caption(f"Using **{upload.name}** ({upload.size_kb:,.0f} KB).")

    try:
        if source == "table" and upload is not None:
            columns = loaders.table_columns(upload.digest, upload)
            if state.data().target not in columns:
                state.update(state.DATA_STEP, target=columns[-1])
            st.selectbox("Target column (the class to predict)", columns, key=state.TARGET, persist_state="session")
            st.radio("Test data", ["split", "file"], key=state.TEST_MODE, persist_state="session", horizontal=True,
                     format_func={"split": "Split off a fraction", "file": "Separate test file"}.get)
            if state.data().test_mode == "split":
                state.update(state.DATA_STEP, test_size=round(round(float(state.data().test_size) / 0.05) * 0.05, 2))
                st.slider("Test fraction (stratified split, seed 0)", 0.05, 0.5, step=0.05, key=state.TEST_SIZE, persist_state="session")
            else:
                remember("test_upload", st.file_uploader("Test table", type=loaders.TABLE_TYPES, key="test_file"))
                test_upload = state.data().test_upload
                if test_upload is not None:
                    st.caption(f"Testing on **{test_upload.name}**.")
        if (source == "images" or (source == "demo" and DEMOS[state.data().demo].kind == "images")) \
                and loaders.images_supported():
            native = loaders.native_image_size(loaders.image_arch())
            st.number_input("Image size (pixels)", min_value=8, max_value=1024, step=8, value=None, key=state.IMAGE_SIZE,
                            persist_state="session", placeholder=f"{native} (the architecture's)",
                            help="The side of the square every image is resized to. torchvision's classifiers expect "
                                 "224, the small networks 28; a smaller size is faster, a larger one keeps more detail.")
        base = loaders.training_dataset()
    except TDAError as exc:
        data_error = str(exc)
    except Exception as exc:  # an arbitrary upload can break a reader in unforeseen ways: one line, no traceback
        data_error = str(exc)
    if data_error:
        st.error(data_error)
    elif base is not None:
        data = pool_section(base)
    else:
        if source != "demo" and upload is None and state.notes().url_upload:
            st.info(f"This link was made with an uploaded file, **{state.notes().url_upload}**. An upload cannot be "
                    "restored from a link: upload it again, and the link's other choices (target, model, error group, "
                    "action, metric, size) apply to it.")
        else:
            st.info("Upload a file to continue." if source != "demo" else "Choose a demo.")

recipe = None
with right:
    st.subheader("Model")
    st.radio("Model", list(MODEL_SOURCES), format_func=MODEL_SOURCES.get, key=state.MODEL_SOURCE, persist_state="session", horizontal=True,
             label_visibility="collapsed")
    kind = data.kind if data is not None else "tabular"
    if state.data().model_source == "recipe":
        names = loaders.recipe_names(kind)
        if state.data().recipe not in names:
            state.update(state.DATA_STEP, recipe="default")
        st.selectbox("Training recipe", names, key=state.RECIPE, persist_state="session", format_func=lambda n: f"{n} · {RECIPE_HELP.get(n, '')}")
    else:
        types = loaders.SKLEARN_MODEL_TYPES + (loaders.TORCH_MODEL_TYPES if kind == "images" else [])
        # The types are said in the label, in full: the uploader's own list of them is cut in a narrow column.
        remember("model_upload", st.file_uploader(
            "Model file: " + ", ".join(f".{t}" for t in types), key="model_file",
            help="The model is used as a training recipe: it is cloned and retrained for every counterfactual. "
                 ".skops: scikit-learn, safe to load; .pkl, .pickle, .joblib run code when loaded (you are asked to "
                 "trust them)" + ("; .safetensors, .pt, .pth: PyTorch weights of a named architecture." if kind == "images"
                                  else ".")))
        model_upload = state.data().model_upload
        if model_upload is not None:
            if loaders.is_code_format(model_upload.name):
                st.checkbox("I trust this file (it runs code when loaded)", key=state.TRUST, persist_state="session")
            if kind == "images" and model_upload.name.lower().rsplit(".", 1)[-1] in loaders.TORCH_MODEL_TYPES:
                st.selectbox("Architecture of the weights", loaders.architectures(), key=state.ARCH, persist_state="session")
        elif state.notes().url_model:
            st.info(f"This link was made with an uploaded model, **{state.notes().url_model}**, which cannot be "
                    "restored from a link: upload it again, or use a training recipe.")
        else:
            st.info("Upload a model, or use a training recipe.")
    torch_upload = state.data().model_source == "upload" and state.data().model_upload is not None and \
        state.data().model_upload.name.lower().rsplit(".", 1)[-1] in loaders.TORCH_MODEL_TYPES
    if kind == "images" and (state.data().model_source == "recipe" or torch_upload):
        if state.data().epochs is None:
            state.update(state.DATA_STEP, epochs=loaders.default_epochs())
        if state.data().net_mode is None:
            state.update(state.DATA_STEP, net_mode=loaders.default_net_mode())
        mode_costs = {}
        if data is not None and not torch_upload:  # the cost of each mode, before choosing it
            mode_recipes = {mode: loaders.recipe_by_name("default", data.fingerprint, int(state.data().epochs), mode,
                                                         state.data().members == "checkpoints", data)
                            for mode in NET_MODES}
            # The same network trains whole in either mode's baseline: its rate prices a full ranking.
            networks = max((r for r in (cost.baseline_rate(cost.rate_key(data.fingerprint, m.fingerprint()))
                                        for m in mode_recipes.values()) if r), default=None)
            for mode, mode_recipe in mode_recipes.items():
                mode_costs[mode] = ranking_cost(data, mode_recipe, networks)
        with st.container(horizontal=True, gap="medium"):
            n1, n2 = st.container(width="stretch"), st.container(width=120)
        # Fixed labels (a label that changes makes a new widget): the costs go in the caption below.
        n1.radio("Network retraining", list(NET_MODES), format_func=NET_MODES.get, key=state.NET_MODE,
                 persist_state="session",
                 help="Full: every counterfactual retrains the whole network. Head only: the network is trained once "
                      "per seed on the unedited data, its body is frozen, and every counterfactual retrains only the "
                      "last layer on those features (minutes instead of hours, but it cannot change the features). "
                      "Head only is the default without a GPU.")
        n2.number_input("Epochs", min_value=1, max_value=500, step=1, key=state.EPOCHS, persist_state="session",
                        help="Training epochs of the network (in head-only mode: of the network whose body is frozen; "
                             "the last layer then trains for its own epochs).")
        if mode_costs:
            n1.caption("Per action · " + " · ".join(f"**{'full' if m == 'full' else 'head only'}**: {c}"
                                                    for m, c in mode_costs.items()))
        st.radio("Members", list(MEMBER_SCHEMES), format_func=MEMBER_SCHEMES.get, key=state.MEMBERS,
                 persist_state="session", horizontal=True,
                 help="Independent seeds: every member is its own training run (its own initialisation and batch "
                      "order), so p-values and reliability measure training noise. Checkpoints of one run: the last "
                      "three epochs of one run are the members, as in the user study; they share that run's noise, so "
                      "p-values and reliability count each run once and need members from at least two runs.")
    if data is not None:
        try:
            recipe = loaders.current_recipe(data)
        except UntrustedFileError as exc:
            st.error(exc.worded({"trust_file": "tick “I trust this file”"}))
            if not loaders.is_code_format(state.data().model_upload.name):  # .skops with unusual types
                st.checkbox("I trust this file (it holds types skops does not trust by default)", key=state.TRUST,
                            persist_state="session")
        except TDAError as exc:
            st.error(str(exc))
        except Exception as exc:
            st.error(f"The model could not be loaded: {exc}")  # a bug: load_model words every failure it knows
    if recipe is not None:
        model_upload = state.data().model_upload
        if state.data().model_source == "upload" and model_upload is not None and state.data().trust:
            st.warning(f"{model_upload.name} was loaded trusting its contents (it may run code): only do this for "
                       "files you know.")
        mode = recipe.mode if isinstance(recipe, TrainsNetworks) else None
        scheme = (f"checkpoints of one run, {recipe.members_per_run} per run (the study's scheme)"
                  if recipe.members_per_run > 1 else "independent seeds")
        st.markdown(f"**{recipe.display_name}** · ensemble of **{state.data().ensemble}** members: {scheme} · "
                    f"removal by {'dropping rows' if recipe.removal == 'drop' else 'weight 0 in place'}"
                    + (" · **head only**: retrains the last layer on frozen features" if mode == "head" else "")
                    + (f" · candidate mode: top **{state.data().candidates}**"
                       if state.data().use_candidates and loaders.can_estimate(recipe) else ""))
        st.caption(f"**Cost** · the baseline: {cost.models_text(cost.runs(recipe.members(int(state.data().ensemble)), recipe))}; "
                   f"each action's ranking of single samples: {ranking_cost(data, recipe)}. Models already trained "
                   "come from the cache, and a run can be stopped.")
        per_run = recipe.members_per_run
        if per_run > 1 and int(state.data().ensemble) <= per_run:
            st.caption(f"All {state.data().ensemble} members are checkpoints of one run: they are not independent, "
                       f"so no p-value or reliability can be computed. Use {2 * per_run} or more members to span "
                       "several runs.")
        with st.expander("Recipe parameters"):
            st.dataframe(tables.recipe_parameters(recipe), hide_index=True, width="stretch")

with st.expander("Run settings: ensemble, seeds, parallelism, candidate mode"):
    c1, c2, c3, c4 = st.columns(4)
    c1.number_input("Ensemble members", min_value=1, max_value=20, step=1, key=state.ENSEMBLE, persist_state="session",
                    help="Every effect is a paired difference over these members (same seeds before and after). "
                         "One member is enough only for a deterministic model, whose effects are exact.")
    if int(state.data().ensemble) == 1:
        c1.caption("One member: only for a deterministic model (the next page says so if this one is not).")
    c2.number_input("First seed", min_value=0, step=1, key=state.SEED, persist_state="session")
    c3.number_input("Parallel jobs (0: auto)", min_value=-1, max_value=64, step=1, key=state.N_JOBS, persist_state="session",
                    help="0 (auto): the idle cores, for a ranking long enough to repay starting workers, as far as "
                         "the memory budget holds them. A number: that many workers. -1: every core.")
    c4.selectbox("Backend", loaders.UI_BACKENDS, key=state.BACKEND, persist_state="session")
    if data is not None and data.kind == "images":
        st.selectbox("Device (networks)", ["auto", "cpu", "cuda"], key=state.DEVICE, persist_state="session",
                     format_func={"auto": "auto (the GPU if there is one)", "cpu": "CPU", "cuda": "GPU (CUDA)"}.get,
                     help="Where networks train and extract features. Results are paired and cached the same on any "
                          "device; float rounding can differ between devices.")
        if state.data().device == "cuda" and not loaders.cuda_available():
            st.caption("No CUDA GPU here: the next page will say so; choose auto or CPU.")
    if state.data().backend == "dask":
        st.text_input("Dask scheduler address (empty: a local cluster)", key=state.SCHEDULER, persist_state="session", placeholder="tcp://10.0.0.5:8786")
    estimable = recipe is None or loaders.can_estimate(recipe)
    k1, k2 = st.columns([3, 1])
    k1.checkbox("Retrain only the top N candidates (estimated first)", key=state.USE_CANDIDATES, persist_state="session",
                disabled=not estimable,
                help="For large training sets: every sample's effect is first estimated without retraining "
                     "(influence functions or gradient similarity), then only the N most promising samples and a random "
                     "check sample are retrained. Every number shown in the ranking still comes from retraining.")
    k2.number_input("N candidates", min_value=1, max_value=100_000, step=10, key=state.CANDIDATES, persist_state="session",
                    disabled=not estimable or not state.data().use_candidates)
    if not estimable:
        k1.caption(f"Candidate mode needs a recipe that can estimate effects; {recipe.display_name} cannot.")

if data is not None:
    st.divider()
    st.subheader(f"Preview · {data.name}")
    pool_upload = state.data().pool_upload
    if data.description:  # a demo's description counts its own pool: say which pool is used instead
        st.caption(data.description + (f" · the pool: {pool_upload.name}, {data.n_pool:,} samples"
                                       if pool_upload is not None and data is not base else ""))
    m1, m2, m3, m4, *m5 = st.columns(5 if data.has_pool else 4)
    m1.metric("Training rows", f"{data.n_train:,}")
    m2.metric("Test rows", f"{data.n_test:,}")
    m3.metric("Feature columns" if data.kind == "tabular" else "Image shape",
              f"{data.X_train.shape[1]}" if data.kind == "tabular" else "×".join(map(str, data.X_train.shape[1:])))
    m4.metric("Classes", data.n_classes)
    if data.has_pool:
        m5[0].metric("Pool rows" if data.kind == "tabular" else "Pool images", f"{data.n_pool:,}",
                     help="Samples outside the training set that the add action may add.")
    # Side by side on a wide window; on a narrow one the rows (or images) move below the chart.
    with st.container(horizontal=True, gap="medium"):
        balance, sample = st.container(width=300), st.container(width=SAMPLE_WIDTH)
    with balance:
        st.markdown(f"**Class balance** of `{data.target}`")
        st.altair_chart(charts.class_balance_chart(tables.class_counts(data)), width="stretch")
    with sample:
        if data.kind == "tabular":
            st.markdown("**First training rows**")
            preview = data.X_train.head(50).assign(**{data.target: [data.classes[c] for c in data.y_train[:50]]})
            st.dataframe(preview, height=260, width="stretch")
        else:
            per_class = max(1, PREVIEW_IMAGES // data.n_classes)
            st.markdown(f"**Training images** · the first {per_class} of each class")
            shown = tables.preview_indices(data, per_class)
            gallery(data.thumbnails_train, shown, [data.classes[data.y_train[i]] for i in shown], cap=PREVIEW_IMAGES,
                    columns=data.n_classes if 4 <= data.n_classes <= 12 else 8)
    if recipe is not None:
        st.page_link(frame.PAGES["errors"], label="Next: see the model's errors", icon=":material/arrow_forward:")
if recipe is not None:
    # Another data, model or run: the old error group, results and fix list are cleared (and leave the URL)
    # now; a refusal is said by the next page.
    with contextlib.suppress(TDAError):
        loaders.current()
