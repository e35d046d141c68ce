"""The budget of a run, checked before anything is allocated or trained.

Everything here reads shapes and counts only. :func:`estimate` sizes the large arrays of a run
from the data's shape (the counterfactual predictions of a ranking, the baseline, the design
matrix each worker builds, the Hessian of candidate mode) and the cache the run will write;
:func:`check_budget` refuses a run above the memory limit with a message that names the number
and the way out. :func:`check_data` refuses data that no classifier analysis should take:
regression-like targets (too many classes, classes with fewer than two training samples) and
text columns with too many distinct values for a one-hot encoding.

The CLI calls :func:`check_budget` before training; the dashboard can call it with the same
arguments. Limits are module constants, raised per run with ``max_memory``.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._actions import TRAINING, Subject
from ._exceptions import BudgetError, DataError, UsageError, names, way_out

__all__ = [
    "AUTO_JOBS",
    "AUTO_PARALLEL_SECONDS",
    "DEFAULT_CHUNK",
    "DEFAULT_MAX_MEMORY",
    "MAX_ABS_VALUE",
    "MAX_CANDIDATES",
    "MAX_CELLS",
    "MAX_CLASSES",
    "MAX_COLUMNS",
    "MAX_ENSEMBLE",
    "MAX_EPOCHS",
    "MAX_EXACT_MODELS",
    "MAX_LEVELS",
    "MAX_ROWS",
    "MAX_SEED",
    "MAX_TABLE_BYTES",
    "MIN_CLASS_SAMPLES",
    "PLANS",
    "PREDICT_BLOCK",
    "STACKED_ROW_BYTES",
    "Estimate",
    "cache_dir_of",
    "check_budget",
    "check_classes",
    "check_data",
    "check_levels",
    "check_run",
    "check_run_numbers",
    "cores",
    "current_rss",
    "design_bytes",
    "estimate",
    "format_bytes",
    "idle_cores",
    "network_training_bytes",
    "one_hot_width",
    "parse_size",
    "ranking_plan",
    "text_columns",
    "trained_members",
    "workers_within_budget",
]


if TYPE_CHECKING:  # tda_core.data imports this module: no import at run time
    import pandas as pd

    from ._engine import RunConfig
    from .data._dataset import Dataset
    from .recipes._base import Recipe

GiB = 2**30
MiB = 2**20
#: Peak memory of the large arrays of one run, unless raised (``--max-memory``).
DEFAULT_MAX_MEMORY = 4 * GiB
#: More classes than this looks like a regression target.
MAX_CLASSES = 100
#: Every class needs this many training samples.
MIN_CLASS_SAMPLES = 2
#: Distinct values of one text column (its one-hot width) at most.
MAX_LEVELS = 1000
#: Upper bounds of the numeric options.
MAX_ENSEMBLE = 100
MAX_EPOCHS = 10_000
MAX_CANDIDATES = 1_000_000
MAX_SEED = 2**32 - 1 - MAX_ENSEMBLE  # numpy seeds are 32-bit; members use seed, seed+1, ...
#: Rows, columns and cells (rows x columns) of one table, at most.
MAX_ROWS = 1_000_000
MAX_COLUMNS = 20_000
MAX_CELLS = 50_000_000
#: Bytes of one table file, and of a Parquet table once decoded.
MAX_TABLE_BYTES = 2 * GiB
#: Finite values this large overflow the preprocessing's sums of squares.
MAX_ABS_VALUE = 1e100
#: Edits trained in one work unit when the recipe does not say (the logistic default says 400).
DEFAULT_CHUNK = 16

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str | int | float) -> int:
    """Bytes from ``8G``, ``512M``, ``1.5GiB``, ``4096MB`` (powers of 1024) or a plain number of bytes."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        match = _SIZE.match(str(text))
        if not match:
            raise UsageError(f"a memory size looks like 8G or 512M, not {text!r}")
        value = float(match.group(1)) * 1024 ** " kmgt".index(match.group(2).lower() or " ")
    if not np.isfinite(value) or value < 64 * MiB:
        raise UsageError(f"the memory limit must be at least 64M, not {text}")
    return int(value)


def format_bytes(n: float) -> str:
    """``71.5 GiB``, ``512 MiB``, ``12 KiB``."""
    for unit, size in (("TiB", 2**40), ("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    return f"{int(n)} bytes"


def cores() -> int:
    return os.cpu_count() or 1


#: ``n_jobs`` (``--n-jobs auto``): as many workers as cores are idle, for work long enough to gain.
AUTO_JOBS = 0


def _seconds_from_env(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value >= 0 else default


#: Work left (seconds, at the rate of its first unit) worth starting worker processes for: a loky
#: worker that imports torch takes a few seconds to start. ``TDA_AUTO_PARALLEL_SECONDS`` sets it
#: (the test suite sets ``inf``: pytest-xdist already keeps every core busy).
AUTO_PARALLEL_SECONDS = _seconds_from_env("TDA_AUTO_PARALLEL_SECONDS", 20.0)


#: How long :func:`idle_cores` watches the CPUs (seconds).
IDLE_SAMPLE_SECONDS = 0.25


def idle_cores() -> int:
    """Cores that no work uses now, at least 1: the CPUs' busy share over a quarter of a second
    (psutil), asked while this run trains nothing, so what is busy is other work. Not the load
    average, which still counts this run's own workers for a minute after they end."""
    import psutil

    busy = psutil.cpu_percent(interval=IDLE_SAMPLE_SECONDS) / 100 * cores()
    return max(1, cores() - round(busy))


def check_run_numbers(*, ensemble: int, seed: int, n_jobs: int, candidates: int | None = None, epochs: int | None = None) -> None:
    """The numeric run options within their bounds, in the user's words."""
    if int(ensemble) < 1:
        raise UsageError(f"the ensemble needs at least one member, not {ensemble}")
    if int(ensemble) > MAX_ENSEMBLE:
        raise UsageError(f"the ensemble can have at most {MAX_ENSEMBLE} members, not {ensemble}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise UsageError(f"the seed must lie between 0 and {MAX_SEED}, not {seed}")
    if int(n_jobs) not in (-1, AUTO_JOBS) and not 1 <= int(n_jobs) <= cores():
        raise UsageError(f"the number of parallel jobs must lie between 1 and the {cores()} cores of this machine, "
                         f"or be -1 for all of them or 0 (auto) for the idle ones, not {n_jobs}")
    if candidates is not None and int(candidates) < 1:
        raise UsageError(f"the number of candidates must be at least 1, not {candidates}")
    if candidates is not None and int(candidates) > MAX_CANDIDATES:
        raise UsageError(f"the number of candidates can be at most {MAX_CANDIDATES:,}, not {candidates}")
    if epochs is not None and not 1 <= int(epochs) <= MAX_EPOCHS:
        raise UsageError(f"the number of epochs must lie between 1 and {MAX_EPOCHS:,}, not {epochs}")


# --- the data -----------------------------------------------------------------------------


def text_columns(frame: pd.DataFrame) -> list[Any]:
    import pandas as pd

    return [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]


def one_hot_width(frame: pd.DataFrame) -> int:
    """Columns of the standard preprocessing's output: one per numeric column, one per level of a text column."""
    text = text_columns(frame)
    levels = sum(int(frame[c].nunique(dropna=True)) for c in text)
    return frame.shape[1] - len(text) + levels


def check_classes(y_train: np.ndarray, classes: tuple[str, ...], target: str = "target") -> None:
    """Refuse regression-like targets: more than :data:`MAX_CLASSES` classes, or classes with
    fewer than :data:`MIN_CLASS_SAMPLES` training samples."""
    if len(classes) > MAX_CLASSES:
        raise DataError(
            f"the target column {target!r} has {len(classes):,} distinct values: more than {MAX_CLASSES} classes looks like "
            "a regression target, and this tool explains classifiers; bin the values into classes first"
        )
    counts = np.bincount(np.asarray(y_train, dtype=np.int64), minlength=len(classes))
    rare = [classes[i] for i in np.flatnonzero(counts < MIN_CLASS_SAMPLES)]
    if rare:
        raise DataError(
            f"the target column {target!r} has {len(rare)} class{'es' if len(rare) != 1 else ''} with fewer than "
            f"{MIN_CLASS_SAMPLES} training samples ({names(rare)}): merge or drop them, or give more data"
        )


def check_levels(frame: pd.DataFrame, max_levels: int | None = None) -> None:
    """Refuse a text column with more than ``max_levels`` (:data:`MAX_LEVELS`) distinct values, naming it."""
    max_levels = MAX_LEVELS if max_levels is None else int(max_levels)
    for column in text_columns(frame):
        levels = int(frame[column].nunique(dropna=True))
        if levels > max_levels:
            raise DataError(
                f"the column {names([column])!r} has {levels:,} distinct text values (at most {max_levels:,}): one-hot "
                "encoding it would be too large; drop it, group its rare values, or encode it as numbers"
            )


def check_data(data: Dataset) -> None:
    """What no analysis should take: regression-like targets, and (tables) too-wide text columns."""
    check_classes(data.y_train, data.classes, data.target)
    if data.kind == "tabular":
        check_levels(data.X_train)


# --- memory --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """The memory of a run at its peak, sized from shapes before anything large is allocated:
    what the process holds now (measured) plus what the run will allocate."""

    memory: int  # bytes held at once at the peak (the promise: the run's peak RSS stays below the limit)
    cache: int  # bytes the run writes to the cache
    models: int  # models the run trains (an upper bound: cache hits and deterministic models train fewer)
    parts: tuple[tuple[str, int], ...]  # (what, bytes), largest first
    plan: str = "exact"  # how the run fits: see :data:`PLANS`

    def describe(self) -> str:
        what, size = self.parts[0]
        return f"about {format_bytes(self.memory)} of memory (largest: {what}, {format_bytes(size)})"


#: The plans a ranking may run under, from the freest to the leanest (shared/DESIGN.md, "Scale and memory").
PLANS = {
    "exact": "every training sample retrained; the probabilities of every test error kept, so groups switch freely",
    "exact, group rows": "every training sample retrained; only this error group's rows kept (another group retrains)",
    "exact, on disk": "every training sample retrained; every test error's probabilities kept in the cache on disk, "
                      "read a group at a time, so groups switch without retraining",
    "candidates": "every sample estimated, the top candidates retrained",
    "candidate groups": "candidate training groups retrained as wholes",
    "baseline": "the baseline ensemble only",
}
#: Models an exact ranking may train on one machine (census income's 200,000 rows x 3 members would be
#: 600,000, hours here); beyond, candidate mode or a cluster.
MAX_EXACT_MODELS = 100_000
#: Bytes per fit row of each stacked model in a unit of the linear recipes (labels, weights, targets).
STACKED_ROW_BYTES = 11
#: Test rows a unit predicts at once (tda_core.recipes._logistic.PREDICT_ROWS).
PREDICT_BLOCK = 2048


def current_rss() -> int:
    """Resident memory of this process now (bytes), which the run's peak adds to."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # the peak so far: an upper bound


def design_bytes(data: Dataset) -> tuple[int, int, bool]:
    """Bytes of the design matrices of the fit and test rows (with the bias column), their width,
    and whether they are sparse (the standard preprocessing's choice: density below 0.3)."""
    width = one_hot_width(data.X_train) + 1
    columns = data.X_train.shape[1] + 1
    rows = data.n_fit + data.n_test
    sparse = columns / width < 0.3
    return (rows * columns * 12 + rows * 8 if sparse else rows * width * 8), width, sparse


def estimate(
    data: Dataset,
    *,
    ensemble: int,
    ranking: bool,
    candidates: int | None = None,
    unit: str = "sample",
    n_jobs: int = 1,
    use_cache: bool = True,
    chunk: int = DEFAULT_CHUNK,
    itemsize: int | None = None,
    kept_rows: int | None = None,
    in_use: int | None = None,
    network_bytes: int = 0,
    subject: Subject = TRAINING,
    processes: bool = True,
) -> Estimate:
    """The peak memory and the cache of a run: the baseline (``ranking=False``, as ``errors``), or
    the baseline and a ranking of every training sample (or of ``candidates``, or of candidate
    groups). A ranking keeps ``kept_rows`` test rows of every counterfactual
    (:mod:`tda_core._counterfactuals`; None: not known before the baseline, counted as none).
    ``in_use``: bytes the process holds already (default: its resident memory now).
    ``network_bytes``: what one worker's network training holds (``TorchRecipe.training_bytes``:
    parameters, gradients, optimiser state, activations, measured). ``subject``: what a ranking
    edits one by one (the pool for add). ``processes``: parallel workers are processes (loky), each
    priced at this process's own size (each imports the same libraries and holds the data), not
    threads."""
    itemsize = int(itemsize or (4 if data.kind == "images" else 8))
    E, C = int(ensemble), data.n_classes
    n_train, n_test, n_fit = data.n_train, data.n_test, data.n_fit
    workers = cores() if n_jobs == -1 else max(1, int(n_jobs))
    if not ranking:
        edits = 0
    elif unit == "group":
        edits = min(n_train, 8 * C + 64)
    else:
        ranked = subject.size(data)  # add ranks the pool
        from .estimates._candidates import random_extra  # candidates are retrained with a random check

        edits = min(ranked, int(candidates) + random_extra(int(candidates))) if candidates else ranked
    rows = n_test if unit == "group" else min(n_test, int(kept_rows or 0))
    here = current_rss() if in_use is None else int(in_use)
    parts: list[tuple[str, int]] = [("this process now (Python, its libraries, the data)", here)]
    if workers > 1 and processes:  # measured: a digits network worker holds about what its parent holds
        parts.append((f"{workers} worker processes (Python, libraries, the data: each about this process's size)", workers * here))
    # The baseline: every member on training and test rows (one more member to tell determinism), twice while gathered.
    parts.append(("baseline predictions", 2 * (E + 1) * (n_train + n_test) * C * itemsize))
    unit_models = max(1, min(chunk, max(edits, 1)))
    if data.kind == "tabular":
        matrices, width, sparse = design_bytes(data)
        kind = "sparse " if sparse else ""
        # Built once per worker process; the build holds the transformed table and its copy with a bias column.
        stacked = unit_models * n_fit * (STACKED_ROW_BYTES + C * (C > 2)) + 3 * PREDICT_BLOCK * unit_models * C * 8
        parts.append((f"{kind}design matrices and one unit's stacked models, {workers} worker{'s' if workers > 1 else ''} "
                      f"({n_fit + n_test:,} rows x {width:,} columns, {unit_models} models a unit)", workers * (2 * matrices + stacked)))
        if candidates:
            parts.append((f"influence Hessian ({width * C:,} parameters)", 3 * (width * C) ** 2 * 8))
    if network_bytes:
        parts.append((f"network training of {workers} worker{'s' if workers > 1 else ''} (parameters, gradients, optimiser "
                      "state, activations)", workers * int(network_bytes)))
    if ranking:
        what = "candidates" if candidates and unit != "group" else (
            "candidate groups" if unit == "group" else f"{subject.noun}s")
        size = edits * E * (rows * C * itemsize + (1 + C) * 8)
        parts.append((f"kept counterfactuals ({edits:,} {what} x {E} members x {rows:,} test rows x {C} classes x {itemsize} bytes)",
                      2 * size))  # gathered per unit, then copied into one array
    cache = 0
    if use_cache:
        cache = (E + 1) * (n_train + n_test) * C * itemsize + edits * E * (rows * C * itemsize + (1 + C) * 8)
    parts.sort(key=lambda p: -p[1])
    plan = "baseline" if not ranking else ("candidate groups" if unit == "group" else "candidates" if candidates else "exact")
    return Estimate(sum(p[1] for p in parts), cache, (E + 1) + (edits + 1) * E, tuple(parts), plan)


def check_budget(
    data: Dataset,
    *,
    ensemble: int,
    ranking: bool,
    candidates: int | None = None,
    unit: str = "sample",
    n_jobs: int = 1,
    use_cache: bool = True,
    cache_root: str | Path | None = None,
    chunk: int = DEFAULT_CHUNK,
    max_memory: int = DEFAULT_MAX_MEMORY,
    kept_rows: int | None = None,
    in_use: int | None = None,
    network_bytes: int = 0,
    subject: Subject = TRAINING,
    cluster: bool = False,
    processes: bool = True,
) -> Estimate:
    """Refuse, before anything large is allocated, a run whose peak memory would exceed
    ``max_memory`` or whose cache exceeds the free disk space; return the estimate otherwise.
    Checks :func:`check_data` first. An exact ranking of more than :data:`MAX_EXACT_MODELS` models
    (hours on one machine) needs candidate mode or a cluster (``cluster``)."""
    check_data(data)
    est = estimate(data, ensemble=ensemble, ranking=ranking, candidates=candidates, unit=unit, n_jobs=n_jobs,
                   use_cache=use_cache, chunk=chunk, kept_rows=kept_rows, in_use=in_use, network_bytes=network_bytes,
                   subject=subject, processes=processes)
    if ranking and not candidates and unit == "sample" and not cluster and est.models > MAX_EXACT_MODELS:
        fewer = estimate(data, ensemble=ensemble, ranking=True, candidates=200, use_cache=use_cache, chunk=chunk,
                         kept_rows=kept_rows, in_use=in_use, network_bytes=network_bytes, subject=subject)
        samples = f"{subject.noun}s"
        ranked = (est.models - (ensemble + 1)) // max(1, ensemble) - 1  # models = baseline + (edits + the group effect) x E
        raise BudgetError(
            f"an exact ranking of {ranked * ensemble:,} models ({ranked:,} {samples} x "
            f"{ensemble} members) would take hours on one machine (at most {MAX_EXACT_MODELS:,} without a cluster): "
            f"{way_out('candidate_mode')} to retrain only the top few hundred (--candidates 200: about {fewer.models:,} models, {format_bytes(fewer.memory)}), "
            "or run the exact ranking on a Dask cluster"
        )
    if est.memory > max_memory:
        ways = []
        if ranking and not candidates and unit == "sample":
            fewer = estimate(data, ensemble=ensemble, ranking=True, candidates=200, n_jobs=1, use_cache=use_cache, chunk=chunk,
                             kept_rows=kept_rows, in_use=in_use)
            # On a cluster already, what the client keeps is what does not fit: fewer kept rows, not more workers.
            elsewhere = "keep fewer test rows (--tests)" if cluster else "run the exact ranking on a Dask cluster"
            ways.append(f"{way_out('candidate_mode')} to retrain only the top few hundred samples (--candidates 200: about "
                        f"{fewer.models:,} models, {format_bytes(fewer.memory)}), or {elsewhere}")
        if est.parts[0][0].startswith("network training"):
            ways.append("use head mode (--mode head) or a smaller --image-size")
        ways += ["use fewer rows" + (" or fewer parallel jobs" if n_jobs not in (1, AUTO_JOBS) else ""),
                 f"or {way_out('memory_limit')}"]
        raise BudgetError(f"this run needs {est.describe()}, over the {format_bytes(max_memory)} limit: {', '.join(ways)}",
                          needed=format_bytes(est.memory * 1.1))
    if use_cache and cache_root is not None and est.cache > 0:
        free = _free_space(Path(cache_root))
        if free is not None and est.cache > free:
            raise BudgetError(
                f"this run would write about {format_bytes(est.cache)} to the cache in {cache_root}, which has "
                f"{format_bytes(free)} free: free some space, {way_out('cache_folder')}, or {way_out('no_cache')}"
            )
    return est


def _free_space(path: Path) -> int | None:
    for folder in (path, *path.absolute().parents):
        if folder.is_dir():
            try:
                return shutil.disk_usage(folder).free
            except OSError:
                return None
    return None


def trained_members(recipe: Recipe, ensemble: int) -> int:
    """Members the engine trains per edit: one per distinct start for a recipe whose start serves
    several seeds (:meth:`~tda_core.recipes._protocols.HasStart.start_seed`: logistic-lbfgs's
    optimum, one model for every seed), else the ensemble. Estimates count these, so census's 200
    candidates read 250 models, not 750."""
    from .recipes._protocols import HasStart

    if isinstance(recipe, HasStart):
        return len({recipe.start_seed(s) for s in range(int(ensemble))})
    return int(ensemble)


def check_run(data: Dataset, recipe: Recipe, config: RunConfig, *, ranking: bool, unit: str = "sample",
              max_memory: int | None = None, kept_rows: int | None = None, subject: Subject = TRAINING,
              network_bytes: int | None = None) -> Estimate:
    """:func:`check_budget` for an analysis as the dashboard holds it: a recipe and a
    :class:`~tda_core._engine.RunConfig` (whose ``max_memory`` is the limit unless given). Call it
    before ranking (``ranking=True``) or before the baseline (``ranking=False``). ``network_bytes``:
    the recipe's training memory if measured already (:func:`network_training_bytes`)."""
    from ._cache import cache_dir

    return check_budget(
        data, ensemble=trained_members(recipe, config.ensemble), ranking=ranking, candidates=config.candidates, unit=unit,
        n_jobs=config.n_jobs,
        use_cache=config.use_cache, cache_root=cache_dir(config.cache_dir) if config.use_cache else None,
        chunk=int(recipe.chunk_for(data)),
        max_memory=int(max_memory or config.max_memory or DEFAULT_MAX_MEMORY), kept_rows=kept_rows,
        network_bytes=network_training_bytes(data, recipe) if network_bytes is None else int(network_bytes), subject=subject,
        cluster=config.backend in ("dask", "ray"),
        processes=config.backend == "loky",
    )


def workers_within_budget(data: Dataset, recipe: Recipe, config: RunConfig, *, most: int, ranking: bool = True,
                          unit: str = "sample", kept_rows: int | None = None, subject: Subject = TRAINING) -> int:
    """The most parallel workers, up to ``most``, with which this run still fits the memory budget
    (:func:`check_run`, each worker priced): how far ``n_jobs=AUTO_JOBS`` may widen. 1 at least:
    the one-worker run is what the caller checked already. The network's training memory is
    measured once (a forward pass), not once per number of workers tried."""
    measured = network_training_bytes(data, recipe)
    for workers in range(min(int(most), cores()), 1, -1):
        try:
            check_run(data, recipe, replace(config, n_jobs=workers), ranking=ranking, unit=unit, kept_rows=kept_rows,
                      subject=subject, network_bytes=measured)
        except BudgetError:
            continue
        return workers
    return 1


def network_training_bytes(data: Dataset, recipe: Recipe) -> int:
    """A network recipe's measured training memory (:class:`~tda_core.recipes._protocols.MeasuresTraining`;
    0 for recipes that measure none); a network that cannot even take one batch here is the
    recipe's own error, raised when it trains."""
    from .recipes._protocols import MeasuresTraining

    return int(recipe.training_bytes(data)) if isinstance(recipe, MeasuresTraining) else 0


def ranking_plan(data: Dataset, recipe: Recipe, config: RunConfig, error_rows: int, group_rows: int,
                 subject: Subject = TRAINING) -> tuple[str, Estimate]:
    """The plan of an exact ranking that fits the budget: keep every test error's probabilities
    (groups then switch freely), else keep them in the cache on disk where it has the room, else
    only the group's rows; raises :class:`BudgetError` naming
    the ways out (candidate mode, a cluster, a higher limit) when neither fits."""
    try:
        return "exact", check_run(data, recipe, config, ranking=True, kept_rows=error_rows, subject=subject)
    except BudgetError:
        if group_rows >= error_rows:
            raise
    est = check_run(data, recipe, config, ranking=True, kept_rows=group_rows, subject=subject)
    # Every error's rows fit the disk though not the memory: leave them in the cache, read a group at a time.
    if config.use_cache:
        members = int(config.ensemble)
        edits = subject.size(data)
        on_disk = edits * members * int(error_rows) * data.n_classes * 8
        free = _free_space(cache_dir_of(config))
        if free is not None and on_disk + est.cache < free:
            return "exact, on disk", replace(est, plan="exact, on disk", cache=est.cache + on_disk)
    return "exact, group rows", replace(est, plan="exact, group rows")


def cache_dir_of(config: RunConfig) -> Path:
    from ._cache import cache_dir

    return cache_dir(config.cache_dir)
