"""Paired statistics and the reliability of a ranking, against their definitions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from tda_core.stats import paired_stats, rank_agreement, reliability, reliability_verdict, run_means, spearman_brown


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


def test_reliability_is_spearman_brown_of_the_mean_member_correlation():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=200)
    deltas = signal + rng.normal(scale=1.0, size=(3, 200))
    pairs = [sps.spearmanr(deltas[a], deltas[b]).statistic for a, b in ((0, 1), (0, 2), (1, 2))]
    r = float(np.mean(pairs))
    assert reliability(deltas) == pytest.approx(3 * r / (1 + 2 * r))
    assert spearman_brown(0.5, 3) == pytest.approx(0.75)
    assert reliability(deltas, deterministic=True) == 1.0


def test_reliability_predicts_the_agreement_of_independent_ensembles():
    """Two ensembles of three noisy members each: their mean rankings agree about as well as
    each one's reliability says (the definition's promise, on synthetic data)."""
    rng = np.random.default_rng(1)
    signal = rng.normal(size=500)
    for noise in (0.5, 1.5, 4.0):
        a = signal + rng.normal(scale=noise, size=(3, 500))
        b = signal + rng.normal(scale=noise, size=(3, 500))
        measured = rank_agreement(a.mean(axis=0), b.mean(axis=0))
        assert abs(reliability(a) - measured) < 0.1, (noise, reliability(a), measured)


def test_the_verdict_says_what_to_do_when_reliability_is_low():
    assert "training noise" in reliability_verdict(0.2)
    assert "head mode" in reliability_verdict(0.2)
    assert reliability_verdict(0.95).startswith("high")
    assert reliability_verdict(None).startswith("unknown")


def test_members_that_disagree_have_reliability_zero_not_below():
    a = np.arange(10.0)
    deltas = np.stack([a, -a])  # perfectly anti-correlated: r = -1
    assert reliability(deltas) == 0.0
    assert spearman_brown(-0.6, 2) == 0.0
