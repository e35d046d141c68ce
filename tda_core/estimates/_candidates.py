"""Candidate mode for large data: estimate every sample, retrain only the promising ones.

The top ``n`` samples by estimated improvement, plus a random sample of the rest (so the
estimate's quality is checked beyond its own favourites), are retrained exactly. The Spearman
correlation between estimate and retrained effect on those samples is reported with them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .._actions import TRAINING, Subject
from .._exceptions import UsageError
from .._metrics import Metric


@dataclass(frozen=True)
class Estimates:
    """Estimated effects of every training sample (pool sample for add), and how well they matched
    retraining."""

    method: str
    index: np.ndarray  # all training samples (pool samples for add), best estimated improvement first
    estimate: np.ndarray  # estimated delta of the metric (same sign convention as delta_mean)
    retrained: tuple[int, ...]  # the samples that were then retrained
    spearman: float  # between estimate and retrained delta_mean, over the retrained samples

    def records(self, subject: Subject = TRAINING) -> list[dict]:
        """One row per sample, keyed by what the samples are (``subject``: pool samples for add)."""
        done = set(self.retrained)
        return [{subject.index_key: int(i), "estimate": float(e), "retrained": int(i) in done} for i, e in zip(self.index, self.estimate)]


def random_extra(n_top: int) -> int:
    """How many samples outside the top are retrained as a check of the estimate."""
    return max(10, n_top // 4)


def estimate_order(estimate: np.ndarray, metric: Metric) -> np.ndarray:
    """Training indices by estimated improvement, best first (ties by index)."""
    return np.lexsort((np.arange(len(estimate)), -metric.sign * estimate))


def choose_candidates(estimate: np.ndarray, metric: Metric, n_top: int, seed: int) -> np.ndarray:
    """The top ``n_top`` by estimated improvement plus a seeded random sample of the rest."""
    if n_top < 1:
        raise UsageError(f"the number of candidates must be at least 1, not {n_top}")
    order = estimate_order(estimate, metric)
    top, rest = order[:n_top], order[n_top:]
    extra = np.random.default_rng(seed).choice(rest, size=min(len(rest), random_extra(n_top)), replace=False) if len(rest) else rest
    return np.sort(np.concatenate([top, extra]))


def summarize(method: str, estimate: np.ndarray, metric: Metric, retrained: np.ndarray, retrained_delta: np.ndarray) -> Estimates:
    """The estimates in ranking order, with their agreement with the retrained deltas
    (``retrained_delta[k]`` belongs to training sample ``retrained[k]``)."""
    order = estimate_order(estimate, metric)
    rho = agreement(estimate[retrained], retrained_delta)
    return Estimates(method, order, estimate[order], tuple(int(i) for i in retrained), rho)


def agreement(estimate: np.ndarray, retrained_delta: np.ndarray) -> float:
    """Spearman correlation, 0 where it is undefined (constant inputs)."""
    if len(estimate) < 3:
        return float("nan")
    rho = stats.spearmanr(estimate, retrained_delta).statistic
    return float(rho) if np.isfinite(rho) else 0.0
