"""Influence-function estimates of single-sample effects for multinomial linear models.

Used only to choose which samples to retrain in candidate mode (``--candidates N``): every
number shown for a retrained sample comes from retraining, and the estimates are reported
with their Spearman correlation to those retrained effects.

The training objective is (1/n) sum_i w_i l_i(theta) + alpha/2 |theta|^2. Changing sample i's
weight by dw moves the optimum by approx. -dw/n H^-1 grad l_i; relabelling replaces grad l_i by
the gradient under the new label. The metric's change is its gradient dotted with that move.
"""

from __future__ import annotations

import numpy as np

from .actions import UPWEIGHT_FACTOR


def _softmax_rows(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _per_sample_gradients(X: np.ndarray, proba: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Gradient of the cross-entropy of each row w.r.t. theta (D, C), flattened: (N, D*C)."""
    residual = proba - np.eye(proba.shape[1])[labels]
    return (X[:, :, None] * residual[:, None, :]).reshape(len(X), -1)


def hessian(X: np.ndarray, proba: np.ndarray, weights: np.ndarray, alpha: float) -> np.ndarray:
    """Hessian of the weighted mean cross-entropy plus the L2 term, (D*C, D*C)."""
    n, d = X.shape
    c = proba.shape[1]
    # Per-row curvature of the softmax: diag(p) - p p^T, (N, C, C).
    curvature = proba[:, :, None] * (np.eye(c)[None] - proba[:, None, :])
    h = np.einsum("n,ni,nj,nab->iajb", weights, X, X, curvature).reshape(d * c, d * c) / n
    return h + alpha * np.eye(d * c)


def metric_gradient(X_test: np.ndarray, proba_test: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, metric: str) -> np.ndarray:
    """Gradient of the mean metric over the chosen test rows w.r.t. theta, flattened (D*C,)."""
    c = proba_test.shape[1]
    rows = np.arange(len(X_test))
    if metric == "loss":
        residual = proba_test - np.eye(c)[y_true]
    else:
        k = y_true if metric == "gt_prob" else y_pred
        p_k = proba_test[rows, k][:, None]
        residual = p_k * (np.eye(c)[k] - proba_test)
    return (X_test[:, :, None] * residual[:, None, :]).reshape(len(X_test), -1).mean(axis=0)


def estimate_effects(
    X: np.ndarray,
    y: np.ndarray,
    theta: np.ndarray,
    alpha: float,
    action: str,
    new_labels: np.ndarray | None,
    X_test: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    metric: str,
) -> np.ndarray:
    """Estimated change of the mean metric when the action is applied to each training row."""
    n = len(X)
    proba = _softmax_rows(X @ theta)
    H = hessian(X, proba, np.ones(n), alpha)
    g_metric = metric_gradient(X_test, _softmax_rows(X_test @ theta), y_true, y_pred, metric)
    direction = np.linalg.solve(H, g_metric)  # H^-1 grad metric, shared by every sample
    grads = _per_sample_gradients(X, proba, y)
    if action == "remove":
        change = grads / n  # dw = -1
    elif action == "upweight":
        change = -(UPWEIGHT_FACTOR - 1.0) * grads / n
    else:
        change = -(_per_sample_gradients(X, proba, new_labels) - grads) / n
    return change @ direction
