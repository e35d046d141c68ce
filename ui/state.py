"""The dashboard's state: one frozen dataclass per workflow step, each under one session key.

:class:`DataChoice` (step 1), :class:`ErrorChoice` (step 2), :class:`AttributionChoice` (step 3
and the compare view) and :class:`FixList` (step 4) hold the user's choices, :class:`SessionNotes`
what the session remembers beside them (the link it was opened with, the runs stopped or started
with a click); the last result, the measured rates and the analysis' identity have a key each
(:data:`SESSION_KEYS`: read with :func:`result`, :func:`rates`, :func:`analysis_id`). Pages read a
step with :func:`data`, :func:`errors`, :func:`attribution`, :func:`fix`, :func:`notes` and change it
with :func:`update`.

A widget binds its value to ``st.session_state[key]``, so each widget still has its key (the
``SOURCE`` ... ``FIX_MODE``, ``REASON`` constants, with ``persist_state="session"``: moving between pages never
resets a choice). Those keys mirror one field of their step (:data:`WIDGETS`): a step read picks up
what the user changed in a widget, and :func:`update` writes the mirror with the field. Every other
field lives in its step only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import streamlit as st

from tda_core import ACTIONS


@dataclass(frozen=True)
class Upload:
    """An uploaded file, kept in the session after its uploader leaves the page."""

    name: str
    data: bytes
    digest: str

    @property
    def size_kb(self) -> float:
        return len(self.data) / 1024


@dataclass(frozen=True)
class DataChoice:
    """Step 1: the data and the model, and the run settings (``tda_core.RunConfig``)."""

    source: str = "demo"  # "demo" | "table" | "images"
    demo: str = "credit"  # name of an embedded demo (tda_core.demos.DEMOS)
    upload: Upload | None = None  # the data table / image ZIP (kept after the uploader is gone)
    pool_upload: Upload | None = None  # a pool (table or image ZIP) that replaces the data's own
    test_upload: Upload | None = None  # a separate test table
    target: str | None = None  # target column of an uploaded table
    test_mode: str = "split"  # "split" | "file"
    test_size: float = 0.2  # fraction of an uploaded table held out for testing
    model_source: str = "recipe"  # "recipe" | "upload"
    recipe: str = "default"  # named recipe: default, logistic-sgd, paper-sgd, logistic-lbfgs
    model_upload: Upload | None = None  # a model file, or None for the named recipe
    trust: bool = False  # the user trusts a model file that runs code when loaded
    arch: str = "small_cnn"  # architecture of uploaded PyTorch weights
    net_mode: str | None = None  # "full" | "head"; None: head-only on a CPU, full with a GPU (loaders.default_net_mode)
    epochs: int | None = None  # networks: training epochs, or None for the recipe's default
    members: str = "seeds"  # "seeds" (independent runs) | "checkpoints" (of one run: the study's scheme)
    image_size: int | None = None  # images: the side the network sees, or None for the architecture's own
    device: str = "auto"  # networks: "auto" | "cpu" | "cuda"
    ensemble: int = 3
    seed: int = 0
    n_jobs: int = 0  # tda_core.limits.AUTO_JOBS: the idle cores, for a ranking long enough to gain
    backend: str = "loky"
    scheduler: str = ""
    use_candidates: bool = False  # candidate mode: estimate every sample, retrain only the top `candidates`
    candidates: int = 100


@dataclass(frozen=True)
class ErrorChoice:
    """Step 2: the error group and the test samples of it."""

    group: tuple[str, str] | None = None  # (true, pred) class names, or ("slice", ID)
    tests: tuple[int, ...] = ()  # chosen test indices of the group; () means the whole group


@dataclass(frozen=True)
class AttributionChoice:
    """Step 3: what the ranking acts with and measures, and the compare view's group sizes."""

    action: str = "remove"
    metric: str = "gt_prob"
    size: int = 10
    large_groups: bool = False  # group sizes above 10 are offered
    alpha: float = 0.05
    unit: str = "sample"  # rank "sample" (single samples) | "group" (candidate training groups)
    shown_group: str | None = None  # group_id of the candidate group whose members are shown, or None for the best
    compare_sizes: list[int] = field(default_factory=lambda: [1, 5, 10])  # group sizes of tda_core.compare
    compare_chosen: tuple[str, int] | None = None  # (action, size) of the compare table's row picked; None: the best


@dataclass(frozen=True)
class FixList:
    """Step 4: the samples to act on (seeded from the attribution page's selection, then edited)."""

    mode: str = "action"  # how the fix is made: "action" | "hand" | "manifest" (ui.fixing.MODES)
    indices: list[int] = field(default_factory=list)
    seeded_from: tuple[str, tuple[int, ...]] | None = None  # (action, selected) that `indices` was last seeded from
    reason: str = ""  # free text recorded in the manifest
    origin: tuple[str, int, tuple[int, ...]] | None = None  # (action, size, indices) of the Compare row opened in Fix


@dataclass(frozen=True)
class SessionNotes:
    """What the session remembers beside the choices."""

    url_read: bool = False  # the query parameters of the session's first run have been read
    url_upload: str | None = None  # file name named by a link whose upload cannot be restored
    url_model: str | None = None  # model file named by a link (it cannot be restored either)
    url_pool: str | None = None  # pool file named by a link (it cannot be restored either)
    stopped: str | None = None  # label of the run the user stopped (cleared when a run is asked for again)
    confirmed: set[str] = field(default_factory=set)  # labels of long runs the user started with a click
    kept_group: tuple[tuple[str, str] | None, tuple[int, ...]] | None = None  # (group, tests) over a change of run settings
    grown: Any = None  # the ui.growing.Grown the run's ensemble was grown by ("until the ranking holds"), or None


# --- the session keys ---------------------------------------------------------------------
DATA_STEP, ERRORS_STEP, ATTRIBUTION_STEP, FIX_STEP = "data_choice", "error_choice", "attribution_choice", "fix_list"
NOTES = "session_notes"
RESULT = "result"  # the last tda_core.Attribution shown
RATES = "rates"  # {recipe fingerprint: models trained per second}, measured in this session
ANALYSIS_ID = "analysis_id"  # identity of the (data, recipe, run) that the error choice and the result belong to
STEPS: dict[str, type] = {DATA_STEP: DataChoice, ERRORS_STEP: ErrorChoice, ATTRIBUTION_STEP: AttributionChoice,
                          FIX_STEP: FixList, NOTES: SessionNotes}
SESSION_KEYS = (*STEPS, RESULT, RATES, ANALYSIS_ID)

# --- widget keys (each mirrors one field of its step) ---------------------------------------
SOURCE, DEMO, TARGET, TEST_MODE, TEST_SIZE = "source", "demo", "target", "test_mode", "test_size"
MODEL_SOURCE, RECIPE, TRUST, ARCH = "model_source", "recipe", "trust", "arch"
NET_MODE, EPOCHS, MEMBERS, IMAGE_SIZE, DEVICE = "net_mode", "epochs", "members", "image_size", "device"
ENSEMBLE, SEED, N_JOBS, BACKEND, SCHEDULER = "ensemble", "seed", "n_jobs", "backend", "scheduler"
USE_CANDIDATES, CANDIDATES = "use_candidates", "candidates"
GROUP = "group"
ACTION, METRIC, SIZE, LARGE, ALPHA = "action", "metric", "size", "large_groups", "alpha"
UNIT, SHOWN_GROUP, COMPARE_SIZES = "unit", "shown_group", "compare_sizes"
FIX_MODE, FIX_INDICES, REASON = "fix_mode", "fix_indices", "reason"
WIDGETS: dict[str, tuple[str, str]] = {
    **{key: (DATA_STEP, key) for key in (SOURCE, DEMO, TARGET, TEST_MODE, TEST_SIZE, MODEL_SOURCE, RECIPE, TRUST, ARCH,
                                         NET_MODE, EPOCHS, MEMBERS, IMAGE_SIZE, DEVICE, ENSEMBLE, SEED, N_JOBS, BACKEND,
                                         SCHEDULER, USE_CANDIDATES, CANDIDATES)},
    GROUP: (ERRORS_STEP, "group"),
    **{key: (ATTRIBUTION_STEP, key) for key in (ACTION, METRIC, SIZE, LARGE, ALPHA, UNIT, SHOWN_GROUP, COMPARE_SIZES)},
    FIX_MODE: (FIX_STEP, "mode"), FIX_INDICES: (FIX_STEP, "indices"), REASON: (FIX_STEP, "reason"),
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
    """Make each step's dataclass and the widgets' keys exist; the first run of a session reads the URL."""
    for step in STEPS:
        _load(step)
    if RATES not in st.session_state:
        st.session_state[RATES] = {}
    if not notes().url_read:
        update(NOTES, url_read=True)
        from_url(st.query_params.to_dict())


def _load(step: str) -> Any:
    """The step's dataclass, with what the user changed in its widgets since it was last written."""
    choice = st.session_state.get(step)
    if choice is None:
        choice = STEPS[step]()
    changes = {}
    for key, (owner, name) in WIDGETS.items():
        if owner != step:
            continue
        if key in st.session_state:
            value = st.session_state[key]
            if value != getattr(choice, name):
                changes[name] = value
        else:  # a widget not drawn yet starts from the step's value
            st.session_state[key] = getattr(choice, name)
    if changes or st.session_state.get(step) is None:
        choice = replace(choice, **changes)
        st.session_state[step] = choice
    return choice


def update(step: str, **changes: Any) -> None:
    """Change fields of ``step``'s dataclass (one of :data:`STEPS`) and the widgets that mirror them."""
    st.session_state[step] = replace(_load(step), **changes)
    for key, (owner, name) in WIDGETS.items():
        if owner == step and name in changes and (key not in st.session_state or st.session_state[key] != changes[name]):
            st.session_state[key] = changes[name]


def data() -> DataChoice:
    return _load(DATA_STEP)


def errors() -> ErrorChoice:
    return _load(ERRORS_STEP)


def attribution() -> AttributionChoice:
    return _load(ATTRIBUTION_STEP)


def fix() -> FixList:
    return _load(FIX_STEP)


def notes() -> SessionNotes:
    return _load(NOTES)


def rates() -> dict[str, float]:
    """{recipe fingerprint: models trained per second}, measured in this session."""
    return st.session_state.setdefault(RATES, {})


def analysis_id() -> str | None:
    """The identity of the (data, recipe, run) that the error choice and the result belong to."""
    return st.session_state.get(ANALYSIS_ID)


def set_analysis_id(identity: str) -> None:
    st.session_state[ANALYSIS_ID] = identity


def stop_run(label: str | None) -> None:
    """Record the run the user stopped (None: it may run again)."""
    update(NOTES, stopped=label)


def result() -> Any:
    """The last ``tda_core.Attribution`` shown, or None."""
    return st.session_state.get(RESULT)


def show_result(attribution: Any) -> None:
    st.session_state[RESULT] = attribution


def _widget_value(key: str) -> Any:
    """The field a widget key (one of :data:`WIDGETS`) mirrors."""
    step, name = WIDGETS[key]
    return getattr(_load(step), name)


def _set_widget(key: str, value: Any) -> None:
    step, name = WIDGETS[key]
    update(step, **{name: value})


def from_url(params: dict[str, str]) -> None:
    """Restore the choices a URL names; a value the dashboard would not offer is ignored."""
    for key in URL_KEYS:
        raw = params.get(key)
        if raw is None:
            continue
        if key in URL_CHOICES or key == ACTION:
            if raw in URL_CHOICES.get(key, ACTIONS):  # the engine's actions, read now: a registered one is offered too
                _set_widget(key, raw)
        elif key in URL_NUMBERS:
            low, high = URL_NUMBERS[key]
            if raw.isdigit() and low <= int(raw) <= high:
                _set_widget(key, int(raw))
        elif key in URL_FRACTIONS:
            low, high = URL_FRACTIONS[key]
            try:
                value = float(raw)
            except ValueError:
                continue
            if low <= value <= high:
                _set_widget(key, value)
        elif raw:
            _set_widget(key, raw)
    if attribution().size > 10:
        update(ATTRIBUTION_STEP, large_groups=True)
    # A link to a demo too large for an exact ranking (census) starts in candidate mode, as choosing it does.
    from tda_core.data import DEMOS

    demo = DEMOS.get(str(data().demo))
    if data().source == "demo" and demo is not None and demo.candidates:
        update(DATA_STEP, use_candidates=True, candidates=demo.candidates)
    if params.get("true") and params.get("pred"):
        tests = [t for t in params.get("tests", "").split(",") if t.strip().isdigit()]
        update(ERRORS_STEP, group=(params["true"], params["pred"]), tests=tuple(int(t) for t in tests))
    sizes = [int(t) for t in params.get("sizes", "").split(",") if t.strip().isdigit() and 0 < int(t) <= 1_000_000]
    if sizes:
        update(ATTRIBUTION_STEP, compare_sizes=sorted(set(sizes))[:URL_SIZES_MAX])
    fix_indices = [t for t in params.get("fix", "").split(",") if t.strip().isdigit()]
    if fix_indices:
        update(FIX_STEP, indices=[int(t) for t in fix_indices])
    if data().source != "demo" and params.get("file"):
        update(NOTES, url_upload=params["file"])
    if data().model_source == "upload" and params.get("model_file"):
        update(NOTES, url_model=params["model_file"])
    if params.get("pool_file"):  # an uploaded pool cannot be restored either: the data page asks for it again
        update(NOTES, url_pool=params["pool_file"])


def url_params() -> dict[str, str]:
    """The choices of this session as query parameters (see :data:`URL_KEYS`)."""
    params: dict[str, str] = {}
    chosen, link = data(), notes()
    for key in URL_KEYS:
        value = _widget_value(key)
        if value is None or value == "":
            continue
        if key == DEMO and chosen.source != "demo":
            continue
        if key in (TARGET, TEST_SIZE) and chosen.source != "table":
            continue
        if key == TEST_SIZE and chosen.test_mode != "split":
            continue
        params[key] = str(value)
    if chosen.source != "demo" and (chosen.upload is not None or link.url_upload):
        params["file"] = chosen.upload.name if chosen.upload is not None else str(link.url_upload)
    if chosen.pool_upload is not None or link.url_pool:
        params["pool_file"] = chosen.pool_upload.name if chosen.pool_upload is not None else str(link.url_pool)
    if chosen.model_source == "upload" and (chosen.model_upload is not None or link.url_model):
        params["model_file"] = chosen.model_upload.name if chosen.model_upload is not None else str(link.url_model)
    group, tests = errors().group, errors().tests
    if group:
        params["true"], params["pred"] = str(group[0]), str(group[1])
        if tests:
            params["tests"] = ",".join(str(t) for t in tests)
    sizes = [int(s) for s in attribution().compare_sizes or []]
    if sizes and sizes != AttributionChoice().compare_sizes:  # the default stays out of the URL
        params["sizes"] = ",".join(str(s) for s in sizes[:URL_SIZES_MAX])
    indices = fix().indices or []
    if indices and len(indices) <= URL_FIX_MAX:
        params["fix"] = ",".join(str(int(i)) for i in sorted(indices))
    return params


def to_url() -> None:
    """Write the session's choices into the URL, where they differ from it."""
    params = url_params()
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def choose_group(group: tuple[str, str] | None) -> None:
    """A new error group: its test-sample subset starts over as the whole group."""
    update(ERRORS_STEP, group=group, tests=())


def keep_group() -> None:
    """Carry the error choice over a change of the run settings (the same data and model)."""
    update(NOTES, kept_group=(errors().group, errors().tests))


def restore_kept_group() -> None:
    kept = notes().kept_group
    if kept is not None:
        update(NOTES, kept_group=None)
        update(ERRORS_STEP, group=kept[0], tests=kept[1])


def fix_list(action: str, selected: tuple[int, ...]) -> list[int]:
    """The fix list as the Fix page will take it: seeded from ``selected`` (the attribution page's
    selection for ``action``) unless it was seeded from there already."""
    if fix().seeded_from != (action, tuple(selected)):
        return [int(i) for i in selected]
    return [int(i) for i in fix().indices or []]


def mark_for_fix(action: str, selected: tuple[int, ...], index: int) -> None:
    """Add one sample to the fix list (after the selection it is seeded from)."""
    chosen = fix_list(action, selected)
    update(FIX_STEP, indices=sorted(set(chosen) | {int(index)}), seeded_from=(action, tuple(selected)), origin=None)


def reset_analysis_choices() -> None:
    """New data or model: error groups and results of the old one no longer apply."""
    update(ERRORS_STEP, group=None, tests=())
    update(ATTRIBUTION_STEP, shown_group=None)
    update(FIX_STEP, indices=[], seeded_from=None, origin=None)
    show_result(None)
