"""Cached loaders: datasets and recipes (``st.cache_resource``) and the shared ``Analysis``.

The :class:`~tda_core.Analysis` keeps every action's counterfactual probabilities in
memory, so it is cached as a resource keyed by the data fingerprint, the recipe fingerprint and
the run configuration: it survives reruns and page switches, and changing the metric, the group
or the size re-ranks without retraining. The engine's disk cache (``TDA_CACHE_DIR`` or ``./cache``)
makes a restart cheap.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from tda_core import BACKENDS, Analysis, DataError, RunConfig, TDAError, UntrustedFileError, UsageError, limits, subject_of
from tda_core.data import DEMOS, Dataset, attach_pool, load_demo, read_table, split_table, tabular_dataset
from tda_core.recipes import TABULAR_RECIPES, Estimates, Recipe, TrainsNetworks, load_model, named_recipe, network_params

from . import cost, growing, state

TABLE_TYPES = ["csv", "parquet", "pq"]
SKLEARN_MODEL_TYPES = ["skops", "pkl", "pickle", "joblib"]
TORCH_MODEL_TYPES = ["safetensors", "pt", "pth"]
CODE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".py")
#: Backends offered in the run settings (ray is an optional extra, left to the CLI).
UI_BACKENDS = tuple(b for b in BACKENDS if b != "ray")
#: Number of images drawn in one gallery.
GALLERY_CAP = 48


def images_supported() -> bool:
    """Image data needs tda_core.images and torch; the tabular path works without them."""
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "torchvision"))


def demo_names() -> list[str]:
    return [name for name, demo in DEMOS.items() if demo.kind == "tabular" or images_supported()]


def recipe_names(kind: str) -> list[str]:
    return ["default", *TABULAR_RECIPES] if kind == "tabular" else ["default"]


def architectures() -> list[str]:
    if not images_supported():
        return []
    from tda_core.recipes.torch import ARCHITECTURES

    return list(ARCHITECTURES)


def make_upload(name: str, data: bytes) -> state.Upload:
    return state.Upload(name, data, hashlib.sha256(data).hexdigest())


# --- data ---------------------------------------------------------------------------------


def image_arch() -> str | None:
    """The architecture images are prepared for: the uploaded weights' when the model is a PyTorch
    file, else the default image recipe's (None: small_cnn)."""
    chosen = state.data()
    upload = chosen.model_upload
    if chosen.model_source == "upload" and upload is not None and \
            upload.name.lower().rsplit(".", 1)[-1] in TORCH_MODEL_TYPES:
        return chosen.arch
    return None


def image_size() -> int | None:
    size = state.data().image_size
    return int(size) if size else None


def native_image_size(arch: str | None) -> int:
    from tda_core.recipes.torch import image_input

    return image_input(arch).size


@st.cache_resource(show_spinner="Loading the demo…", max_entries=4)
def demo_dataset(name: str, arch: str | None = None, size: int | None = None) -> Dataset:
    if DEMOS[name].kind != "images":
        return load_demo(name)
    from tda_core.recipes.torch import image_input

    return load_demo(name, image_input=image_input(arch, size))


@st.cache_data(show_spinner=False, max_entries=8)
def table_columns(digest: str, _upload: state.Upload) -> list[str]:
    return [str(c) for c in read_table(_upload.data, _upload.name).columns]


@st.cache_resource(show_spinner="Reading the table…", max_entries=4)
def table_dataset(digest: str, test_digest: str | None, target: str, test_size: float,
                  _upload: state.Upload, _test: state.Upload | None) -> Dataset:
    frame = read_table(_upload.data, _upload.name)
    if _test is None:
        train, test = split_table(frame, target, test_size, seed=0)
    else:
        train, test = frame, read_table(_test.data, _test.name)
    return tabular_dataset(train, test, target, name=_upload.name)


@st.cache_resource(show_spinner="Reading the images…", max_entries=2)
def image_dataset(digest: str, arch: str | None, size: int | None, _upload: state.Upload) -> Dataset:
    from tda_core.data import load_images
    from tda_core.recipes.torch import image_input

    return load_images(_upload.data, name=_upload.name, image_input=image_input(arch, size))


@st.cache_resource(show_spinner="Reading the pool…", max_entries=4)
def pooled_dataset(data_fingerprint: str, digest: str, arch: str | None, size: int | None,
                   _data: Dataset, _upload: state.Upload) -> Dataset:
    """``_data`` with the uploaded pool in place of its own; images go through the training images'
    input (the same architecture and size they were prepared with)."""
    image_input = None
    if _data.kind == "images":
        from tda_core.recipes.torch import image_input as input_for

        image_input = input_for(arch, size)
    return attach_pool(_data, _upload.data, name=_upload.name, image_input=image_input)


def with_pool(data: Dataset) -> tuple[Dataset, str | None]:
    """The data with the uploaded pool, if one is uploaded, and the reason in words it could not be
    read (then the data keep their own pool, or none): a bad pool never blocks the training data."""
    upload: state.Upload | None = state.data().pool_upload
    if upload is None:
        return data, None
    try:
        return pooled_dataset(data.fingerprint, upload.digest, image_arch(), image_size(), data, upload), None
    except TDAError as exc:  # attach_pool says any failure to read the upload in words
        return data, str(exc)


def current_dataset() -> Dataset | None:
    """The dataset chosen on the data page, with its pool (an uploaded one replaces the data's own;
    one that cannot be read is left out, and the data page says why); None while an upload is
    missing. Raises TDAError for the training data."""
    data = training_dataset()
    return None if data is None else with_pool(data)[0]


def export_columns(data: Dataset) -> list[str] | None:
    """The user's columns in their file's order, which the exports keep
    (:func:`tda_core._fix.export_order`): the uploaded table's header (the training file's, when
    the test rows come in a file of their own), or the demo's own order (its features, then its
    target); None for images (the export lists each file, then its label)."""
    if data.kind != "tabular":
        return None
    upload: state.Upload | None = state.data().upload
    if state.data().source == "table" and upload is not None:
        return table_columns(upload.digest, upload)
    return [*(str(c) for c in data.X_train.columns), str(data.target)]


def training_dataset() -> Dataset | None:
    """The dataset chosen on the data page, with the pool it comes with (the demos' own, a
    ``pool/`` folder in an image ZIP); None while an upload is missing. Raises TDAError."""
    chosen = state.data()
    source = chosen.source
    if source == "demo":
        return demo_dataset(chosen.demo, image_arch(), image_size())
    upload: state.Upload | None = chosen.upload
    if upload is None:
        return None
    if source == "images":
        if not upload.name.lower().endswith(".zip"):
            raise DataError(f"{upload.name}: give a .zip with train/<class>/ and test/<class>/ folders")
        return image_dataset(upload.digest, image_arch(), image_size(), upload)
    target = chosen.target
    if not target:
        table_columns(upload.digest, upload)  # an unreadable upload says so on every page
        return None
    test: state.Upload | None = chosen.test_upload if chosen.test_mode == "file" else None
    if chosen.test_mode == "file" and test is None:
        return None
    return table_dataset(upload.digest, test and test.digest, target, float(chosen.test_size), upload, test)


# --- model --------------------------------------------------------------------------------


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name) or "model"


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def uploaded_recipe(digest: str, data_fingerprint: str, trust: bool, arch: str | None, epochs: int | None, mode: str,
                    checkpoints: bool, device: str | None, _upload: state.Upload, _data: Dataset) -> Recipe:
    """Write the upload to a private temporary folder (under its own name) and load it there."""
    with tempfile.TemporaryDirectory(prefix="tda-model-") as folder:
        path = Path(folder) / _safe_name(_upload.name)
        path.write_bytes(_upload.data)
        return load_model(path, _data, arch=arch, trust_code=trust,
                          network_params=network_params(epochs, mode, checkpoints, device))


@st.cache_resource(show_spinner=False, max_entries=8)
def recipe_by_name(name: str, data_fingerprint: str, epochs: int | None, mode: str, checkpoints: bool,
                   _data: Dataset, device: str | None = None) -> Recipe:
    return named_recipe(name, _data, epochs=epochs, mode=mode, checkpoints=checkpoints, device=device)


@st.cache_resource(show_spinner=False)
def default_net_mode() -> str:
    """Head-only retraining on a CPU (minutes instead of hours); full retraining with a GPU."""
    if not images_supported():
        return "head"
    import torch

    return "full" if torch.cuda.is_available() else "head"


def net_mode() -> str:
    """The network retraining mode chosen on the data page, or the default for this machine."""
    return state.data().net_mode or default_net_mode()


def network_options(data: Dataset) -> tuple[int | None, str, bool]:
    """(epochs, mode, checkpoints) for network recipes: the data page's choices for image data,
    else the defaults. ``checkpoints``: members are checkpoints of one run (the study's scheme)
    instead of independent seeds."""
    if data.kind != "images":
        return None, "full", False
    epochs = state.data().epochs
    return (int(epochs) if epochs else None), net_mode(), state.data().members == "checkpoints"


def device(data: Dataset) -> str | None:
    """Where networks train (the run settings' choice); None for tables, where it does not apply."""
    return str(state.data().device) if data.kind == "images" else None


def cuda_available() -> bool:
    if not images_supported():
        return False
    import torch

    return torch.cuda.is_available()


def default_epochs() -> int:
    from tda_core.recipes.torch import DEFAULT_IMAGE_EPOCHS

    return DEFAULT_IMAGE_EPOCHS


def current_recipe(data: Dataset) -> Recipe:
    chosen = state.data()
    upload: state.Upload | None = chosen.model_upload
    if upload is None or chosen.model_source != "upload":
        name = chosen.recipe
        if name not in recipe_names(data.kind):
            name = "default"
        return recipe_by_name(name, data.fingerprint, *network_options(data), data, device(data))
    if is_code_format(upload.name) and not chosen.trust:
        raise UntrustedFileError(
            f"{upload.name}: {Path(upload.name).suffix} files run code when loaded, so this model was not loaded. "
            "Save it with skops (skops.io.dump), or tick “I trust this file” if you know where it comes from."
        )
    torch_file = Path(upload.name).suffix.lower().lstrip(".") in TORCH_MODEL_TYPES
    arch = chosen.arch if torch_file else None
    return uploaded_recipe(upload.digest, data.fingerprint, bool(chosen.trust), arch, *network_options(data), device(data),
                           upload, data)


def is_code_format(name: str) -> bool:
    return Path(name).suffix.lower() in CODE_SUFFIXES


# --- run and analysis ---------------------------------------------------------------------


def can_estimate(recipe: Recipe) -> bool:
    """Whether the recipe can estimate effects without retraining (needed by candidate mode)."""
    return isinstance(recipe, Estimates)


def current_config(recipe: Recipe | None = None) -> RunConfig:
    """The run settings; candidate mode only where the recipe can estimate (the data page says so)."""
    chosen = state.data()
    backend = chosen.backend
    scheduler = (chosen.scheduler or "").strip() or None
    if backend == "dask" and scheduler is not None and "://" not in scheduler and ":" not in scheduler:
        raise UsageError(f"dask scheduler address {scheduler!r} should look like tcp://HOST:8786")
    return RunConfig(
        ensemble=int(chosen.ensemble),
        seed=int(chosen.seed),
        n_jobs=int(chosen.n_jobs),
        backend=backend,
        scheduler=scheduler if backend == "dask" else None,
        candidates=int(chosen.candidates) if chosen.use_candidates and (
            recipe is None or can_estimate(recipe)) else None,
    )


@st.cache_resource(show_spinner=False, max_entries=4)
def analysis_for(data_fingerprint: str, recipe_fingerprint: str, config_key: str,
                 _data: Dataset, _recipe: Recipe, _config: RunConfig, device: str | None = None,
                 kept_rows: tuple[int, ...] | None = None) -> Analysis:
    """``device`` is in the key although results do not depend on it (the recipe's fingerprint leaves it
    out): an analysis made for one device must not stand in for a recipe that runs on another.
    ``kept_rows``: the test rows a grown ensemble pinned (ui.growing), so its members come from the cache."""
    return Analysis(_data, _recipe, _config, kept_rows=kept_rows)


@dataclass(frozen=True)
class Current:
    data: Dataset
    recipe: Recipe
    config: RunConfig
    analysis: Analysis


def current() -> Current | None:
    """The analysis of the current choices, or None while the data page is incomplete.

    Raises TDAError for bad data, model or settings. When the (data, recipe, run) changes,
    the error group and results chosen for the old one are cleared.
    """
    data = current_dataset()
    if data is None:
        return None
    recipe = current_recipe(data)
    config = current_config(recipe)
    limits.check_run(data, recipe, config, ranking=False)  # the baseline fits the budget, before it trains
    identity = f"{data.fingerprint}|{recipe.fingerprint()}|{config!r}"
    grown = growing.grown_run(data, recipe, config)
    kept = grown.kept_rows if grown is not None and grown.kept_rows else None
    analysis = analysis_for(data.fingerprint, recipe.fingerprint(), repr(config), data, recipe, config,
                            recipe.device if isinstance(recipe, TrainsNetworks) else None, kept)
    if state.analysis_id() != identity:
        if state.analysis_id() is not None:
            state.reset_analysis_choices()
        state.set_analysis_id(identity)
    return Current(data, recipe, config, analysis)


@dataclass(frozen=True)
class LongRanking:
    """An exact single-sample ranking that the attribution page asks about before it trains
    (:func:`long_ranking`): its estimate from the engine's own counts (:func:`tda_core.limits.estimate`)
    and the rate measured in this session, and what candidate mode would cost instead."""

    ranked: int  # samples the ranking retrains one by one
    what: str  # "pool samples" | "training samples"
    members: int  # members each sample is retrained with (the ensemble, as the engine counts)
    models: int  # models the engine counts for the exact run (baseline included), as its limit does
    trained: int  # models the ranking itself trains (one per sample and training run), as ui.cost counts
    memory: int  # bytes at the run's peak (its plan: every error's rows kept, else the group's)
    seconds: float | None  # at the rate measured in this session; None before one was measured
    hours: bool  # beyond what one machine ranks exactly (tda_core.limits.MAX_EXACT_MODELS): a cluster, or candidates
    full: bool  # a whole network retrained per model (its time may come from the baseline's, or be unknown)
    basis: str  # where the time comes from, in words (ui.cost.basis)
    candidates: int  # N of the candidate mode offered instead (the data page's N)
    candidate_models: int | None  # models it retrains; None where the recipe cannot estimate
    candidate_memory: int | None  # its peak; None where the recipe cannot estimate
    candidate_seconds: float | None
    max_memory: int  # the budget both are checked against

    @property
    def candidates_fit(self) -> bool:
        return self.candidate_memory is not None and self.candidate_memory <= self.max_memory


def long_ranking(current: Current, group, action: str) -> LongRanking | None:
    """The estimate of the exact single-sample ranking of ``action`` where the attribution page
    asks before it starts: one that would take hours on one machine (more models than
    :data:`tda_core.limits.MAX_EXACT_MODELS` without a cluster backend), or one longer than
    ``cost.LONG_RUN`` at the rate measured in this session. None where it may start at once, in
    candidate mode (its own estimate is asked for by ui.results), and where the exact ranking does
    not fit the memory budget (no click makes it fit: the engine's refusal names what would)."""
    data, recipe, config, analysis = current.data, current.recipe, current.config, current.analysis
    if config.candidates:
        return None
    subject = subject_of(action)
    ranked, what = subject.size(data), f"{subject.noun}s"
    full = cost.full_network(recipe)
    rate = cost.rate(cost.rate_key(data.fingerprint, recipe.fingerprint()), full)
    trained = cost.ranking_models(ranked, cost.runs(analysis.members, analysis.recipe))
    seconds = cost.seconds(trained, rate)
    common = dict(ensemble=config.ensemble, ranking=True, unit="sample", n_jobs=config.n_jobs, use_cache=config.use_cache,
                  chunk=int(recipe.chunk_for(data)),
                  network_bytes=limits.network_training_bytes(data, recipe), subject=subject)
    tests = len(set(group.test_indices))
    errors = len(set(analysis.errors.error_indices) | set(group.test_indices))
    exact = limits.estimate(data, kept_rows=errors, **common)  # the plans of tda_core.limits.ranking_plan
    if exact.memory > config.max_memory:
        exact = limits.estimate(data, kept_rows=tests, **common)
    if exact.memory > config.max_memory:
        return None
    hours = exact.models > limits.MAX_EXACT_MODELS and config.backend not in ("dask", "ray")
    if not hours and not cost.asks(seconds, full):
        return None
    n = int(state.data().candidates)
    estimable = can_estimate(recipe)
    fewer = limits.estimate(data, candidates=n, kept_rows=tests, **common) if estimable else None
    models = cost.ranking_models(ranked, cost.runs(analysis.members, analysis.recipe), n) if estimable else None
    return LongRanking(
        ranked=ranked, what=what, members=config.ensemble, models=exact.models, trained=trained, memory=exact.memory, seconds=seconds,
        hours=hours, full=full, basis=cost.basis(cost.rate_key(data.fingerprint, recipe.fingerprint()), full), candidates=n, candidate_models=models, candidate_memory=None if fewer is None else fewer.memory,
        candidate_seconds=None if models is None else cost.seconds(models, rate), max_memory=config.max_memory,
    )


def table_preview(upload: state.Upload) -> pd.DataFrame:
    return read_table(upload.data, upload.name)
