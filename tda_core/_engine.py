"""The one place where models are trained: batching, joblib parallelism, the cache and the count.

All training is cut into *work units* of four kinds, run the same way:

* **predictions**: one seed of the recipe and a chunk of edits (``recipe.chunk_for(data)``) that the
  recipe trains in one call, vectorised where it can. Chunks are fixed by the order of the
  edits, so the same request always makes the same units and hits the same cache entries.
* **starts**: a recipe's per-seed start (:class:`~tda_core.recipes._protocols.HasStart`: head mode's
  feature network), trained once per seed.
* **estimates**: a recipe's fast estimate of every sample's effect (candidate mode,
  :class:`~tda_core.recipes._protocols.Estimates`), which fits the seed's baseline model itself.
* **fitted**: arrays read off one seed's baseline model, which a module-level function fits
  on the unedited training set (feature attribution: coefficients, a network's weights).

Units run through joblib (``loky``, ``threading``, or ``dask``/``ray`` for more machines), and
each finished unit is written to the cache (:class:`~tda_core._cache.ArrayCache`, safetensors
files that never execute code) by this process as soon as it arrives, so workers need no shared
disk, a run killed midway keeps its finished units and a rerun trains only what is missing.
Every model trained counts in :attr:`Engine.stats`; cache hits count apart.

On Dask, units go to the cluster through the client itself, at most two a worker thread at a
time, and what a worker holds is bounded (shared/DESIGN.md, "Scale and memory"): the dataset,
sent to the cluster once instead of travelling with each unit; its design matrices, built once
per worker process; and the unit it runs, whose size the recipe's chunking bounds
(``recipe.chunk_for``: the linear recipes keep a unit's stacked arrays under 256 MiB). A finished
unit's arrays leave the worker as soon as this process has them. A local cluster (no
``scheduler``) gives each worker a share of ``RunConfig.max_memory`` as its Dask memory limit
(:func:`local_cluster_plan`); workers of a remote scheduler bring their own (``dask worker
--nthreads 1 --memory-limit 4GiB``), which :meth:`Engine._dask_client` reads and reports.

Storage is exact: probabilities are stored as the recipe computed them (float64 for scikit-learn
and the logistic recipe, float32 for networks, which compute in float32).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import struct
import threading
import time
import warnings
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from joblib import Parallel, delayed, parallel_config

from ._actions import Action, Edit
from ._cache import ArrayCache, cache_dir
from ._code_version import function_digest
from ._counterfactuals import Counterfactuals, OnDisk
from ._exceptions import BackendError, ModelError, UsageError, reason
from ._metrics import Metric
from .data._dataset import Dataset
from .limits import (
    AUTO_JOBS,
    AUTO_PARALLEL_SECONDS,
    DEFAULT_MAX_MEMORY,
    MiB,
    check_run_numbers,
    cores,
    current_rss,
    format_bytes,
    idle_cores,
)
from .recipes._base import EvalOn, Member, Recipe, Start
from .recipes._protocols import Estimates, HasStart

BACKENDS = ("loky", "threading", "dask", "ray")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """How to run retrains. ``ensemble`` members are drawn from seeds ``seed, seed+1, ...``."""

    ensemble: int = 3
    seed: int = 0
    n_jobs: int = AUTO_JOBS  # 0: the idle cores, for work long enough to gain (Engine._jobs_for)
    backend: str = "loky"
    scheduler: str | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    candidates: int | None = None  # estimate every sample, retrain the top N (+ a random check)
    max_memory: int = DEFAULT_MAX_MEMORY  # bytes: the peak RSS the run promises (shared/DESIGN.md, "Scale and memory")

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise UsageError(f"unknown backend {self.backend!r}: choose one of {', '.join(BACKENDS)}")
        check_run_numbers(ensemble=self.ensemble, seed=self.seed, n_jobs=self.n_jobs, candidates=self.candidates)


@dataclass(frozen=True)
class Progress:
    """Work done out of total for one request; cached work counts as done at once. ``phase`` says
    what the user waits for (retraining, the baseline's start, estimates, preprocessing) and
    ``unit`` what is counted (models; seeds for estimates, which train nothing new)."""

    done: int
    total: int
    cached: int
    elapsed: float
    phase: str = "retraining"
    unit: str = "models"

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def rate(self) -> float:
        """Models trained per second (cache hits excluded)."""
        trained = self.done - self.cached
        return trained / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, None before the first trained unit."""
        if self.done >= self.total:
            return 0.0
        return (self.total - self.done) / self.rate if self.rate > 0 else None

    def describe(self) -> str:
        eta = "?" if self.eta is None else f"{self.eta:.0f}s"
        what = "" if self.phase == "retraining" else f"{self.phase}: "
        return f"{what}{self.done}/{self.total} {self.unit} ({self.cached} cached), {self.rate:.1f}/s, ETA {eta}"


#: What the user waits for while units of each kind run (their cache key's first part).
PHASES = {"start": "baseline start", "estimate": "estimates (Hessian and gradients)", "fitted": "baseline model"}


ProgressCallback = Callable[[Progress], None]


@dataclass
class RunStats:
    """Counters over the life of an engine: models trained, and models read from the cache."""

    retrains: int = 0
    cache_hits: int = 0
    workers: int = 1  # the most parallel workers a run of this engine used


@dataclass(frozen=True)
class Pace:
    """How fast a request's work goes, measured on its first unit not yet cached (trained in this
    process, and cached, so the request starts from it): models per second in one process, and
    the workers the engine would run the rest on."""

    models_per_second: float
    workers: int
    unit_models: int  # models a unit trains

    def seconds(self, models: int) -> float:
        """The time of ``models`` more at this pace: on more workers, the engine's first unit here
        (``n_jobs=AUTO_JOBS`` times it), the rest shared by the workers as by full cores."""
        if self.workers < 2 or models <= self.unit_models:
            return models / self.models_per_second
        return (self.unit_models + (models - self.unit_models) / self.workers) / self.models_per_second


@dataclass(frozen=True)
class _Unit:
    """One piece of work: what keys its cache entry, how many models it trains, how to run it."""

    key: tuple
    models: int
    shapes: Mapping[str, tuple[int | None, ...] | None] | None
    func: Callable[..., dict[str, np.ndarray]]
    args: tuple


def _predict_unit(recipe: Recipe, data: Dataset, edits: tuple[Edit, ...], seed: int, start: Start | None, eval_on: EvalOn) -> dict[str, np.ndarray]:
    return {"proba": np.asarray(recipe.fit_predict(data, edits, seed, eval_on, start))}


def _summary_unit(recipe: Recipe, data: Dataset, edits: tuple[Edit, ...], seed: int, start: Start | None, rows: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in recipe.fit_summary(data, edits, seed, rows, start).items()}


def _start_unit(recipe: HasStart, data: Dataset, seed: int) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in recipe.fit_start(data, seed).items()}


def _estimate_unit(
    recipe: Estimates, data: Dataset, seed: int, action: Action, new_labels: np.ndarray, tests: np.ndarray,
    y_pred: np.ndarray, metric: Metric, start: Start | None,
) -> dict[str, np.ndarray]:
    estimate = recipe.estimate_effects(data, seed, action, new_labels, tests, y_pred, metric, start)
    return {"estimate": np.asarray(estimate, dtype=np.float64)}


def _fitted_unit(fit: Callable[..., dict[str, np.ndarray]], recipe: Recipe, data: Dataset, seed: int, args: tuple) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in fit(recipe, data, seed, *args).items()}


#: Seconds between a worker's checks that the process which started it is still alive.
ORPHAN_POLL = 1.0
#: Seconds to connect to a Dask scheduler, and then to receive its handshake.
DASK_TIMEOUT = 5.0
_watching: list[int] = []


def _watch_parent(parent: int) -> None:
    """In a worker process started by ``parent`` (loky, a local cluster): end this process as soon as
    ``parent`` is gone, so a killed run leaves no workers behind (a busy loky worker would
    otherwise finish its task first, which can take minutes). Does nothing in the parent itself
    (threads) or in a worker that ``parent`` did not start (a remote Dask worker)."""
    if _watching or os.getpid() == parent or os.getppid() != parent:
        return
    _watching.append(parent)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_POLL)
        os._exit(1)

    threading.Thread(target=watch, name="tda-parent-watch", daemon=True).start()


def _execute(func: Callable[..., dict[str, np.ndarray]], args: tuple, tag: int, parent: int | None = None) -> tuple[int, dict[str, np.ndarray]]:
    if parent is not None:
        _watch_parent(parent)
    return tag, func(*args)


def _same(value: Any) -> Any:
    return value


#: The least memory limit of a local Dask worker: Python with numpy, pandas and scikit-learn
#: (about 250 MiB), a small table's design matrices and one unit.
MIN_WORKER_MEMORY = 512 * MiB


def local_cluster_plan(workers: int, max_memory: int, in_use: int | None = None) -> tuple[int, int]:
    """Workers and the memory limit of each (bytes) of a local Dask cluster within ``max_memory``:
    what this process does not hold (``in_use``, default its resident memory now) shared equally
    among ``workers``, with fewer workers where a share would fall under :data:`MIN_WORKER_MEMORY`
    (one worker at least, with that minimum). Dask pauses a worker at 80 % of its limit and restarts
    it at 95 % (the unit then runs again elsewhere)."""
    free = int(max_memory) - (current_rss() if in_use is None else int(in_use))
    fit = max(1, min(int(workers), free // MIN_WORKER_MEMORY))
    return fit, max(MIN_WORKER_MEMORY, free // fit)


def _dask_workers(client: Any) -> dict[str, dict[str, int]]:
    """Each worker's threads and memory limit (bytes; 0 for none), by address."""
    info = client.scheduler_info(n_workers=-1)  # every worker (-1), not the first few
    return {
        address: {"nthreads": int(w.get("nthreads") or 0), "memory_limit": int(w.get("memory_limit") or 0)}
        for address, w in info.get("workers", {}).items()
    }


def _unreachable(exc: BaseException) -> str:
    """Why a connection failed, in words: the system's reason ("connection refused"...), or that none came in time."""
    if isinstance(exc, TimeoutError):  # socket.timeout too; asyncio's and distributed's have no message
        return "no answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return reason(exc) or "the connection failed"


def probe_dask_scheduler(address: str, timeout: float | None = None) -> None:
    """Check, within ``timeout`` seconds each, that ``address`` accepts a connection and sends the
    start of a Dask handshake; a server that never answers, or answers in another protocol
    (HTTP...), is one :class:`BackendError` instead of a hang or a huge allocation. Addresses of
    other transports (tls://, ws://, inproc://) are left to Dask."""
    timeout = DASK_TIMEOUT if timeout is None else float(timeout)
    scheme, _, rest = address.rpartition("://")
    if scheme not in ("", "tcp"):
        return
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BackendError(f"the Dask scheduler address {address!r} should look like tcp://HOST:8786")
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    except (OSError, ValueError) as exc:
        raise BackendError(
            f"cannot reach the Dask scheduler at {address} ({_unreachable(exc)}); "
            "start one with `dask scheduler` or check the address"
        ) from exc
    header = b""
    with sock:
        sock.settimeout(timeout)
        try:
            while len(header) < 16:
                chunk = sock.recv(16 - len(header))
                if not chunk:
                    break
                header += chunk
        except OSError:  # socket.timeout included
            pass
    if len(header) < 16:
        raise BackendError(
            f"the server at {address} accepted the connection but did not answer as a Dask scheduler within "
            f"{timeout:g} s; check the address and port"
        )
    total, frames = struct.unpack("<QQ", header)
    if not (0 < total < 2**24 and 0 < frames < 4096):
        raise BackendError(f"the server at {address} does not speak the Dask protocol (an HTTP or other server?); check the address and port")


class Engine:
    """Trains, caches and counts every model of an analysis (see the module docstring)."""

    def __init__(self, config: RunConfig = RunConfig(), progress: ProgressCallback | None = None):
        self.config = config
        self.progress = progress
        self.stats = RunStats()
        self.cache = ArrayCache(cache_dir(config.cache_dir) if config.use_cache else None)
        self._starts: dict[tuple[str, str, int], dict[str, np.ndarray]] = {}
        self._fitted: dict[tuple, dict[str, np.ndarray]] = {}
        #: The Dask workers of the last run on Dask: threads and memory limit (bytes, 0: none) by address.
        self.dask_workers: dict[str, dict[str, int]] = {}
        #: The most workers ``n_jobs=AUTO_JOBS`` may widen to: what the memory budget holds, set by
        #: the caller that priced the run (Analysis, from limits.workers_within_budget); 1 until then.
        self.auto_workers = 1

    # --- the four kinds of work ------------------------------------------------------------

    def starts(self, data: Dataset, recipe: Recipe, seeds: Sequence[int], progress: ProgressCallback | None = None) -> dict[int, dict[str, np.ndarray]]:
        """Each seed's start (:meth:`HasStart.fit_start <tda_core.recipes._protocols.HasStart.fit_start>`),
        trained once and cached; one start serves every seed of a recipe whose start ignores the seed
        (:meth:`~tda_core.recipes._protocols.HasStart.start_seed`)."""
        if not isinstance(recipe, HasStart):
            raise ModelError(f"{recipe.display_name} needs no start")
        trained_as = {s: int(recipe.start_seed(s)) for s in seeds}
        missing = [s for s in dict.fromkeys(trained_as.values()) if (data.fingerprint, recipe.fingerprint(), s) not in self._starts]
        units = [
            _Unit(
                ("start", data.fingerprint, recipe.fingerprint(), s), int(recipe.start_models()), recipe.start_shapes(data),
                _start_unit, (recipe, data, s),
            )
            for s in missing
        ]
        for unit, result in zip(units, self._run(units, progress)):
            self._starts[unit.key[1:]] = result
        return {s: self._starts[(data.fingerprint, recipe.fingerprint(), trained_as[s])] for s in seeds}

    def _start_or_none(self, data: Dataset, recipe: Recipe, seeds: Sequence[int], needed: bool) -> dict[int, Start | None]:
        if not (needed and isinstance(recipe, HasStart)):
            return {s: None for s in seeds}
        return dict(self.starts(data, recipe, seeds))

    def estimate(
        self,
        data: Dataset,
        recipe: Recipe,
        seeds: Sequence[int],
        action: Action,
        new_labels: np.ndarray,
        test_indices: np.ndarray,
        y_pred: np.ndarray,
        metric: Metric,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """A recipe's estimated effect of the action on each training sample (pool sample for
        ``add``), per seed (S, n_train) (or (S, n_pool)), with progress per seed."""
        import joblib

        if not isinstance(recipe, Estimates):
            raise ModelError(f"the recipe {recipe.display_name} cannot estimate effects; run without candidates")
        starts = self._start_or_none(data, recipe, seeds, True)  # estimates read a recipe's start where it has one
        tests = np.asarray(test_indices, dtype=np.int64)
        inputs = joblib.hash((new_labels, tests, y_pred))
        units = [
            _Unit(
                ("estimate", data.fingerprint, recipe.fingerprint(), s, action.name, metric.name, inputs),
                int(recipe.estimate_models()), {"estimate": (action.subject.size(data),)}, _estimate_unit,
                (recipe, data, s, action, new_labels, tests, y_pred, metric, starts[s]),
            )
            for s in seeds
        ]
        return np.stack([r["estimate"] for r in self._run(units, progress)])

    def prepare(self, data: Dataset, recipe: Recipe, progress: ProgressCallback | None = None) -> None:
        """The recipe's one-off preparation of ``data`` in this process (:meth:`Recipe.prepare`:
        the design matrices of a table), reported as the "preprocessing" phase."""
        report = progress or self.progress
        if not recipe.prepares(data):
            return
        start = time.perf_counter()
        if report is not None:
            report(Progress(0, 1, 0, 0.0, "preprocessing", "steps"))
        recipe.prepare(data)
        if report is not None:
            report(Progress(1, 1, 0, time.perf_counter() - start, "preprocessing", "steps"))

    def fitted(
        self,
        data: Dataset,
        recipe: Recipe,
        seed: int,
        fit: Callable[..., dict[str, np.ndarray]],
        args: tuple = (),
        shapes: dict[str, tuple[int | None, ...] | None] | None = None,
        trains: bool = True,
    ) -> dict[str, np.ndarray]:
        """Arrays that ``fit(recipe, data, seed, *args)`` reads off the seed's baseline model, which
        it trains on the unedited training set (feature attribution: a linear model's coefficients,
        a network's weights): one unit, cached and counted like a start (``trains=False`` when
        ``fit`` trains nothing). ``fit`` is a module-level function; its name and its source key the
        cache, so an edited ``fit`` never reads what the old one wrote."""
        import joblib

        name = f"{fit.__module__}.{fit.__qualname__}"
        key = ("fitted", data.fingerprint, recipe.fingerprint(), int(seed), name, function_digest(fit), joblib.hash(tuple(args)))
        if key not in self._fitted:
            unit = _Unit(key, int(trains), shapes, _fitted_unit, (fit, recipe, data, int(seed), tuple(args)))
            self._fitted[key] = self._run([unit])[0]
        return self._fitted[key]

    def predict(
        self,
        data: Dataset,
        recipe: Recipe,
        edits: Sequence[Edit],
        members: Sequence[Member],
        eval_on: EvalOn = "test",
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Probabilities of every member for every edit: (len(edits), len(members), n_eval, C),
        where n_eval is the test set, or the training rows followed by the test rows."""
        n_eval = data.n_test if eval_on == "test" else data.n_train + data.n_test
        per_run = recipe.members_per_run
        out = self._per_edit(
            data, recipe, edits, members, ("predict", eval_on), _predict_unit, (eval_on,),
            lambda chunk: {"proba": (len(chunk), per_run, n_eval, data.n_classes)}, progress,
        )
        return out["proba"] if out else np.empty((0, len(members), n_eval, data.n_classes))

    def summaries(
        self,
        data: Dataset,
        recipe: Recipe,
        edits: Sequence[Edit],
        members: Sequence[Member],
        rows: Sequence[int] | np.ndarray,
        progress: ProgressCallback | None = None,
        on_disk: bool = False,
    ) -> Counterfactuals:
        """What a ranking keeps of every edit's models (:mod:`tda_core._counterfactuals`): the
        probabilities of the test rows ``rows`` and the counts behind the accuracies. A unit
        holds no more than that, so a ranking grows with the rows its views need, not with the
        test set (shared/DESIGN.md, "Scale and memory"). ``on_disk``: the probabilities stay in
        the cache's entries (one per unit) and are read a group's rows at a time
        (:class:`~tda_core._counterfactuals.OnDisk`); only the counts are held."""
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        kind, shapes = self._summary_kind(data, recipe, rows)
        c = data.n_classes
        if on_disk and len(edits):
            if self.cache.root is None:
                raise UsageError("kept rankings on disk live in the cache: run with the cache on")
            layout = self._edit_units(data, recipe, edits, members, kind, _summary_unit, (rows,), shapes)
            return self._summaries_on_disk(data, members, len(edits), rows, layout, progress)
        out = self._per_edit(data, recipe, edits, members, kind, _summary_unit, (rows,), shapes, progress)
        if not out:
            e = len(members)
            out = {"proba": np.empty((0, e, len(rows), c)), "correct": np.empty((0, e)), "class_correct": np.empty((0, e, c))}
        return Counterfactuals(rows, out["proba"], out["correct"], out["class_correct"], data.n_test)

    @staticmethod
    def _summary_kind(data: Dataset, recipe: Recipe, rows: np.ndarray) -> tuple[tuple, Callable[[tuple[Edit, ...]], dict]]:
        """The cache kind and array shapes of :meth:`summaries`' units for these test rows."""
        import joblib

        per_run, c = recipe.members_per_run, data.n_classes
        shapes = lambda chunk: {"proba": (len(chunk), per_run, len(rows), c), "correct": (len(chunk), per_run),  # noqa: E731
                                "class_correct": (len(chunk), per_run, c)}
        return ("summary", joblib.hash(rows)), shapes

    def summaries_pace(
        self,
        data: Dataset,
        recipe: Recipe,
        edits: Sequence[Edit],
        members: Sequence[Member],
        rows: Sequence[int] | np.ndarray,
        progress: ProgressCallback | None = None,
    ) -> Pace | None:
        """The :class:`Pace` of :meth:`summaries` with these arguments, from its first unit not in
        the cache, trained here and cached, so that :meth:`summaries` then reads it: an estimate of
        a long request from its own kind of work (a stacked unit of networks trains many times
        faster per network than a baseline's one network). None without a cache (the unit would be
        trained twice) or where every unit is cached."""
        if self.cache.root is None or not len(edits):
            return None
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        kind, shapes = self._summary_kind(data, recipe, rows)
        units = self._edit_units(data, recipe, edits, members, kind, _summary_unit, (rows,), shapes)[3]
        missing = [u for u in units if not (path := self.cache.path(u.key)) or not path.exists()]
        if not missing:
            return None
        started = time.perf_counter()
        self._run(missing[:1], progress)
        seconds = time.perf_counter() - started
        left = len(missing) - 1
        jobs = self._jobs_for(left, seconds) if self.config.n_jobs == AUTO_JOBS else (
            cores() if self.config.n_jobs == -1 else self.config.n_jobs)
        return Pace(missing[0].models / max(seconds, 1e-9), max(1, min(jobs, max(left, 1))), missing[0].models)

    def _edit_units(
        self,
        data: Dataset,
        recipe: Recipe,
        edits: Sequence[Edit],
        members: Sequence[Member],
        kind: tuple,
        func: Callable[..., dict[str, np.ndarray]],
        extra: tuple,
        shapes: Callable[[tuple[Edit, ...]], dict[str, tuple[int, ...]]],
    ) -> tuple[list[int], list[tuple[Edit, ...]], int, list[_Unit]]:
        """Units of one seed and one chunk of edits each: the seeds, the chunks, the chunk size and the units."""
        seeds = list(dict.fromkeys(m.seed for m in members))
        starts = self._start_or_none(data, recipe, seeds, isinstance(recipe, HasStart) and recipe.trains_from_start())
        size = max(1, recipe.chunk_for(data))
        chunks = [tuple(edits[i : i + size]) for i in range(0, len(edits), size)]
        fingerprint = recipe.fingerprint()
        units = [
            _Unit((*kind[:1], data.fingerprint, fingerprint, s, *kind[1:], chunk), recipe.models_trained(chunk), shapes(chunk),
                  func, (recipe, data, chunk, s, starts[s], *extra))
            for s in seeds
            for chunk in chunks
        ]
        return seeds, chunks, size, units

    @staticmethod
    def _gather(
        out: dict[str, np.ndarray], i: int, result: dict[str, np.ndarray], seeds: list[int], chunks: list, size: int,
        members: Sequence[Member], n_edits: int, take: Callable[[str, np.ndarray], np.ndarray] = lambda name, v: v,
    ) -> None:
        """Unit ``i``'s arrays (chunk, members_per_run, ...) into ``out`` (len(edits), len(members), ...)."""
        seed, c = seeds[i // len(chunks)], i % len(chunks)
        rows = slice(c * size, c * size + len(chunks[c]))
        for name, value in result.items():
            value = take(name, value)
            if name not in out:
                out[name] = np.empty((n_edits, len(members), *value.shape[2:]), dtype=value.dtype)
            for column, member in enumerate(members):
                if member.seed == seed:
                    out[name][rows, column] = value[:, member.checkpoint]

    def _per_edit(
        self,
        data: Dataset,
        recipe: Recipe,
        edits: Sequence[Edit],
        members: Sequence[Member],
        kind: tuple,
        func: Callable[..., dict[str, np.ndarray]],
        extra: tuple,
        shapes: Callable[[tuple[Edit, ...]], dict[str, tuple[int, ...]]],
        progress: ProgressCallback | None,
    ) -> dict[str, np.ndarray]:
        """Units of one seed and one chunk of edits each; their arrays (chunk, members_per_run, ...)
        gathered per member into (len(edits), len(members), ...), in the recipe's own precision."""
        seeds, chunks, size, units = self._edit_units(data, recipe, edits, members, kind, func, extra, shapes)
        out: dict[str, np.ndarray] = {}
        for i, result in enumerate(self._run(units, progress)):
            self._gather(out, i, result, seeds, chunks, size, members, len(edits))
        return out

    def _summaries_on_disk(
        self, data: Dataset, members: Sequence[Member], n: int, rows: np.ndarray, layout: tuple, progress: ProgressCallback | None
    ) -> Counterfactuals:
        """:meth:`summaries` of ``n`` edits, whose probabilities stay in the cache: each unit's
        entry (``layout``: :meth:`_edit_units`) is written as it arrives (as always) and this
        process keeps only its counts; a group's rows are read back from the entries a unit at a
        time, so memory holds one unit and the group's slice."""
        seeds, chunks, size, units = layout
        counts: dict[str, np.ndarray] = {}
        for i, result in enumerate(self._run(units, progress, keep=("correct", "class_correct"))):
            self._gather(counts, i, result, seeds, chunks, size, members, n)
        cache, e, c = self.cache, len(members), data.n_classes

        def read(positions: np.ndarray) -> np.ndarray:
            out: dict[str, np.ndarray] = {}
            for i, unit in enumerate(units):
                arrays = cache.load(unit.key, unit.shapes)
                if arrays is None:
                    raise UsageError("the ranking's kept rows were removed from the cache (or changed); rank this error group again")
                self._gather(out, i, {"proba": arrays["proba"]}, seeds, chunks, size, members, n,
                             take=lambda name, v: np.ascontiguousarray(v[:, :, positions]))
                del arrays
            return out["proba"]

        proba = OnDisk((n, e, len(rows), c), read)
        return Counterfactuals(rows, proba, counts["correct"], counts["class_correct"], data.n_test)

    # --- running units -----------------------------------------------------------------------

    def _run(
        self, units: Sequence[_Unit], progress: ProgressCallback | None = None, keep: tuple[str, ...] | None = None
    ) -> list[dict[str, np.ndarray]]:
        """Results of ``units`` in order: from the cache where present, else trained in parallel
        and stored as each one arrives. ``keep``: only these arrays of each result are held (the
        rest stay in the cache), so a run's memory does not grow with what it stores."""
        start = time.perf_counter()
        report = progress or self.progress
        results: list[dict[str, np.ndarray] | None] = [None] * len(units)
        todo: list[int] = []
        cached = 0
        for i, unit in enumerate(units):
            found = self.cache.load(unit.key, unit.shapes)
            results[i] = found if found is None or keep is None else {k: found[k] for k in keep}
            if found is None:
                todo.append(i)
            else:
                cached += unit.models
        total = sum(u.models for u in units)
        self.stats.cache_hits += cached
        done = cached
        phase = PHASES.get(str(units[0].key[0]), "retraining") if units else "retraining"
        # Work that trains no model (estimates around a cached start) is counted by units.
        by_units = not total and bool(units)
        if by_units:
            cached = done = len(units) - len(todo)
            total = len(units)
        unit_name = "seeds" if phase.startswith("estimates") else "units" if by_units else "models"

        def tell() -> None:
            if report is not None and total:
                report(Progress(done, total, cached, time.perf_counter() - start, phase, unit_name))

        tell()

        def arrive(todo: Sequence[int], n_jobs: int) -> None:
            nonlocal done
            with contextlib.closing(self._arriving(units, todo, n_jobs)) as arriving:
                for i, result in arriving:
                    self.cache.store(units[i].key, result)  # as soon as it arrives: nothing finished is lost
                    results[i] = result if keep is None else {k: result[k] for k in keep}
                    done += 1 if by_units else units[i].models
                    self.stats.retrains += units[i].models
                    tell()

        if todo:
            n_jobs = 1 if len(todo) == 1 else self.config.n_jobs
            if self.config.backend in ("dask", "ray"):
                n_jobs = -1  # as many as the cluster has workers
            elif n_jobs == AUTO_JOBS:
                started = time.perf_counter()
                arrive(todo[:1], 1)  # one unit here first: its time says whether workers are worth starting
                todo, n_jobs = todo[1:], self._jobs_for(len(todo) - 1, time.perf_counter() - started)
            if todo:
                self.stats.workers = max(self.stats.workers, cores() if n_jobs == -1 else n_jobs)
                arrive(todo, n_jobs)
        return [r for r in results if r is not None]

    def _jobs_for(self, units_left: int, unit_seconds: float) -> int:
        """``n_jobs=AUTO_JOBS``: workers for ``units_left`` units of about ``unit_seconds`` each:
        1 unless the work left is long enough to repay starting workers (:data:`AUTO_PARALLEL_SECONDS`)
        and the memory budget holds more than one (:attr:`auto_workers`), then the idle cores."""
        if units_left < 2 or units_left * unit_seconds < AUTO_PARALLEL_SECONDS or self.auto_workers < 2:
            return 1
        return max(1, min(idle_cores(), self.auto_workers, units_left))

    def _arriving(self, units: Sequence[_Unit], todo: Sequence[int], n_jobs: int) -> Generator[tuple[int, dict[str, np.ndarray]], None, None]:
        """``(i, result)`` of the units ``todo`` in the order they finish."""
        parent = os.getpid()
        if self.config.backend == "dask":
            yield from self._dask_arriving(units, todo, parent)
            return
        tasks = (delayed(_execute)(units[i].func, units[i].args, i, parent) for i in todo)
        with self._backend():
            yield from Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks)

    def _dask_arriving(self, units: Sequence[_Unit], todo: Sequence[int], parent: int) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """The units on Dask, through the client itself (joblib's Dask backend runs everything in
        this process when the cluster has one thread): the units' datasets sent to the cluster once
        (a unit then carries a reference, not 200 MiB of census income; the workers copy it from
        each other, once per worker); two units a worker thread in flight at most (workers that
        join later count), so the scheduler holds a bounded queue; each result released on the
        cluster as soon as it is here."""
        from uuid import uuid4

        from distributed import KilledWorker, as_completed

        client, cluster = self._dask_client()
        try:
            datasets = {id(a): a for i in todo for a in units[i].args if isinstance(a, Dataset)}
            run = uuid4().hex[:8]
            # A task that returns the dataset, not a scatter: the scheduler can run it again where the
            # workers that held it die (scattered data would be lost with them).
            with warnings.catch_warnings():  # "Sending large graph": the dataset, once, is what it should send
                warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
                copies = {k: client.submit(_same, d, key=f"tda-data-{run}-{n}", pure=False) for n, (k, d) in enumerate(datasets.items())}

            def submit(i: int) -> Any:
                args = tuple(copies.get(id(a), a) if isinstance(a, Dataset) else a for a in units[i].args)
                return client.submit(_execute, units[i].func, args, i, parent, key=f"tda-{units[i].key[0]}-{run}-{i}", pure=False)

            waiting = list(reversed(todo))
            queue = as_completed()
            in_flight = 0

            def fill(threads: int) -> None:
                nonlocal in_flight
                while waiting and in_flight < max(2, 2 * threads):
                    queue.add(submit(waiting.pop()))
                    in_flight += 1

            fill(sum(w["nthreads"] for w in self.dask_workers.values()))
            for future in queue:
                try:
                    i, result = future.result()
                except KilledWorker as exc:
                    raise self._killed() from exc
                future.release()
                in_flight -= 1
                fill(sum(client.nthreads().values()) if waiting else 0)
                yield i, result
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    def _killed(self) -> BackendError:
        limits = sorted({w["memory_limit"] for w in self.dask_workers.values()})
        limit = f"a memory limit of {format_bytes(limits[0])}" if limits and limits[0] else "no memory limit"
        return BackendError(
            "Dask workers died running the same unit of work again and again, most often out of memory: "
            f"the workers have {limit}; give each worker more (dask worker --memory-limit, or --max-memory for a local "
            "cluster) and one thread (--nthreads 1), or use fewer rows"
        )

    @contextlib.contextmanager
    def _backend(self) -> Iterator[None]:
        """The joblib backend of a run that is not on Dask (:meth:`_dask_arriving`)."""
        if self.config.backend == "ray":
            try:
                from ray.util.joblib import register_ray  # optional extra
            except ImportError as exc:
                raise UsageError("the ray backend needs ray (pip install 'ray[default]'); or use the dask backend") from exc
            register_ray()
            with parallel_config(backend="ray"):
                yield
        else:
            with parallel_config(backend=self.config.backend):
                yield

    def _dask_client(self) -> tuple[Any, Any]:
        """A client of the configured scheduler, or of a local cluster when none is given (then
        also the cluster, to close with it). A local cluster has ``n_jobs`` worker processes of one
        thread each, each with a share of ``max_memory`` as its memory limit
        (:func:`local_cluster_plan`). A remote scheduler's workers are read
        (:attr:`dask_workers`), and workers without a memory limit are reported on the log."""
        from distributed import Client, LocalCluster

        if not self.config.scheduler:
            wanted = (os.cpu_count() or 1) if self.config.n_jobs in (-1, AUTO_JOBS) else max(1, self.config.n_jobs)
            workers, memory = local_cluster_plan(wanted, self.config.max_memory)
            if workers < wanted:
                log.warning("a local Dask cluster of %d workers instead of %d: %s each fit the %s memory limit",
                            workers, wanted, format_bytes(memory), format_bytes(self.config.max_memory))
            # No dashboard, and the scheduler's HTTP server on a free port (not 8787, which another run may hold).
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory,
                                   dashboard_address=":0", scheduler_kwargs={"dashboard": False})
            client = Client(cluster)
            self.dask_workers = _dask_workers(client)
            return client, cluster
        probe_dask_scheduler(self.config.scheduler)
        try:
            client = Client(self.config.scheduler, timeout=DASK_TIMEOUT)
        except Exception as exc:  # connect or handshake: one line whatever distributed raises
            raise BackendError(
                f"cannot reach the Dask scheduler at {self.config.scheduler} ({_unreachable(exc)}); "
                "start one with `dask scheduler` or check the address"
            ) from exc
        self.dask_workers = _dask_workers(client)
        unbounded = [a for a, w in self.dask_workers.items() if not w["memory_limit"]]
        if unbounded:
            log.warning("%d of the %d Dask workers at %s have no memory limit: start them with "
                        "`dask worker %s --nthreads 1 --memory-limit 4GiB` so that each holds one bounded unit",
                        len(unbounded), len(self.dask_workers), self.config.scheduler, self.config.scheduler)
        return client, None
