"""The dashboard's state: a few named keys in ``st.session_state``.

Widgets that hold a user's choice use these keys directly with ``persist_state="session"``,
so Streamlit keeps their values while their page is not shown: moving between pages never
resets a choice. :func:`init` (called by the router) fills in the defaults once per session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from tda_core.actions import ACTIONS

# --- Step 1: data and model ---------------------------------------------------------------
SOURCE = "source"  # "demo" | "table" | "images"
DEMO = "demo"  # name of an embedded demo (tda_core.demos.DEMOS)
UPLOAD = "upload"  # Upload of the data table / image ZIP (kept after the uploader is gone)
POOL_UPLOAD = "pool_upload"  # Upload of a pool (table or image ZIP) that replaces the data's own, or None
TEST_UPLOAD = "test_upload"  # Upload of a separate test table, or None
TARGET = "target"  # target column of an uploaded table
TEST_MODE = "test_mode"  # "split" | "file"
TEST_SIZE = "test_size"  # fraction of an uploaded table held out for testing
MODEL_SOURCE = "model_source"  # "recipe" | "upload"
RECIPE = "recipe"  # named recipe: default, logistic-sgd, paper-sgd, logistic-lbfgs
MODEL_UPLOAD = "model_upload"  # Upload of a model file, or None for the named recipe
TRUST = "trust"  # the user trusts a model file that runs code when loaded
ARCH = "arch"  # architecture of uploaded PyTorch weights
NET_MODE = "net_mode"  # networks (image data): "full" retrains every layer, "head" only the last one
EPOCHS = "epochs"  # networks: training epochs, or None for the recipe's default
MEMBERS = "members"  # networks: "seeds" (independent runs, the default) | "checkpoints" (of one run: the study's scheme)
IMAGE_SIZE = "image_size"  # images: the side the network sees, or None for the architecture's own
DEVICE = "device"  # networks: "auto" | "cpu" | "cuda"
# Run settings (RunConfig)
ENSEMBLE, SEED, N_JOBS, BACKEND, SCHEDULER = "ensemble", "seed", "n_jobs", "backend", "scheduler"
USE_CANDIDATES = "use_candidates"  # candidate mode: estimate every sample, retrain only the top CANDIDATES
CANDIDATES = "candidates"  # N of candidate mode

# --- Step 2: errors -----------------------------------------------------------------------
GROUP = "group"  # (true, pred) class names of the chosen error group, or None
TESTS = "tests"  # chosen test indices of that group; () means the whole group

# --- Step 3: attribution ------------------------------------------------------------------
ACTION, METRIC, SIZE, LARGE, ALPHA = "action", "metric", "size", "large_groups", "alpha"
UNIT = "unit"  # rank "sample" (single training samples) | "group" (candidate training groups)
SHOWN_GROUP = "shown_group"  # group_id of the candidate group whose members are shown, or None for the best
RESULT = "result"  # the last tda_core.analysis.Attribution shown
COMPARE_SIZES = "compare_sizes"  # group sizes of the compare-actions view (tda_core.compare)

# --- Step 4: fix --------------------------------------------------------------------------
FIX_INDICES = "fix_indices"  # training indices to act on (editable, seeded from RESULT)
FIX_SEEDED_FROM = "fix_seeded_from"  # (action, selected) that FIX_INDICES was last seeded from
REASON = "reason"  # free text recorded in the manifest
FIX_ORIGIN = "fix_origin"  # (action, size, indices) of the Compare row opened in Fix, or None

ANALYSIS_ID = "analysis_id"  # identity of the (data, recipe, run) that GROUP and RESULT belong to
URL_READ = "url_read"  # the query parameters of the session's first run have been read
URL_UPLOAD = "url_upload"  # file name named by a link whose upload cannot be restored, or None
URL_MODEL = "url_model"  # model file named by a link (it cannot be restored either), or None
URL_POOL = "url_pool"  # pool file named by a link (it cannot be restored either), or None
RATES = "rates"  # {recipe fingerprint: models trained per second}, measured in this session
STOPPED = "stopped"  # label of the run the user stopped (cleared when a run is asked for again), or None
CONFIRMED = "confirmed"  # labels of long runs the user started with a click


@dataclass(frozen=True)
class Upload:
    """An uploaded file, kept in the session after its uploader leaves the page."""

    name: str
    data: bytes
    digest: str

    @property
    def size_kb(self) -> float:
        return len(self.data) / 1024


DEFAULTS: dict[str, Any] = {
    SOURCE: "demo",
    DEMO: "credit",
    UPLOAD: None,
    POOL_UPLOAD: None,
    TEST_UPLOAD: None,
    TARGET: None,
    TEST_MODE: "split",
    TEST_SIZE: 0.2,
    MODEL_SOURCE: "recipe",
    RECIPE: "default",
    MODEL_UPLOAD: None,
    TRUST: False,
    ARCH: "small_cnn",
    NET_MODE: None,  # None: head-only on a CPU, full retraining with a GPU (loaders.default_net_mode)
    EPOCHS: None,
    MEMBERS: "seeds",
    IMAGE_SIZE: None,
    DEVICE: "auto",
    ENSEMBLE: 3,
    SEED: 0,
    N_JOBS: 1,
    BACKEND: "loky",
    SCHEDULER: "",
    USE_CANDIDATES: False,
    CANDIDATES: 100,
    GROUP: None,
    TESTS: (),
    ACTION: "remove",
    METRIC: "gt_prob",
    SIZE: 10,
    LARGE: False,
    ALPHA: 0.05,
    UNIT: "sample",
    SHOWN_GROUP: None,
    RESULT: None,
    COMPARE_SIZES: [1, 5, 10],
    FIX_INDICES: [],
    FIX_SEEDED_FROM: None,
    REASON: "",
    FIX_ORIGIN: None,
    URL_UPLOAD: None,
    URL_MODEL: None,
    URL_POOL: None,
    STOPPED: None,
}

#: The choices kept in the page's URL (``st.query_params``): a reload or a shared link restores them.
#: Each parameter is the state key it holds, except the error group (``true``, ``pred``, ``tests``),
#: the fix page's list of training samples (``fix``) and the compare view's group sizes (``sizes``);
#: ``file``, ``model_file`` and ``pool_file`` name uploads, which a link cannot carry (they are asked for again).
#: An error slice is the group ("slice", ID): ``true=slice&pred=tree-1``, as the CLI's ``--group slice:ID``.
URL_KEYS = (SOURCE, DEMO, TARGET, TEST_SIZE, MODEL_SOURCE, RECIPE, NET_MODE, EPOCHS, ENSEMBLE, ACTION, METRIC, SIZE,
            ALPHA, UNIT, IMAGE_SIZE, DEVICE)
URL_CHOICES: dict[str, tuple[str, ...]] = {
    SOURCE: ("demo", "table", "images"),
    MODEL_SOURCE: ("recipe", "upload"),
    NET_MODE: ("full", "head"),
    METRIC: ("loss", "gt_prob", "pred_prob"),
    UNIT: ("sample", "group"),
    DEVICE: ("auto", "cpu", "cuda"),
}
URL_SIZES_MAX = 12  # group sizes of the compare view kept in the URL
URL_FIX_MAX = 500  # training samples of the fix list kept in the URL (a longer list is left out)
URL_NUMBERS = {EPOCHS: (1, 500), ENSEMBLE: (1, 20), SIZE: (1, 1_000_000), IMAGE_SIZE: (8, 1024)}
URL_FRACTIONS = {TEST_SIZE: (0.05, 0.5), ALPHA: (0.001, 0.1)}  # the sliders' own steps are checked by the pages

def init() -> None:
    """Fill in defaults for keys the session has not set yet; the first run of a session reads the URL."""
    for key, value in DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value
    for key, value in ((RATES, {}), (CONFIRMED, set())):
        if key not in st.session_state:
            st.session_state[key] = value
    if not st.session_state.get(URL_READ):
        st.session_state[URL_READ] = True
        from_url(st.query_params.to_dict())


def from_url(params: dict[str, str]) -> None:
    """Restore the choices a URL names; a value the dashboard would not offer is ignored."""
    for key in URL_KEYS:
        raw = params.get(key)
        if raw is None:
            continue
        if key in URL_CHOICES or key == ACTION:
            if raw in URL_CHOICES.get(key, ACTIONS):  # the engine's actions, read now: a registered one is offered too
                st.session_state[key] = raw
        elif key in URL_NUMBERS:
            low, high = URL_NUMBERS[key]
            if raw.isdigit() and low <= int(raw) <= high:
                st.session_state[key] = int(raw)
        elif key in URL_FRACTIONS:
            low, high = URL_FRACTIONS[key]
            try:
                value = float(raw)
            except ValueError:
                continue
            if low <= value <= high:
                st.session_state[key] = value
        elif raw:
            st.session_state[key] = raw
    if st.session_state.get(SIZE, 0) > 10:
        st.session_state[LARGE] = True
    # A link to a demo too large for an exact ranking (census) starts in candidate mode, as choosing it does.
    from tda_core.data.demos import DEMOS

    demo = DEMOS.get(str(st.session_state.get(DEMO)))
    if st.session_state.get(SOURCE, "demo") == "demo" and demo is not None and demo.candidates:
        st.session_state[USE_CANDIDATES] = True
        st.session_state[CANDIDATES] = demo.candidates
    if params.get("true") and params.get("pred"):
        st.session_state[GROUP] = (params["true"], params["pred"])
        tests = [t for t in params.get("tests", "").split(",") if t.strip().isdigit()]
        st.session_state[TESTS] = tuple(int(t) for t in tests)
    sizes = [int(t) for t in params.get("sizes", "").split(",") if t.strip().isdigit() and 0 < int(t) <= 1_000_000]
    if sizes:
        st.session_state[COMPARE_SIZES] = sorted(set(sizes))[:URL_SIZES_MAX]
    fix = [t for t in params.get("fix", "").split(",") if t.strip().isdigit()]
    if fix:
        st.session_state[FIX_INDICES] = [int(t) for t in fix]
    if st.session_state.get(SOURCE) != "demo" and params.get("file"):
        st.session_state[URL_UPLOAD] = params["file"]
    if st.session_state.get(MODEL_SOURCE) == "upload" and params.get("model_file"):
        st.session_state[URL_MODEL] = params["model_file"]
    if params.get("pool_file"):  # an uploaded pool cannot be restored either: the data page asks for it again
        st.session_state[URL_POOL] = params["pool_file"]


def url_params() -> dict[str, str]:
    """The choices of this session as query parameters (see :data:`URL_KEYS`)."""
    params: dict[str, str] = {}
    source = get(SOURCE)
    for key in URL_KEYS:
        value = get(key)
        if value is None or value == "":
            continue
        if key == DEMO and source != "demo":
            continue
        if key in (TARGET, TEST_SIZE) and source != "table":
            continue
        if key == TEST_SIZE and get(TEST_MODE) != "split":
            continue
        params[key] = str(value)
    upload = get(UPLOAD)
    if source != "demo" and (upload is not None or get(URL_UPLOAD)):
        params["file"] = upload.name if upload is not None else get(URL_UPLOAD)
    pool = get(POOL_UPLOAD)
    if pool is not None or get(URL_POOL):
        params["pool_file"] = pool.name if pool is not None else get(URL_POOL)
    model = get(MODEL_UPLOAD)
    if get(MODEL_SOURCE) == "upload" and (model is not None or get(URL_MODEL)):
        params["model_file"] = model.name if model is not None else get(URL_MODEL)
    group = get(GROUP)
    if group:
        params["true"], params["pred"] = str(group[0]), str(group[1])
        if get(TESTS):
            params["tests"] = ",".join(str(t) for t in get(TESTS))
    sizes = [int(s) for s in get(COMPARE_SIZES) or []]
    if sizes and sizes != DEFAULTS[COMPARE_SIZES]:  # the default stays out of the URL
        params["sizes"] = ",".join(str(s) for s in sizes[:URL_SIZES_MAX])
    fix = get(FIX_INDICES) or []
    if fix and len(fix) <= URL_FIX_MAX:
        params["fix"] = ",".join(str(int(i)) for i in sorted(fix))
    return params


def to_url() -> None:
    """Write the session's choices into the URL, where they differ from it."""
    params = url_params()
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def get(key: str) -> Any:
    return st.session_state.get(key, DEFAULTS.get(key))


def put(key: str, value: Any) -> None:
    st.session_state[key] = value


def choose_group(group: tuple[str, str] | None) -> None:
    """A new error group: its test-sample subset starts over as the whole group."""
    if group != st.session_state.get(GROUP):
        st.session_state[GROUP] = group
    st.session_state[TESTS] = ()


def fix_list(action: str, selected: tuple[int, ...]) -> list[int]:
    """The fix list as the Fix page will take it: seeded from ``selected`` (the attribution page's
    selection for ``action``) unless it was seeded from there already."""
    if get(FIX_SEEDED_FROM) != (action, tuple(selected)):
        return [int(i) for i in selected]
    return [int(i) for i in get(FIX_INDICES) or []]


def mark_for_fix(action: str, selected: tuple[int, ...], index: int) -> None:
    """Add one sample to the fix list (after the selection it is seeded from)."""
    chosen = fix_list(action, selected)
    put(FIX_INDICES, sorted(set(chosen) | {int(index)}))
    put(FIX_SEEDED_FROM, (action, tuple(selected)))
    put(FIX_ORIGIN, None)


def reset_analysis_choices() -> None:
    """New data or model: error groups and results of the old one no longer apply."""
    for key in (GROUP, TESTS, SHOWN_GROUP, RESULT, FIX_INDICES, FIX_SEEDED_FROM, FIX_ORIGIN):
        st.session_state[key] = DEFAULTS[key]
