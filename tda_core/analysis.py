"""One analysis of one (dataset, recipe, run configuration): what the CLI and the pages call.

It keeps the baseline and, per action, the counterfactual test probabilities of every
training sample in memory, so changing the metric, the error group, the test samples or
the group size re-ranks without training anything.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Sequence

import numpy as np

from .actions import check_action, make_edit
from .attribution import Baseline, Effect, Ranking, compute_baseline, group_effect, rank, single_edits
from .candidates import choose_candidates, summarize
from .data import Dataset
from .engine import Engine, ProgressCallback, RunConfig
from .errors import ErrorGroup, ErrorReport, error_report
from .exceptions import UsageError
from .metrics import check_metric
from .models import Recipe


@dataclass(frozen=True)
class Attribution:
    """The answer to "which training data is behind this error group, and what would acting do"."""

    group: ErrorGroup
    ranking: Ranking
    size: int
    alpha: float
    selected: tuple[int, ...]
    effect: Effect | None  # None when no sample is significant


class Analysis:
    """Thread-safe: a dashboard shares one Analysis between browser tabs, and a lock makes a
    second tab wait for the first one's retraining instead of repeating it."""

    def __init__(self, data: Dataset, recipe: Recipe, config: RunConfig = RunConfig(), progress: ProgressCallback | None = None):
        self.data = data
        self.recipe = recipe
        self.config = config
        self.engine = Engine(config, progress)
        self._action_proba: dict[str, np.ndarray] = {}
        self._effects: dict[tuple, Effect] = {}
        self._baseline: Baseline | None = None
        self._candidate_rankings: dict[tuple, Ranking] = {}
        self._lock = threading.RLock()

    def compute_baseline(self, progress: ProgressCallback | None = None) -> Baseline:
        with self._lock:
            if self._baseline is None:
                self._baseline = compute_baseline(self.engine, self.data, self.recipe, progress)
            return self._baseline

    @property
    def baseline(self) -> Baseline:
        return self.compute_baseline()

    def has_baseline(self) -> bool:
        return self._baseline is not None

    @cached_property
    def errors(self) -> ErrorReport:
        return error_report(self.data, self.baseline.proba_test)

    def group(self, true: str, pred: str, tests: Sequence[int] | None = None) -> ErrorGroup:
        self.data.class_index(true), self.data.class_index(pred)  # unknown names fail clearly
        group = self.errors.find(true, pred)
        return group.narrowed(tests) if tests else group

    def has_ranking(self, action: str, group: ErrorGroup | None = None, metric: str | None = None) -> bool:
        """Whether the ranking is ready without retraining. In candidate mode the group and the
        metric choose the candidates, so they are part of the question."""
        if self.config.candidates:
            return group is not None and (action, metric, group.test_indices) in self._candidate_rankings
        return action in self._action_proba

    def action_proba(self, action: str, progress: ProgressCallback | None = None) -> np.ndarray:
        """Test probabilities with the action applied to each training sample: (N, E, n_test, C)."""
        check_action(action)
        with self._lock:
            if action not in self._action_proba:
                edits = single_edits(action, self.data, self.baseline)
                self._action_proba[action] = self.engine.predict(self.data, self.recipe, edits, progress=progress)
            return self._action_proba[action]

    def ranking(self, group: ErrorGroup, action: str, metric: str, progress: ProgressCallback | None = None) -> Ranking:
        check_metric(metric)
        if self.config.candidates:
            key = (action, metric, group.test_indices)
            with self._lock:
                if key not in self._candidate_rankings:
                    self._candidate_rankings[key] = self._candidate_ranking(group, action, metric, progress)
                return self._candidate_rankings[key]
        return rank(self.data, self.baseline, self.action_proba(action, progress), action, metric, group.test_indices)

    def estimates(self, group: ErrorGroup, action: str, metric: str) -> np.ndarray:
        """Estimated effect of the action on each training sample, averaged over the member seeds."""
        tests = np.asarray(group.test_indices)
        seeds = sorted({m.seed for m in self.recipe.members(self.config.ensemble, self.config.seed)})
        y_pred = self.baseline.predicted_test[tests]
        targets = self.baseline.relabel_targets
        return np.mean(
            [self.engine.estimate(self.data, self.recipe, s, action, targets, tests, y_pred, metric) for s in seeds], axis=0
        )

    def _candidate_ranking(self, group: ErrorGroup, action: str, metric: str, progress: ProgressCallback | None) -> Ranking:
        check_action(action)
        estimate = self.estimates(group, action, metric)
        chosen = choose_candidates(estimate, metric, int(self.config.candidates), self.config.seed)
        edits = [make_edit(action, [i], self.baseline.relabel_targets) for i in chosen]
        proba = self.engine.predict(self.data, self.recipe, edits, progress=progress)
        ranking = rank(self.data, self.baseline, proba, action, metric, group.test_indices, train_indices=chosen)
        method = self.recipe.estimate_method or "estimate"
        estimates = summarize(method, estimate, metric, ranking.train_index, ranking.delta_mean)
        return replace(ranking, estimates=estimates)

    @staticmethod
    def _effect_key(group: ErrorGroup, action: str, metric: str, train_indices: Sequence[int]) -> tuple:
        return (action, metric, tuple(sorted(int(i) for i in train_indices)), group.test_indices)

    def has_effect(self, group: ErrorGroup, action: str, metric: str, train_indices: Sequence[int]) -> bool:
        return self._effect_key(group, action, metric, train_indices) in self._effects

    def effect(self, group: ErrorGroup, action: str, metric: str, train_indices: Sequence[int], progress: ProgressCallback | None = None) -> Effect:
        key = self._effect_key(group, action, metric, train_indices)
        with self._lock:
            if key not in self._effects:
                self._effects[key] = group_effect(
                    self.engine, self.data, self.recipe, self.baseline, action, metric, key[2], group.test_indices, progress
                )
            return self._effects[key]

    def attribute(
        self,
        group: ErrorGroup,
        action: str,
        metric: str,
        size: int = 10,
        alpha: float = 0.05,
        progress: ProgressCallback | None = None,
    ) -> Attribution:
        if size < 1:
            raise UsageError(f"--size must be at least 1, not {size}")
        if not 0 < alpha < 1:
            raise UsageError(f"--alpha must lie between 0 and 1, not {alpha}")
        ranking = self.ranking(group, action, metric, progress)
        selected = ranking.select(size, alpha)
        effect = self.effect(group, action, metric, selected, progress) if selected else None
        return Attribution(group, ranking, size, alpha, selected, effect)


def base_json(analysis: Analysis) -> dict[str, Any]:
    report = analysis.errors
    return {"accuracy_mean": report.accuracy_mean, "accuracy_std": report.accuracy_std}


def errors_json(analysis: Analysis) -> dict[str, Any]:
    report = analysis.errors
    return {
        "data": analysis.data.summary(),
        "model": {"name": analysis.recipe.name, "ensemble": analysis.config.ensemble},
        "base": base_json(analysis),
        "confusion": report.confusion.tolist(),
        "groups": [
            {"true": g.true, "pred": g.pred, "count": g.count, "test_indices": list(g.test_indices)} for g in report.groups
        ],
    }


def attribution_json(analysis: Analysis, result: Attribution, started: float) -> dict[str, Any]:
    effect = result.effect
    group_effect_json = None
    if effect is not None:
        group_effect_json = {
            "train_indices": list(effect.train_indices),
            "delta_mean": effect.delta_mean,
            "delta_std": effect.delta_std,
            "p_value": effect.p_value,
            "accuracy_delta_mean": effect.accuracy_delta_mean,
            "accuracy_delta_std": effect.accuracy_delta_std,
            "per_test": [
                {"test_index": t.test_index, "before_mean": t.before_mean, "after_mean": t.after_mean,
                 "delta_mean": t.delta_mean, "delta_std": t.delta_std}
                for t in effect.per_test
            ],
        }
    data = analysis.data
    ranking_rows = result.ranking.records()
    if data.kind == "tabular":
        for row in ranking_rows:
            row["train_id"] = data.train_id(row["train_index"])
    return {
        "data": data.summary(),
        "model": {"name": analysis.recipe.name, "ensemble": analysis.config.ensemble},
        "base": base_json(analysis),
        "group": {"true": result.group.true, "pred": result.group.pred, "test_indices": list(result.group.test_indices)},
        "action": result.ranking.action,
        "metric": result.ranking.metric,
        "size": result.size,
        "alpha": result.alpha,
        "ranking": ranking_rows,
        "selected": list(result.selected),
        "group_effect": group_effect_json,
        "estimates": None if result.ranking.estimates is None else {
            "method": result.ranking.estimates.method,
            "candidates": analysis.config.candidates,
            "retrained": len(result.ranking.estimates.retrained),
            "spearman": result.ranking.estimates.spearman,
            "values": result.ranking.estimates.records(),
        },
        "timing": {
            "seconds": time.perf_counter() - started,
            "retrains": analysis.engine.stats.retrains,
            "cache_hits": analysis.engine.stats.cache_hits,
        },
    }

