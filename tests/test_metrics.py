"""Metrics: values against hand-computed numbers, direction, gradients, choosing by name."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tda_core._exceptions import UsageError
from tda_core._metrics import METRIC_LABELS, METRICS, Metric, accuracy, get_metric

PROBA = np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5], [0.1, 0.6, 0.3]])
Y_TRUE = np.array([0, 1, 2])
Y_PRED = np.array([0, 2, 1])


def test_loss_is_minus_log_of_the_true_class_probability():
    np.testing.assert_allclose(METRICS["loss"].values(PROBA, Y_TRUE, Y_PRED), [-math.log(0.7), math.log(4), -math.log(0.3)], rtol=1e-15)


def test_loss_of_a_tiny_probability_stays_exact():
    """1e-200 is not clipped at 1e-12 (which would give 27.6): the loss is 200 ln 10."""
    proba = np.array([[1.0 - 1e-200, 1e-200], [1.0, 0.0]])
    loss = METRICS["loss"].values(proba, np.array([1, 1]), np.array([0, 0]))
    assert loss[0] == pytest.approx(200 * math.log(10), rel=1e-14)  # 460.517...
    # An exact zero is clipped only at the smallest positive float64: finite, -log(2.2e-308).
    assert loss[1] == pytest.approx(-math.log(np.finfo(np.float64).tiny), rel=1e-14)
    assert np.isfinite(loss[1]) and loss[1] > 708


def test_class_probabilities_pick_the_true_or_the_predicted_class():
    np.testing.assert_array_equal(METRICS["gt_prob"].values(PROBA, Y_TRUE, Y_PRED), [0.7, 0.25, 0.3])
    np.testing.assert_array_equal(METRICS["pred_prob"].values(PROBA, Y_TRUE, Y_PRED), [0.7, 0.5, 0.6])


def test_values_of_many_members_at_once():
    members = np.stack([PROBA, PROBA[:, ::-1]])  # (2, 3, 3)
    got = METRICS["gt_prob"].values(members, Y_TRUE, Y_PRED)
    assert got.shape == (2, 3)
    np.testing.assert_array_equal(got, [[0.7, 0.25, 0.3], [0.1, 0.25, 0.1]])


def test_signs_labels_and_names():
    assert [METRICS[m].sign for m in ("loss", "gt_prob", "pred_prob")] == [-1.0, 1.0, -1.0]
    assert METRIC_LABELS == {"loss": "test loss", "gt_prob": "true-class probability", "pred_prob": "predicted-class probability"}
    for name, metric in METRICS.items():
        assert get_metric(name) is metric and get_metric(metric) is metric and isinstance(metric, Metric)
    with pytest.raises(UsageError, match="unknown metric 'accuracy': choose one of loss, gt_prob, pred_prob"):
        get_metric("accuracy")


@pytest.mark.parametrize("name", list(METRICS))
def test_logit_gradient_matches_finite_differences(name):
    metric = METRICS[name]
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(4, 3))
    y_true, y_pred = np.array([0, 1, 2, 2]), np.array([1, 1, 0, 2])

    def values(z):
        p = np.exp(z - z.max(axis=1, keepdims=True))
        return metric.values(p / p.sum(axis=1, keepdims=True), y_true, y_pred)

    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    got = metric.logit_gradient(p, y_true, y_pred)
    h = 1e-6
    expected = np.zeros_like(logits)
    for c in range(3):
        step = np.zeros_like(logits)
        step[:, c] = h
        expected[:, c] = (values(logits + step) - values(logits - step)) / (2 * h)
    np.testing.assert_allclose(got, expected, atol=1e-8)


def test_accuracy_per_member():
    members = np.stack([PROBA, np.eye(3)[Y_TRUE] * 0.9 + 0.05])  # member 0: 1 of 3 right, member 1: all right
    np.testing.assert_allclose(accuracy(members, Y_TRUE), [1 / 3, 1.0])
    assert accuracy(PROBA, Y_TRUE) == pytest.approx(1 / 3)
