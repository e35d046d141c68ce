"""An ensemble that grows until its ranking holds (shared/DESIGN.md, "Growing ensembles").

It starts with :data:`START_SEEDS` seeds and adds one seed at a time. Every member goes through the
engine's cache, and the kept test rows are pinned to those of the first step (the first ensemble's
errors and the chosen test samples), so the cache keys of the members already trained do not
change: each step trains only its new seed. It stops when the low end of the ranking's
reliability interval reaches the target (``"target"``), or when the next seed would exceed the
budget: the most seeds, the memory budget, or the time (``"budget"``). Stopped at the budget, it
points to what holds better where single samples do not: candidate groups, or head mode for a
network trained in full, with the reliability of each measured on the same seeds.

The dashboard drives it step by step::

    growth = EnsembleGrowth(data, recipe, config, ("class", "good", "bad"), "remove", "loss")
    for step in growth.steps():          # one step per seed added
        show(step.members, step.reliability)
        if stop_pressed:
            break                       # growth.stopped is then "stopped"
    result = growth.result()            # the final Attribution, the history, why it stopped
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ._actions import POOL, subject_of
from ._analysis import Analysis, Attribution, check_action
from ._attribution import Ranking
from ._engine import ProgressCallback, RunConfig
from ._errors import ErrorGroup
from ._exceptions import BudgetError, UsageError
from ._request import Request
from ._stats import Reliability
from ._training_groups import GroupRanking
from .data._dataset import Dataset
from .limits import check_run
from .recipes._base import Recipe
from .recipes._protocols import TrainsNetworks

#: Seeds of the first step.
START_SEEDS = 3
#: The target of the interval's low end, and the most seeds, by default.
DEFAULT_TARGET = 0.8
DEFAULT_MAX_ENSEMBLE = 10
STOP_REASONS = ("target", "budget", "stopped")
#: Which budget a growth stopped at (``Growth.limit``): each client names its own way to raise it.
BUDGET_LIMITS = ("seeds", "time", "memory")


@dataclass(frozen=True)
class GrowthStep:
    """The ranking's reliability after one step: ``members`` in the ensemble (``seeds`` seeds)."""

    members: int
    seeds: int
    reliability: Reliability
    retrains: int  # models trained in this step (cache hits excluded)
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"members": self.members, **self.reliability.to_json(), "retrains": self.retrains,
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class Alternative:
    """Where single samples do not hold: another way of ranking, with its reliability on the same
    seeds where it was measured (None: suggested, not measured)."""

    kind: str  # "groups" | "head": each client adds where it is chosen (a flag, a control)
    advice: str
    reliability: Reliability | None

    def to_json(self) -> dict[str, Any]:
        measured = self.reliability.to_json() if self.reliability is not None else {"reliability": None, "reliability_interval": None}
        return {"kind": self.kind, "advice": self.advice, **measured}


@dataclass(frozen=True)
class Growth:
    """A finished growth: the last step's analysis and attribution, every step, and why it stopped."""

    analysis: Analysis
    attribution: Attribution
    steps: tuple[GrowthStep, ...]
    stopped: str  # one of STOP_REASONS
    reason: str  # the same in words
    target: float
    max_ensemble: int
    alternatives: tuple[Alternative, ...] = ()
    retrains: int = 0  # models trained over every step (cache hits excluded)
    cache_hits: int = 0
    limit: str | None = None  # stopped at the budget: which one (BUDGET_LIMITS)

    def to_json(self) -> dict[str, Any]:
        return {
            "growth": [s.to_json() for s in self.steps],
            "growth_stopped": self.stopped,
            "growth_reason": self.reason,
            "growth_limit": self.limit,
            "target_reliability": self.target,
            "max_ensemble": self.max_ensemble,
            "alternatives": [a.to_json() for a in self.alternatives],
        }


def check_growth(target: float, max_ensemble: int, per_run: int = 1) -> None:
    """Refuse a target or a budget that cannot work, in the user's words."""
    if not 0 < float(target) <= 1:
        raise UsageError(f"the target reliability must lie in (0, 1], not {target}")
    if int(max_ensemble) < START_SEEDS:
        raise UsageError(f"the most members of a growing ensemble must be at least {START_SEEDS} (it starts there), not {max_ensemble}")


class EnsembleGrowth:
    """Grows an ensemble seed by seed until its ranking's reliability interval clears ``target``.

    ``request`` names the error group as the first ensemble will find it: ``("class", TRUE, PRED)``,
    ``("slice", ID)``, or an :class:`~tda_core._errors.ErrorGroup` already resolved; ``tests``
    narrows it. ``max_ensemble`` counts seeds; ``max_seconds`` (optional) is a time budget checked
    between steps. ``measure_alternatives``: stopped at the budget, measure the reliability of
    candidate groups (and of head mode, for a network trained in full) on the same seeds."""

    def __init__(
        self,
        data: Dataset,
        recipe: Recipe,
        config: RunConfig,
        request: tuple | ErrorGroup,
        action: str,
        metric: str,
        size: int = 10,
        alpha: float = 0.05,
        unit: str = "sample",
        target: float = DEFAULT_TARGET,
        max_ensemble: int = DEFAULT_MAX_ENSEMBLE,
        tests: Sequence[int] | None = None,
        max_seconds: float | None = None,
        measure_alternatives: bool = True,
        progress: ProgressCallback | None = None,
    ):
        self.ask = Request.of(action, metric, size, alpha, unit)  # checked once, here
        check_action(data, self.ask.action, unit)
        check_growth(target, max_ensemble)
        self.data, self.recipe, self.request, self.tests = data, recipe, request, tests
        self.action, self.metric, self.size, self.alpha, self.unit = (
            self.ask.action.name, self.ask.metric.name, self.ask.size, self.ask.alpha, self.ask.unit)
        self.target, self.max_ensemble, self.max_seconds = float(target), int(max_ensemble), max_seconds
        self.measure_alternatives = measure_alternatives
        self.progress = progress
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        if not config.use_cache:  # nothing may be retrained: a cache for this growth only
            self._temporary = tempfile.TemporaryDirectory(prefix="tda-growth-")
            config = replace(config, use_cache=True, cache_dir=self._temporary.name)
        self.config = config
        self.per_run = recipe.members_per_run
        self.history: list[GrowthStep] = []
        self.analysis: Analysis | None = None
        self.group: ErrorGroup | None = None
        self.stopped: str | None = None
        self.reason = ""
        self.limit: str | None = None  # stopped at the budget: which one
        self._kept_rows: np.ndarray | None = None
        self._retrains = 0
        self._cache_hits = 0
        self._started = time.perf_counter()

    # --- the steps ------------------------------------------------------------------------------

    def _analysis(self, seeds: int) -> Analysis:
        config = replace(self.config, ensemble=seeds * self.per_run)
        return Analysis(self.data, self.recipe, config, self.progress, kept_rows=self._kept_rows)

    def _resolve(self, analysis: Analysis) -> ErrorGroup:
        request = self.request
        if isinstance(request, ErrorGroup):
            return request.narrowed(self.tests) if self.tests else request
        if request[0] == "slice":
            return analysis.group("slice", request[1], self.tests)
        return analysis.group(request[1], request[2], self.tests)

    def _ranking(self, analysis: Analysis, group: ErrorGroup) -> Ranking | GroupRanking:
        if self.unit == "group":
            return analysis.group_ranking(group, self.action, self.metric, self.size, self.progress)[0]
        return analysis.ranking(group, self.action, self.metric, self.progress)

    def _last(self) -> tuple[Analysis, ErrorGroup]:
        """The last finished step's analysis and the error group it ranks for."""
        if self.analysis is None or self.group is None:
            raise RuntimeError("the growing ensemble has no finished step yet")
        return self.analysis, self.group

    def _fits(self, seeds: int) -> bool:
        try:
            check_run(self.data, self.recipe, replace(self.config, ensemble=seeds * self.per_run), ranking=True, unit=self.unit,
                      kept_rows=None if self._kept_rows is None else len(self._kept_rows), subject=subject_of(self.action))
        except BudgetError as exc:
            self.reason, self.limit = f"the memory budget: {seeds} seeds would not fit ({exc})", "memory"
            return False
        return True

    def _step(self, seeds: int) -> GrowthStep:
        started = time.perf_counter()
        analysis = self._analysis(seeds)
        analysis.compute_baseline(self.progress)
        group = self.group
        if group is None:
            group = self.group = self._resolve(analysis)
            self._kept_rows = np.union1d(analysis.errors.error_indices, np.asarray(group.test_indices, dtype=np.int64))
            analysis.kept_rows = self._kept_rows
        ranking = self._ranking(analysis, group)
        self._retrains += analysis.engine.stats.retrains
        self._cache_hits += analysis.engine.stats.cache_hits
        step = GrowthStep(len(analysis.members), seeds, analysis.reliability_of(ranking), analysis.engine.stats.retrains,
                          time.perf_counter() - started)
        # Last, together: a step interrupted before here (a dashboard rerun) leaves the previous one whole.
        self.history.append(step)
        self.analysis = analysis
        return step

    def steps(self) -> Iterator[GrowthStep]:
        """One :class:`GrowthStep` per ensemble size, from :data:`START_SEEDS` seeds up; the last
        one yielded is where it stopped (:attr:`stopped`). Breaking out of the loop early stops it
        there (``"stopped"``); the members trained so far stay cached."""
        seeds = START_SEEDS if not self.history else self.history[-1].seeds + 1
        while self.stopped is None:
            self.stopped = "stopped"  # until this step says otherwise: a consumer that breaks out stops it here
            self.reason = "stopped before the target was reached"
            step = self._step(seeds)
            deterministic = self._last()[0].baseline.deterministic
            low = step.reliability.lower
            if deterministic or (low is not None and low >= self.target):
                self.stopped = "target"
                self.reason = ("the model is deterministic: its ranking is exact" if deterministic else
                               f"the reliability interval's low end {low:.2f} reached the target {self.target:g}")
            elif seeds + 1 > self.max_ensemble:
                self.stopped = "budget"
                self.reason, self.limit = f"the most seeds ({self.max_ensemble}) before the target {self.target:g}", "seeds"
            elif self.max_seconds is not None and time.perf_counter() - self._started + step.seconds > self.max_seconds:
                self.stopped = "budget"
                self.reason, self.limit = f"the time budget ({self.max_seconds:g} s) before the target {self.target:g}", "time"
            elif not self._fits(seeds + 1):
                self.stopped = "budget"
            else:
                self.stopped = None
            try:
                yield step
            except GeneratorExit:  # the consumer broke out of its loop: stopped here
                self.stop()
                raise
            seeds += 1

    def stop(self) -> None:
        """Stop where it is (the dashboard's Stop); :meth:`result` then reports ``"stopped"``."""
        if self.stopped is None:
            self.stopped, self.reason = "stopped", "stopped before the target was reached"

    @property
    def retrains(self) -> int:
        """Models trained over every step (cache hits excluded)."""
        return self._retrains

    @property
    def cache_hits(self) -> int:
        return self._cache_hits

    # --- the result -----------------------------------------------------------------------------

    def result(self) -> Growth:
        """Runs the remaining steps unless stopped, then the attribution of the last ensemble (its
        selection and group effect), and, stopped at the budget, the alternatives."""
        if not self.history:  # nothing finished yet (a first step interrupted): at least one step
            self.stopped = None
        if self.stopped is None:
            for _ in self.steps():
                pass
        analysis, group = self._last()
        stopped = self.stopped
        if stopped is None:  # the steps above run until they stop
            raise RuntimeError("the growing ensemble has not stopped")
        before = analysis.engine.stats.retrains, analysis.engine.stats.cache_hits
        attribution = analysis.answer(group, self.ask, self.progress)
        alternatives = self._alternatives() if stopped == "budget" else ()
        self._retrains += analysis.engine.stats.retrains - before[0]
        self._cache_hits += analysis.engine.stats.cache_hits - before[1]
        return Growth(analysis, attribution, tuple(self.history), stopped, self.reason, self.target, self.max_ensemble,
                      alternatives, self._retrains, self._cache_hits, self.limit if stopped == "budget" else None)

    def _alternatives(self) -> tuple[Alternative, ...]:
        """Candidate groups (for single samples) and head mode (for a network trained in full),
        each with its reliability on the same seeds where ``measure_alternatives``."""
        found: list[Alternative] = []
        analysis, group = self._last()
        if self.unit == "sample" and subject_of(self.action) is not POOL:
            measured = None
            if self.measure_alternatives:
                before = analysis.engine.stats.retrains
                try:
                    ranking, _ = analysis.group_ranking(group, self.action, self.metric, self.size, self.progress)
                    measured = analysis.reliability_of(ranking)
                except UsageError:  # a model without a representation has no candidate groups
                    measured = None
                self._retrains += analysis.engine.stats.retrains - before
            found.append(Alternative(
                "groups", f"rank candidate groups of {self.size} samples instead of single samples", measured))
        if isinstance(self.recipe, TrainsNetworks) and self.recipe.mode == "full" and self.data.kind == "images":
            measured = None
            if self.measure_alternatives:
                measured = self._head_reliability(analysis, group)
            found.append(Alternative("head", "retrain only the last layer on frozen features", measured))
        return tuple(found)

    def _head_reliability(self, analysis: Analysis, group: ErrorGroup) -> Reliability | None:
        from sklearn.base import clone

        try:
            head = clone(self.recipe).set_params(mode="head")
        except (TypeError, ValueError, AttributeError):
            return None
        other = Analysis(self.data, head, analysis.config, self.progress, kept_rows=self._kept_rows)
        try:
            other.compute_baseline(self.progress)
            ranking = self._ranking(other, group)
            measured = other.reliability_of(ranking)
        except UsageError:
            measured = None
        self._retrains += other.engine.stats.retrains
        self._cache_hits += other.engine.stats.cache_hits
        return measured

    def close(self) -> None:
        """Removes the temporary cache of a run without the cache."""
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None


def grow_ensemble(
    data: Dataset, recipe: Recipe, config: RunConfig, request: tuple | ErrorGroup, action: str, metric: str, **kwargs: Any,
) -> Growth:
    """:class:`EnsembleGrowth` run to its end: the attribution of the ensemble that holds, or of the
    largest the budget allows."""
    growth = EnsembleGrowth(data, recipe, config, request, action, metric, **kwargs)
    try:
        return growth.result()
    finally:
        growth.close()
