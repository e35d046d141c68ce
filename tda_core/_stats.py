"""Paired statistics over ensemble members, and the reliability of a ranking.

Definitions in shared/DESIGN.md: a delta is paired member by member; the p-value is a
one-sample t-test of the deltas of *independent* members (seeds) against 0; the reliability of
a ranking is the expected Spearman correlation with the ranking of an independent ensemble of the
same size, estimated split-half with a jackknife over members, and given with an interval
(:func:`reliability_estimate`).
Members that are checkpoints of one run are averaged per run before any test, so they never
pass for independent evidence.
"""

from __future__ import annotations

import hashlib
import itertools
import warnings
from collections.abc import Sequence
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


def pairwise_correlation(reliability_value: float, k: int) -> float:
    """The inverse of :func:`spearman_brown`: the pairwise correlation ``r`` whose mean of ``k``
    measurements has this reliability."""
    value = min(max(reliability_value, 0.0), 1.0)
    return 1.0 if value >= 1.0 else value / (k - (k - 1) * value)


def split_correlation(rho: float, a: int, b: int) -> float:
    """The pairwise correlation ``r`` under which the means of ``a`` and of ``b`` members
    correlate at ``rho``: ``rho**2 = SB(r, a) * SB(r, b)``, solved for r (monotone, closed form)."""
    rho = min(max(rho, 0.0), 1.0)
    if rho >= 1.0 or a == b:
        return pairwise_correlation(rho, a)
    # SB(r, k) = k r / (1 + (k-1) r): rho^2 (1+(a-1)r)(1+(b-1)r) = a b r^2, a quadratic in r.
    q2 = a * b - rho**2 * (a - 1) * (b - 1)
    q1 = -(rho**2) * (a + b - 2)
    q0 = -(rho**2)
    return float(min(1.0, (-q1 + np.sqrt(q1 * q1 - 4 * q2 * q0)) / (2 * q2)))


#: How the reliability's point and interval are computed (validated against reruns:
#: bench/bench_reliability.py, and the table in README).
RELIABILITY_METHOD = "split-half of the ranked means, jackknife over members"
#: Balanced splits of the members used at most (a fixed, seeded choice beyond it).
MAX_SPLITS = 20
#: Ranked samples the estimate reads at most: beyond, a fixed random subset of this many (the
#: Spearman correlations then move by about 1/sqrt(50,000) = 0.004, far below the seeds' spread).
MAX_SAMPLES = 50_000
#: The two-sided level of the interval.
INTERVAL_LEVEL = 0.9


@dataclass(frozen=True)
class Reliability:
    """A ranking's reliability: the expected Spearman correlation between its ranking and one from
    an independent ensemble of the same size, with an interval that a rerun's correlation falls
    into (``low``, ``high``; None where it cannot be estimated: fewer than three independent
    members). ``members`` counts the independent runs it is estimated from."""

    value: float | None
    low: float | None
    high: float | None
    members: int
    method: str = RELIABILITY_METHOD

    @property
    def interval(self) -> tuple[float, float] | None:
        return None if self.low is None or self.high is None else (self.low, self.high)

    @property
    def lower(self) -> float | None:
        """What a verdict may rely on: the interval's low end, or the point where there is no interval."""
        return self.value if self.low is None else self.low

    def to_json(self) -> dict:
        return {"reliability": self.value, "reliability_interval": None if self.interval is None else list(self.interval)}


UNKNOWN = Reliability(None, None, None, 0)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis, centred and scaled to unit norm (for Pearson = dot)."""
    r = stats.rankdata(x, axis=-1)
    r = r - r.mean(axis=-1, keepdims=True)
    norm = np.sqrt((r * r).sum(axis=-1, keepdims=True))
    return np.divide(r, norm, out=np.zeros_like(r), where=norm > 0)


def _splits(k: int, rng: np.random.Generator) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Balanced splits of ``k`` members into two halves (sizes k//2 and k - k//2), each once;
    at most :data:`MAX_SPLITS`, chosen with ``rng`` beyond it."""
    half = k // 2
    found = []
    for first in itertools.combinations(range(k), half):
        second = tuple(i for i in range(k) if i not in first)
        if half * 2 == k and first > second:
            continue
        found.append((first, second))
    if len(found) > MAX_SPLITS:
        found = [found[i] for i in sorted(rng.choice(len(found), MAX_SPLITS, replace=False))]
    return found


def _split_half(x: np.ndarray, k: int, rng: np.random.Generator) -> float:
    """The reliability of ``k`` members from the members ``x`` (m, N): over balanced splits, the
    Spearman correlation of the two halves' mean deltas, turned into the pairwise correlation it
    implies (:func:`split_correlation`), averaged, and stepped to ``k`` members (Spearman-Brown).
    Correlating the means, not the members one by one, keeps what averaging does to a ranking
    when some members' deltas are wilder than others'."""
    rs = []
    for first, second in _splits(len(x), rng):
        a, b = _ranks(x[list(first)].mean(axis=0)), _ranks(x[list(second)].mean(axis=0))
        rs.append(split_correlation(float((a * b).sum()), len(first), len(second)))
    return spearman_brown(float(np.mean(rs)), k)


_MEMO: dict[bytes, Reliability] = {}
#: Estimates remembered (a ranking's point and its interval are asked for apart).
MEMO_SIZE = 16


def reliability_estimate(deltas: np.ndarray, runs: np.ndarray | None = None, deterministic: bool = False) -> Reliability:
    """How well this ranking would agree with one from an independent ensemble of the same size,
    with an interval (:class:`Reliability`).

    ``deltas`` (M, N): each member's delta for each ranked sample; members of one run are averaged
    first. The point is the split-half reliability (:func:`_split_half`) with the jackknife's bias
    correction over the E independent members, and the interval the point plus or minus a
    Student t quantile (E - 1 degrees of freedom) times the jackknife's standard error, widened by
    the square root of 2 for the spread of the rerun itself. Spearman-Brown over the mean pairwise
    correlation reported about twice the agreement a rerun showed for networks trained from
    scratch; this estimate is validated against reruns in bench/bench_reliability.py.
    1 for a deterministic model (interval [1, 1]); None with fewer than two independent runs or
    three samples; no interval with two runs.
    """
    if deterministic:
        return Reliability(1.0, 1.0, 1.0, 1)
    x = np.asarray(run_means(deltas, runs), dtype=np.float64)
    if x.ndim == 2:  # the samples in a canonical order: the same ranking in any order gives the same bits
        x = x[:, np.lexsort(x[::-1])]
        if x.shape[1] > MAX_SAMPLES:
            x = x[:, np.sort(np.random.default_rng(0).choice(x.shape[1], MAX_SAMPLES, replace=False))]
    x = np.ascontiguousarray(x)
    key = hashlib.blake2b(x.tobytes(), digest_size=16, person=str(x.shape).encode()[:16]).digest()
    if key not in _MEMO:
        if len(_MEMO) >= MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = _estimate(x)
    return _MEMO[key]


def _estimate(x: np.ndarray) -> Reliability:
    k = x.shape[0]
    if k < 2 or x.ndim < 2 or x.shape[1] < 3:
        return Reliability(None, None, None, k)
    rng = np.random.default_rng(0)
    full = _split_half(x, k, rng)
    if k < 3:
        return Reliability(float(full), None, None, k)
    loo = np.array([_split_half(np.delete(x, m, axis=0), k, rng) for m in range(k)])
    point = k * full - (k - 1) * loo.mean()
    se = float(np.sqrt((k - 1) / k * np.sum((loo - loo.mean()) ** 2)))
    half = float(stats.t.ppf(0.5 + INTERVAL_LEVEL / 2, k - 1)) * np.sqrt(2.0) * se
    value = float(min(max(point, 0.0), 1.0))
    return Reliability(value, float(max(-1.0, min(value, point - half))), float(min(1.0, max(value, point + half))), k)


def reliability(deltas: np.ndarray, runs: np.ndarray | None = None, deterministic: bool = False) -> float | None:
    """The point of :func:`reliability_estimate`: the expected Spearman correlation between this
    ranking and one from an independent ensemble of the same size (1 for a deterministic model;
    None with fewer than two independent runs or three samples)."""
    return reliability_estimate(deltas, runs, deterministic).value


def mean_pair_reliability(deltas: np.ndarray, runs: np.ndarray | None = None, deterministic: bool = False) -> float | None:
    """The former estimate, for comparison: Spearman-Brown of the mean Spearman correlation over
    all pairs of independent runs, ``E*r / (1 + (E-1)*r)``."""
    if deterministic:
        return 1.0
    independent = run_means(deltas, runs)
    if independent.shape[0] < 2 or independent.shape[1] < 3:
        return None
    k = independent.shape[0]
    # Spearman = Pearson of the ranks, for every pair at once; a constant run's pairs count 0
    # (spearmanr(axis=1) would make every pair NaN).
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.corrcoef(stats.rankdata(independent, axis=1))
    rhos = np.nan_to_num(matrix[np.triu_indices(k, 1)], nan=0.0)
    return float(spearman_brown(float(np.mean(rhos)), k))


def rank_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two score vectors over the same samples (0 where undefined)."""
    rho = stats.spearmanr(a, b).statistic
    return float(rho) if np.isfinite(rho) else 0.0


LOW_RELIABILITY = 0.5
HIGH_RELIABILITY = 0.9


def reliability_verdict(value: float | Reliability | None, interval: Sequence[float] | None = None) -> str:
    """The reliability in plain words, with what to do when it is low. The words follow the
    interval's low end where there is one (a :class:`Reliability`, or ``interval``), so a wide
    interval is never called high."""
    if isinstance(value, Reliability):
        estimate = value
        value, interval = estimate.value, estimate.interval
    if value is None:
        return "unknown: it needs at least two independent members (seeds)"
    low = value if interval is None else min(value, float(interval[0]))
    if low >= HIGH_RELIABILITY:
        return "high: a retrained ensemble would rank these samples almost the same way"
    if low >= LOW_RELIABILITY:
        return "moderate: the top of the ranking is meaningful, single positions are not"
    if value >= LOW_RELIABILITY:
        return (
            f"uncertain: {value:.2f} at best guess, but a rerun could agree as little as {low:.2f}; use more members "
            "(--ensemble auto), head mode, or rank candidate groups instead of single samples"
        )
    return (
        "low: single-sample effects are mostly training noise here; use more members, head mode, "
        "a larger group, or rank candidate groups instead of single samples"
    )
