"""Influence-function estimates for linear models: each piece against finite differences, and
the estimates against exact refits of a strongly convex model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from tda_core._actions import ACTIONS
from tda_core._metrics import METRICS
from tda_core.estimates._influence import action_residuals, hessian, influence_estimates, metric_gradient, softmax_rows

ALPHA = 0.05


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    n, d, c = 120, 3, 3
    X = np.hstack([rng.normal(size=(n, d - 1)), np.ones((n, 1))])
    true = rng.normal(size=(d, c)) * 1.5
    y = np.array([rng.choice(c, p=p) for p in softmax_rows(X @ true)])
    X_test = np.hstack([rng.normal(size=(8, d - 1)), np.ones((8, 1))])
    return X, y, X_test, rng.integers(0, c, 8)


def objective(theta_flat, X, y, w, d, c):
    """(1/n) sum_i w_i ce_i + alpha/2 |theta|^2 and its gradient: the objective of the estimates."""
    theta = theta_flat.reshape(d, c)
    p = softmax_rows(X @ theta)
    n = len(X)
    loss = -(w * np.log(p[np.arange(n), y])).sum() / n + ALPHA / 2 * (theta**2).sum()
    grad = X.T @ (w[:, None] * (p - np.eye(c)[y])) / n + ALPHA * theta
    return loss, grad.ravel()


def fit(X, y, w, c):
    d = X.shape[1]
    res = minimize(objective, np.zeros(d * c), args=(X, y, w, d, c), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-13, "ftol": 1e-15, "maxiter": 10_000})
    return res.x.reshape(d, c)


def test_softmax_rows():
    p = softmax_rows(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0], [-1000.0, 0.0]]))
    np.testing.assert_allclose(p, [[0.25, 0.75], [0.5, 0.5], [0.0, 1.0]], atol=1e-15)


def test_hessian_matches_finite_differences_of_the_gradient(problem):
    X, y, _, _ = problem
    d, c = X.shape[1], 3
    theta = np.random.default_rng(1).normal(size=(d, c))
    w = np.random.default_rng(2).uniform(0.5, 2.0, size=len(X))
    H = hessian(X, softmax_rows(X @ theta), w, ALPHA)
    h = 1e-6
    numeric = np.zeros((d * c, d * c))
    for k in range(d * c):
        step = np.zeros(d * c)
        step[k] = h
        numeric[:, k] = (objective(theta.ravel() + step, X, y, w, d, c)[1] - objective(theta.ravel() - step, X, y, w, d, c)[1]) / (2 * h)
    np.testing.assert_allclose(H, numeric, atol=1e-7)
    np.testing.assert_allclose(H, H.T, atol=1e-15)


@pytest.mark.parametrize("name", list(METRICS))
def test_metric_gradient_matches_finite_differences(problem, name):
    _, _, X_test, y_true = problem
    metric = METRICS[name]
    d, c = X_test.shape[1], 3
    theta = np.random.default_rng(3).normal(size=(d, c))
    y_pred = np.argmax(X_test @ theta, axis=1)

    def mean_metric(t):
        return metric.values(softmax_rows(X_test @ t.reshape(d, c)), y_true, y_pred).mean()

    g = metric_gradient(X_test, softmax_rows(X_test @ theta), y_true, y_pred, metric)
    h = 1e-6
    numeric = np.array([(mean_metric(theta.ravel() + h * e) - mean_metric(theta.ravel() - h * e)) / (2 * h) for e in np.eye(d * c)])
    np.testing.assert_allclose(g.ravel(), numeric, atol=1e-8)


def test_action_residuals_by_hand():
    p = np.array([[0.5, 0.3, 0.2]])
    labels, new = np.array([0]), np.array([2])
    r = p - np.eye(3)[0]  # the gradient of the sample's loss w.r.t. its logits: [-0.5, 0.3, 0.2]
    np.testing.assert_allclose(action_residuals(ACTIONS["remove"], p, labels, None), r)  # -(-1) * r
    np.testing.assert_allclose(action_residuals(ACTIONS["upweight"], p, labels, None), -9 * r)
    np.testing.assert_allclose(action_residuals(ACTIONS["relabel"], p, labels, new), r - (p - np.eye(3)[2]))
    np.testing.assert_allclose(action_residuals(ACTIONS["relabel"], p, labels, new), [[-1.0, 0.0, 1.0]])


@pytest.mark.parametrize("action, metric", [("remove", "loss"), ("relabel", "gt_prob"), ("upweight", "pred_prob")])
def test_estimates_predict_exact_refits(problem, action, metric):
    """Refit the strongly convex model to convergence after each edit; the first-order estimate
    must track the true change of the mean metric (sign, order and size)."""
    X, y, X_test, y_true = problem
    c = 3
    n = len(X)
    theta = fit(X, y, np.ones(n), c)
    y_pred = np.argmax(X_test @ theta, axis=1)
    new_labels = (y + 1) % c
    act, met = ACTIONS[action], METRICS[metric]
    estimate = influence_estimates(X, y, theta, ALPHA, act, new_labels, X_test, y_true, y_pred, met)
    assert estimate.shape == (n,)

    def mean_metric(t):
        return met.values(softmax_rows(X_test @ t), y_true, y_pred).mean()

    base = mean_metric(theta)
    checked = np.argsort(np.abs(estimate))[::-1][:15]  # the largest estimated effects
    exact = []
    for i in checked:
        labels, w = act.edit([i], new_labels).apply(y, np.ones(n))
        exact.append(mean_metric(fit(X, labels, w, c)) - base)
    exact = np.array(exact)
    assert np.all(np.sign(exact) == np.sign(estimate[checked]))
    assert np.corrcoef(exact, estimate[checked])[0, 1] > 0.98  # measured 0.994-0.999
    # Median relative error, measured 0.021, 0.025, 0.21: the x10 upweight is furthest from first order.
    tolerance = {"remove": 0.05, "relabel": 0.06, "upweight": 0.3}[action]
    assert np.median(np.abs(estimate[checked] - exact) / np.abs(exact)) < tolerance


def test_add_estimates_predict_exact_refits_with_the_row_appended(problem):
    """Adding pool rows: their gradient terms with the training rows' Hessian track exact refits
    on the training rows plus the pool row; a pool row that duplicates a training row is that
    row's weight going up by one (a ninth of the x10 upweight's estimate)."""
    X, y, X_test, y_true = problem
    c, n = 3, len(X)
    rng = np.random.default_rng(5)
    X_pool = np.hstack([rng.normal(size=(20, X.shape[1] - 1)) * 1.5, np.ones((20, 1))])
    y_pool = rng.integers(0, c, 20)
    theta = fit(X, y, np.ones(n), c)
    y_pred = np.argmax(X_test @ theta, axis=1)
    met = METRICS["loss"]
    estimate = influence_estimates(X, y, theta, ALPHA, ACTIONS["add"], None, X_test, y_true, y_pred, met, X_pool, y_pool)
    assert estimate.shape == (20,)

    def mean_metric(t):
        return met.values(softmax_rows(X_test @ t), y_true, y_pred).mean()

    base = mean_metric(theta)
    # The refit's objective divides by the n + 1 rows it has; the estimate's by n: compare the
    # refit of the training rows plus the pool row, weighted so that the average stays over n.
    exact = np.array([mean_metric(fit(np.vstack([X, X_pool[j]]), np.append(y, y_pool[j]), np.append(np.ones(n), 1.0) * (n + 1) / n, c))
                      - base for j in range(20)])
    assert np.all(np.sign(exact) == np.sign(estimate))
    assert np.corrcoef(exact, estimate)[0, 1] > 0.98  # measured 0.998
    assert np.median(np.abs(estimate - exact) / np.abs(exact)) < 0.15  # measured 0.079
    duplicate = influence_estimates(X, y, theta, ALPHA, ACTIONS["add"], None, X_test, y_true, y_pred, met, X[:5], y[:5])
    upweighted = influence_estimates(X, y, theta, ALPHA, ACTIONS["upweight"], None, X_test, y_true, y_pred, met)[:5]
    np.testing.assert_allclose(duplicate, upweighted / 9, rtol=1e-12)
