"""Paired statistics and the reliability of a ranking, against their definitions."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy import stats as sps

from tda_core._stats import (
    INTERVAL_LEVEL,
    Reliability,
    mean_pair_reliability,
    paired_stats,
    rank_agreement,
    reliability,
    reliability_estimate,
    reliability_verdict,
    run_means,
    spearman_brown,
    split_correlation,
)


def test_paired_stats_follow_the_definitions():
    deltas = np.array([[0.1, 0.0, -0.2], [0.3, 0.0, -0.1], [0.2, 0.0, -0.3]])
    result = paired_stats(deltas)
    np.testing.assert_allclose(result.mean, [0.2, 0.0, -0.2])
    np.testing.assert_allclose(result.std, [0.1, 0.0, 0.1], atol=1e-12)
    assert result.p_value[0] == pytest.approx(sps.ttest_1samp([0.1, 0.3, 0.2], 0.0).pvalue)
    assert result.p_value[2] == pytest.approx(sps.ttest_1samp([-0.2, -0.1, -0.3], 0.0).pvalue)
    assert result.p_value[1] == 1.0  # nothing moved in any member


def test_deterministic_models_have_no_spread_and_no_p_value():
    result = paired_stats(np.array([[0.5, -0.25]]), deterministic=True)
    np.testing.assert_array_equal(result.mean, [0.5, -0.25])
    np.testing.assert_array_equal(result.std, [0.0, 0.0])
    assert np.isnan(result.p_value).all()


def test_checkpoints_of_one_run_are_averaged_before_any_test():
    # Three checkpoints of run 0 and three of run 1: two independent values per column.
    deltas = np.array([[1.0], [2.0], [3.0], [5.0], [6.0], [7.0]])
    runs = np.array([0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(run_means(deltas, runs), [[2.0], [6.0]])
    result = paired_stats(deltas, runs)
    assert result.mean[0] == pytest.approx(4.0)
    assert result.std[0] == pytest.approx(np.std([2.0, 6.0], ddof=1))
    assert result.p_value[0] == pytest.approx(sps.ttest_1samp([2.0, 6.0], 0.0).pvalue)
    # A single run gives no p-value and no reliability: its checkpoints are not independent.
    single = paired_stats(deltas[:3], runs[:3])
    assert np.isnan(single.p_value).all()
    assert reliability(np.random.default_rng(0).normal(size=(3, 20)), np.zeros(3)) is None


def test_reliability_is_split_half_with_a_jackknife_over_members():
    """Three members, by hand: each member against the mean of the other two (the pairwise
    correlation each split implies, stepped to three members), then the jackknife over members."""
    rng = np.random.default_rng(0)
    signal = rng.normal(size=200)
    deltas = signal + rng.normal(scale=1.0, size=(3, 200))

    def sb(r, k):
        return k * r / (1 + (k - 1) * r)

    split_r = []
    for m in range(3):
        rho = sps.spearmanr(deltas[m], np.delete(deltas, m, axis=0).mean(axis=0)).statistic
        r = split_correlation(rho, 1, 2)
        assert np.sqrt(r * sb(r, 2)) == pytest.approx(rho)  # the correlation of a mean of 1 with a mean of 2
        split_r.append(r)
    full = sb(np.mean(split_r), 3)
    loo = np.array([sb(sps.spearmanr(*np.delete(deltas, m, axis=0)).statistic, 3) for m in range(3)])
    point = 3 * full - 2 * loo.mean()
    half = sps.t.ppf(0.5 + INTERVAL_LEVEL / 2, 2) * np.sqrt(2) * np.sqrt(2 / 3 * np.sum((loo - loo.mean()) ** 2))
    got = reliability_estimate(deltas)
    assert got.value == pytest.approx(point) and reliability(deltas) == got.value
    assert got.interval == pytest.approx((point - half, point + half))
    assert got.members == 3 and got.to_json() == {"reliability": got.value, "reliability_interval": list(got.interval)}
    assert spearman_brown(0.5, 3) == pytest.approx(0.75)
    assert reliability_estimate(deltas, deterministic=True) == Reliability(1.0, 1.0, 1.0, 1)
    two = reliability_estimate(deltas[:2])  # two members: a point, but no spread to give an interval
    assert two.value == pytest.approx(sb(sps.spearmanr(deltas[0], deltas[1]).statistic, 2)) and two.interval is None


def test_reliability_predicts_the_agreement_of_independent_ensembles():
    """Two ensembles of noisy members each: their mean rankings agree about as well as each
    one's reliability says (the definition's promise, on synthetic data), and the rerun's
    agreement falls inside the interval in most trials."""
    rng = np.random.default_rng(1)
    signal = rng.normal(size=500)
    inside = trials = 0
    for noise in (0.5, 1.5, 4.0):
        for members in (3, 5):
            for _ in range(4):
                a = signal + rng.normal(scale=noise, size=(members, 500))
                b = signal + rng.normal(scale=noise, size=(members, 500))
                measured = rank_agreement(a.mean(axis=0), b.mean(axis=0))
                got = reliability_estimate(a)
                assert abs(got.value - measured) < 0.15, (noise, members, got, measured)
                inside += got.low <= measured <= got.high
                trials += 1
    assert inside >= 0.75 * trials, (inside, trials)


def test_a_member_with_wilder_deltas_does_not_inflate_the_reliability():
    """One member in three with heavy-tailed deltas ten times wider dominates the ensemble's mean,
    so a rerun agrees much less than the members' pairwise rank correlations promise. The former
    estimate (Spearman-Brown of the mean pairwise correlation) reported about twice the agreement;
    the split-half of the ranked means does not, and its interval is wide."""
    rng = np.random.default_rng(3)
    scales = np.array([0.3, 0.6, 3.0])[:, None]
    for _ in range(3):
        signal = rng.normal(size=400)
        a = signal + scales * rng.standard_t(3, size=(3, 400))
        b = signal + scales * rng.standard_t(3, size=(3, 400))
        measured = rank_agreement(a.mean(axis=0), b.mean(axis=0))
        got = reliability_estimate(a)
        assert mean_pair_reliability(a) - measured > 0.2  # the former estimate over-reports
        assert abs(got.value - measured) < 0.15 and got.low <= measured <= got.high, (got, measured)
        assert got.high - got.low > 0.5 and not reliability_verdict(got).startswith(("high", "moderate"))


def test_the_verdict_says_what_to_do_when_reliability_is_low():
    assert "training noise" in reliability_verdict(0.2)
    assert "head mode" in reliability_verdict(0.2)
    assert reliability_verdict(0.95).startswith("high")
    assert reliability_verdict(None).startswith("unknown")


def test_the_verdict_follows_the_interval_low_end():
    """A wide interval is never called high: the words follow its low end."""
    assert reliability_verdict(0.95, (0.91, 0.99)).startswith("high")
    assert reliability_verdict(0.95, (0.6, 1.0)).startswith("moderate")
    uncertain = reliability_verdict(Reliability(0.7, 0.3, 1.0, 3))
    assert uncertain.startswith("uncertain") and "0.30" in uncertain and "--ensemble auto" in uncertain
    assert reliability_verdict(Reliability(0.3, 0.1, 0.5, 3)).startswith("low")
    assert reliability_verdict(Reliability(1.0, 1.0, 1.0, 1)).startswith("high")


def test_members_that_disagree_have_reliability_zero_not_below():
    a = np.arange(10.0)
    deltas = np.stack([a, -a])  # perfectly anti-correlated: r = -1
    assert reliability(deltas) == 0.0
    assert spearman_brown(-0.6, 2) == 0.0


def test_the_former_estimate_equals_spearman_brown_of_every_pair_by_hand():
    """mean_pair_reliability's one vectorised call against scipy's spearmanr pair by pair (a
    constant run's pairs count 0)."""
    rng = np.random.default_rng(4)
    for k in (2, 3, 6):
        deltas = rng.normal(size=(k, 40)) + rng.normal(size=40)
        if k == 6:
            deltas[2] = 0.5  # constant: no correlation defined
        rhos = []
        for a, b in itertools.combinations(range(k), 2):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rho = sps.spearmanr(deltas[a], deltas[b]).statistic
            rhos.append(rho if np.isfinite(rho) else 0.0)
        mean = float(np.mean(rhos))
        assert mean_pair_reliability(deltas) == pytest.approx(k * mean / (1 + (k - 1) * mean), abs=1e-12)
