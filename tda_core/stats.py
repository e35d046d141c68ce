"""Paired statistics over ensemble members, and the reliability of a ranking.

Definitions in shared/DESIGN.md: a delta is paired member by member; the p-value is a
one-sample t-test of the deltas of *independent* members (seeds) against 0; the reliability of
a ranking is the Spearman-Brown prediction from the mean rank correlation between members.
Members that are checkpoints of one run are averaged per run before any test, so they never
pass for independent evidence.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PairedStats:
    """Mean over members, and std (ddof=1) and p-value over independent runs, per column.

    ``p_value`` is NaN where it does not apply: a deterministic model, or a single run.
    """

    mean: np.ndarray
    std: np.ndarray
    p_value: np.ndarray


def run_means(deltas: np.ndarray, runs: np.ndarray | None) -> np.ndarray:
    """Deltas (M, ...) averaged over the members of each run (members sharing a seed)."""
    deltas = np.asarray(deltas, dtype=np.float64)
    if runs is None:
        return deltas
    runs = np.asarray(runs)
    unique = list(dict.fromkeys(runs.tolist()))
    if len(unique) == len(runs):
        return deltas
    return np.stack([deltas[runs == r].mean(axis=0) for r in unique])


def paired_stats(deltas: np.ndarray, runs: np.ndarray | None = None, deterministic: bool = False) -> PairedStats:
    """Statistics of paired deltas (M, ...) over axis 0, the members.

    ``runs`` gives each member's run (seed); members of one run are averaged first.
    ``deterministic``: the members are one exact model, so the std is 0 and no p-value applies.
    """
    deltas = np.asarray(deltas, dtype=np.float64)
    mean = deltas.mean(axis=0)
    independent = run_means(deltas, runs)
    if deterministic or independent.shape[0] < 2:
        nan = np.full_like(mean, np.nan)
        return PairedStats(mean, np.zeros_like(mean) if deterministic else nan, nan)
    std = independent.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # zero spread: handled below
        p = np.asarray(stats.ttest_1samp(independent, 0.0, axis=0).pvalue, dtype=np.float64)
    # Identical non-deterministic members with a zero delta: nothing moved, p = 1.
    p = np.where(np.all(independent == 0, axis=0), 1.0, p)
    return PairedStats(mean, std, np.where(np.isnan(p) & (std == 0) & (mean != 0), 0.0, p))


def spearman_brown(r: float, k: int) -> float:
    """The reliability of the mean of ``k`` measurements whose pairwise correlation is ``r``.

    A negative mean correlation means the members share no signal at all: it counts as 0
    (the formula itself is meaningless there, and divides by zero at r = -1/(k-1))."""
    r = min(max(r, 0.0), 1.0)
    return k * r / (1.0 + (k - 1) * r)


def reliability(deltas: np.ndarray, runs: np.ndarray | None = None, deterministic: bool = False) -> float | None:
    """How well this ranking would agree with one from an independent ensemble of the same size.

    ``deltas`` (M, N): each member's delta for each ranked sample. ``r`` is the mean Spearman
    correlation over all pairs of independent runs, and the result ``E*r / (1 + (E-1)*r)``.
    1 for a deterministic model; None with fewer than two independent runs or samples.
    """
    if deterministic:
        return 1.0
    independent = run_means(deltas, runs)
    if independent.shape[0] < 2 or independent.shape[1] < 3:
        return None
    rhos = []
    for a, b in itertools.combinations(range(independent.shape[0]), 2):
        rho = stats.spearmanr(independent[a], independent[b]).statistic
        rhos.append(float(rho) if np.isfinite(rho) else 0.0)
    return float(spearman_brown(float(np.mean(rhos)), independent.shape[0]))


def rank_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two score vectors over the same samples (0 where undefined)."""
    rho = stats.spearmanr(a, b).statistic
    return float(rho) if np.isfinite(rho) else 0.0


LOW_RELIABILITY = 0.5


def reliability_verdict(value: float | None) -> str:
    """The reliability in plain words, with what to do when it is low."""
    if value is None:
        return "unknown: it needs at least two independent members (seeds)"
    if value >= 0.9:
        return "high: a retrained ensemble would rank these samples almost the same way"
    if value >= LOW_RELIABILITY:
        return "moderate: the top of the ranking is meaningful, single positions are not"
    return (
        "low: single-sample effects are mostly training noise here; use more members, head mode, "
        "a larger group, or rank candidate groups instead of single samples"
    )
