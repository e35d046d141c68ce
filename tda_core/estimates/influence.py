"""Influence-function estimates of single-sample effects for multinomial linear models.

Used only to choose which samples to retrain in candidate mode: every number shown for a
retrained sample comes from retraining, and the estimates are reported with their Spearman
correlation to those retrained effects.

The training objective is (1/n) sum_i w_i l_i(theta) + alpha/2 |theta|^2. Changing sample i's
weight on label k by dw moves the optimum by approx. -dw/n H^-1 grad l_i(k); an action is a
sum of such terms (:attr:`tda_core.actions.Action.gradient_terms`). The metric's change is its
gradient dotted with that move.
"""

from __future__ import annotations

import numpy as np

from ..actions import Action
from ..metrics import Metric


def softmax_rows(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits (N, C)."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def action_residuals(action: Action, proba: np.ndarray, labels: np.ndarray, new_labels: np.ndarray | None) -> np.ndarray:
    """Per training row, minus the action's change of the loss gradient w.r.t. the logits (N, C):
    ``-sum_k dw_k (p - onehot(label_k))``. Dotted with ``X H^-1 g_metric / n`` it gives the
    estimated change of the metric."""
    eye = np.eye(proba.shape[1])
    change = np.zeros_like(proba)
    for which, dw in action.gradient_terms:
        target = labels if which == "old" else np.asarray(new_labels)
        change -= dw * (proba - eye[target])
    return change


def metric_gradient(X_test: np.ndarray, proba_test: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, metric: Metric) -> np.ndarray:
    """Gradient of the mean metric over the test rows w.r.t. theta (D, C)."""
    return X_test.T @ metric.logit_gradient(proba_test, y_true, y_pred) / len(X_test)


def hessian(X: np.ndarray, proba: np.ndarray, weights: np.ndarray, alpha: float) -> np.ndarray:
    """Hessian of the weighted mean cross-entropy plus the L2 term, (D*C, D*C)."""
    n, d = X.shape
    c = proba.shape[1]
    # Per-row curvature of the softmax: diag(p) - p p^T, (N, C, C).
    curvature = proba[:, :, None] * (np.eye(c)[None] - proba[:, None, :])
    h = np.einsum("n,ni,nj,nab->iajb", weights, X, X, curvature).reshape(d * c, d * c) / n
    return h + alpha * np.eye(d * c)


def influence_estimates(
    X: np.ndarray,
    y: np.ndarray,
    theta: np.ndarray,
    alpha: float,
    action: Action,
    new_labels: np.ndarray | None,
    X_test: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    metric: Metric,
    X_rows: np.ndarray | None = None,
    y_rows: np.ndarray | None = None,
) -> np.ndarray:
    """Estimated change of the mean metric when the action is applied to each training row, or
    to each of ``X_rows``/``y_rows`` (pool rows for ``add``: their gradient terms, the training
    rows' Hessian)."""
    n, d = X.shape
    c = theta.shape[1]
    proba = softmax_rows(X @ theta)
    H = hessian(X, proba, np.ones(n), alpha)
    g_metric = metric_gradient(X_test, softmax_rows(X_test @ theta), y_true, y_pred, metric)
    direction = np.linalg.solve(H, g_metric.reshape(-1)).reshape(d, c)  # H^-1 grad metric, shared
    if X_rows is not None:
        X, y, proba = X_rows, y_rows, softmax_rows(X_rows @ theta)
    return np.einsum("nc,nc->n", action_residuals(action, proba, y, new_labels), X @ direction) / n
