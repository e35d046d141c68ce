"""The one place where models are retrained: batching, joblib parallelism and the cache.

Work is cut into *units*: one seed of the recipe and a chunk of edits (``recipe.chunk_size``)
that the recipe trains in one call, vectorised where it can. Chunks are fixed by the order
of the edits, so the same request always makes the same units and hits the same cache
entries. Each finished unit is written to ``joblib.Memory`` by this process as soon as it
arrives (workers need no shared disk), so a run killed midway keeps its finished units and a
rerun trains only what is missing. joblib writes entries atomically (temp file + rename); an
entry that cannot be read is trained again instead of failing the run.

Storage is compact without losing precision: a counterfactual's test probabilities are
stored as float32 *differences* from its seed's baseline (kept in float64). Differences are
small, so float32 keeps them to ~1e-10, and deltas match a float64 retrain to 1e-8.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import joblib
from joblib import Parallel, delayed, parallel_config

from .actions import Edit
from .cache import memory
from .data import Dataset
from .exceptions import UsageError
from .models import EvalOn, Member, Recipe

BACKENDS = ("loky", "threading", "dask", "ray")


@dataclass(frozen=True)
class RunConfig:
    """How to run retrains. ``ensemble`` members are drawn from seeds ``seed, seed+1, ...``."""

    ensemble: int = 3
    seed: int = 0
    n_jobs: int = 1
    backend: str = "loky"
    scheduler: str | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    candidates: int | None = None  # estimate every sample, retrain the top N (+ a random check)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise UsageError(f"unknown backend {self.backend!r}: choose one of {', '.join(BACKENDS)}")
        if self.ensemble < 2:
            raise UsageError("--ensemble must be at least 2: p-values need a spread over members")
        if self.candidates is not None and self.candidates < 1:
            raise UsageError(f"--candidates must be at least 1, not {self.candidates}")


@dataclass(frozen=True)
class Progress:
    """Models done out of total for one request; cached models count as done at once."""

    done: int
    total: int
    cached: int
    elapsed: float

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
        return f"{self.done}/{self.total} models ({self.cached} cached), {self.rate:.1f}/s, ETA {eta}"


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class UnitKey:
    """Everything that determines a unit's result; joblib.Memory hashes it."""

    data: str
    recipe: str
    seed: int
    eval_on: str
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class EstimateKey:
    """Everything that determines a recipe's effect estimates (candidate mode)."""

    data: str
    recipe: str
    seed: int
    action: str
    metric: str
    test_indices: tuple[int, ...]
    baseline: str  # hash of the relabel targets and the baseline's predictions it used


def _stored_unit(key: UnitKey | EstimateKey, result: np.ndarray | None = None) -> np.ndarray | None:
    """Cache slot: stores ``result`` (ignored by the hash) under ``key``."""
    return result


def _encode(proba: np.ndarray, reference: np.ndarray | None) -> np.ndarray:
    """What a unit stores: float32 differences from the seed's baseline, or float64 as is."""
    proba = np.asarray(proba, dtype=np.float64)
    return proba if reference is None else (proba - reference).astype(np.float32)


def _train_unit(
    recipe: Recipe, data: Dataset, edits: tuple[Edit, ...], seed: int, eval_on: EvalOn, tag: int, reference: np.ndarray | None
) -> tuple[int, np.ndarray]:
    # Encoded in the worker: half the bytes travel back to the client.
    return tag, _encode(recipe.fit_predict(data, edits, seed, eval_on), reference)


@dataclass
class RunStats:
    """Counters over the life of an engine: models trained and models read from the cache."""

    retrains: int = 0
    cache_hits: int = 0


class Engine:
    """Trains and caches the ensemble's predictions for lists of edits."""

    def __init__(self, config: RunConfig = RunConfig(), progress: ProgressCallback | None = None):
        self.config = config
        self.progress = progress
        self.stats = RunStats()
        self._slot = memory(config.cache_dir, config.use_cache).cache(_stored_unit, ignore=["result"])
        self._references: dict[tuple[str, str, int], np.ndarray] = {}

    def _load(self, key: UnitKey | EstimateKey) -> np.ndarray | None:
        if not self.config.use_cache or not self._slot.check_call_in_cache(key):
            return None
        try:
            result = self._slot.call_and_shelve(key).get()
        except Exception:  # unreadable entry: train it again
            return None
        return result if isinstance(result, np.ndarray) else None

    def _store(self, key: UnitKey | EstimateKey, result: np.ndarray) -> None:
        if self.config.use_cache:
            self._slot.call(key, result=result)

    def estimate(
        self,
        data: Dataset,
        recipe: Recipe,
        seed: int,
        action: str,
        new_labels: np.ndarray,
        test_indices: np.ndarray,
        y_pred: np.ndarray,
        metric: str,
    ) -> np.ndarray:
        """A recipe's estimated effect of the action on each training sample (cached): the
        estimates fit the seed's baseline model themselves, so they are training work too."""
        key = EstimateKey(
            data.fingerprint, recipe.fingerprint(), seed, action, metric,
            tuple(int(t) for t in test_indices), joblib.hash((new_labels, y_pred)),
        )
        cached = self._load(key)
        if cached is None:
            cached = np.asarray(recipe.estimate_effects(data, seed, action, new_labels, test_indices, y_pred, metric), dtype=np.float64)
            self._store(key, cached)
        return cached

    def _reference(self, data: Dataset, recipe: Recipe, seed: int) -> np.ndarray:
        """The seed's baseline test probabilities (float64): what test units are stored against."""
        ref = self._references.get((data.fingerprint, recipe.fingerprint(), seed))
        if ref is None:
            key = UnitKey(data.fingerprint, recipe.fingerprint(), seed, "train+test", (Edit.none(),))
            full = self._load(key)
            if full is None:
                full = np.asarray(recipe.fit_predict(data, key.edits, seed, "train+test"), dtype=np.float64)
                self._store(key, full)
                self.stats.retrains += 1
            ref = full[:, :, data.n_train :]
            self._references[(data.fingerprint, recipe.fingerprint(), seed)] = ref
        return ref

    @contextlib.contextmanager
    def _backend(self) -> Iterator[None]:
        if self.config.backend == "dask":
            client = self._dask_client()
            try:
                with parallel_config(backend="dask"):
                    yield
            finally:
                client.close()
        elif self.config.backend == "ray":
            try:
                from ray.util.joblib import register_ray  # optional extra
            except ImportError:
                raise UsageError("the ray backend needs ray (pip install 'ray[default]'); or use --backend dask") from None
            register_ray()
            with parallel_config(backend="ray"):
                yield
        else:
            with parallel_config(backend=self.config.backend):
                yield

    def _dask_client(self) -> Any:
        """A client of the configured scheduler, or of a local cluster when none is given."""
        from distributed import Client

        if not self.config.scheduler:
            return Client(processes=True, n_workers=max(1, self.config.n_jobs))
        try:
            return Client(self.config.scheduler, timeout=5)
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(
                f"cannot reach the Dask scheduler at {self.config.scheduler} ({exc.__class__.__name__}); "
                "start one with `dask scheduler` or check the address"
            ) from None

    def predict(
        self,
        data: Dataset,
        recipe: Recipe,
        edits: Sequence[Edit],
        eval_on: EvalOn = "test",
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Probabilities of every ensemble member for every edit.

        Returns float64 of shape (len(edits), ensemble, n_eval, n_classes), where n_eval is
        the test set, or the training rows followed by the test rows.
        """
        start = time.perf_counter()
        report = progress or self.progress
        members = recipe.members(self.config.ensemble, self.config.seed)
        seeds = sorted({m.seed for m in members})
        size = max(1, recipe.chunk_size)
        chunks = [tuple(edits[i : i + size]) for i in range(0, len(edits), size)]
        data_id, recipe_id = data.fingerprint, recipe.fingerprint()
        keys = [UnitKey(data_id, recipe_id, s, eval_on, c) for s in seeds for c in chunks]
        compact = eval_on == "test"
        refs = {s: self._reference(data, recipe, s) for s in seeds} if compact else {}
        n_eval = data.n_test if compact else data.n_train + data.n_test
        # Filled unit by unit as results arrive: no second copy of a large ranking in memory.
        out = np.empty((len(edits), len(members), n_eval, data.n_classes), dtype=np.float64)
        columns = _member_columns(members)

        def place(i: int, stored: np.ndarray) -> None:
            key = keys[i]
            rows = slice((i % len(chunks)) * size, (i % len(chunks)) * size + len(key.edits))
            for column, checkpoint in columns[key.seed]:
                out[rows, column] = stored[:, checkpoint]
                if compact:  # stored as float32 differences from the seed's baseline
                    out[rows, column] += refs[key.seed][0, checkpoint]

        todo: list[int] = []
        cached_models = 0
        for i, key in enumerate(keys):
            cached = self._load(key)
            if cached is None:
                todo.append(i)
            else:
                place(i, cached)
                cached_models += len(key.edits)
        total = len(edits) * len(seeds)
        self.stats.cache_hits += cached_models
        done = cached_models

        def tell() -> None:
            if report is not None:
                report(Progress(done, total, cached_models, time.perf_counter() - start))

        tell()
        if todo:
            n_jobs = 1 if len(todo) == 1 else self.config.n_jobs
            if self.config.backend in ("dask", "ray"):
                n_jobs = -1  # as many as the cluster has workers
            tasks = (
                delayed(_train_unit)(recipe, data, keys[i].edits, keys[i].seed, eval_on, i, refs.get(keys[i].seed))
                for i in todo
            )
            with self._backend():
                for i, stored in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks):
                    self._store(keys[i], stored)  # as soon as it arrives: nothing finished is lost
                    place(i, stored)
                    done += len(keys[i].edits)
                    self.stats.retrains += len(keys[i].edits)
                    tell()
        return out


def _member_columns(members: Sequence[Member]) -> dict[int, list[tuple[int, int]]]:
    """For each seed: (column in the ensemble, checkpoint slot in that seed's run) pairs."""
    columns: dict[int, list[tuple[int, int]]] = {}
    for column, member in enumerate(members):
        slots = columns.setdefault(member.seed, [])
        slots.append((column, len(slots)))
    return columns
