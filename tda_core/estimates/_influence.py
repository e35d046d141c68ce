"""Influence-function estimates of single-sample effects for multinomial linear models.

Used only to choose which samples to retrain in candidate mode: every number shown for a
retrained sample comes from retraining, and the estimates are reported with their Spearman
correlation to those retrained effects.

The training objective is (1/n) sum_i w_i l_i(theta) + alpha/2 |theta|^2. Changing sample i's
weight on label k by dw moves the optimum by approx. -dw/n H^-1 grad l_i(k); an action is a
sum of such terms (:attr:`tda_core._actions.Action.gradient_terms`). The metric's change is its
gradient dotted with that move.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, cg

from .._actions import Action
from .._metrics import Metric


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
    return X_test.T @ metric.logit_gradient(proba_test, y_true, y_pred) / X_test.shape[0]


def hessian(X: Any, proba: np.ndarray, weights: np.ndarray, alpha: float, n: int | None = None) -> np.ndarray:
    """Hessian of the weighted mean cross-entropy plus the L2 term, (D*C, D*C), as C*C BLAS (or
    sparse) products ``X.T @ (s * X)``: no loop over rows x features^2 (a 4-index einsum took 13
    minutes on census income). ``X`` is dense or ``scipy.sparse``; the mean is over ``n`` rows
    (default: all of ``X``). With one column of probabilities (a sigmoid), the curvature is
    p (1 - p): the Hessian of a binary model's one weight vector."""
    d = X.shape[1]
    n = X.shape[0] if n is None else n
    c = proba.shape[1]
    if c == 2:
        # The two-column softmax of a binary model: the four blocks are +-one product.
        block = _weighted_gram(X, weights * proba[:, 0] * proba[:, 1]) / n
        h = np.empty((d, 2, d, 2))
        h[:, 0, :, 0] = h[:, 1, :, 1] = block
        h[:, 0, :, 1] = h[:, 1, :, 0] = -block
        return h.reshape(d * c, d * c) + alpha * np.eye(d * c)
    h = np.empty((d, c, d, c))
    for a in range(c):
        for b in range(a, c):
            # Per-row curvature of the softmax: p_a (delta_ab - p_b), weighted.
            block = _weighted_gram(X, weights * proba[:, a] * ((a == b) - proba[:, b])) / n
            h[:, a, :, b] = block
            h[:, b, :, a] = block.T
    return h.reshape(d * c, d * c) + alpha * np.eye(d * c)


def _weighted_gram(X: Any, s: np.ndarray) -> np.ndarray:
    """``X.T @ diag(s) @ X`` (D, D), dense: the rows scaled in place of a product with a diagonal
    matrix (which scipy.sparse runs as a second sparse product)."""
    if not sp.issparse(X):
        return X.T @ (s[:, None] * X)
    X = sp.csr_matrix(X)
    scaled = X.copy()
    scaled.data *= np.repeat(s, np.diff(X.indptr))
    return np.asarray((X.T @ scaled).todense())


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
    n = X.shape[0]
    proba = softmax_rows(np.asarray(X @ theta))
    g_metric = np.asarray(metric_gradient(X_test, softmax_rows(np.asarray(X_test @ theta)), y_true, y_pred, metric))
    direction = solve_hessian(X, proba, alpha, g_metric)  # H^-1 grad metric, shared
    if X_rows is not None and y_rows is not None:
        X, y, proba = X_rows, y_rows, softmax_rows(np.asarray(X_rows @ theta))
    return np.einsum("nc,nc->n", action_residuals(action, proba, y, new_labels), np.asarray(X @ direction)) / n


#: Parameters (D*C) up to which the Hessian is formed and solved directly; above, conjugate
#: gradients on Hessian-vector products (MNIST pixels: 7,850 parameters, a 490 MB Hessian).
DIRECT_SOLVE = 4096


def solve_hessian(X: Any, proba: np.ndarray, alpha: float, g: np.ndarray) -> np.ndarray:
    """H^-1 g for the Hessian of the mean cross-entropy + alpha/2 |theta|^2 at ``proba``; g (D, C)."""
    n, d = X.shape
    c = proba.shape[1]
    if d * c <= DIRECT_SOLVE:
        H = hessian(X, proba, np.ones(n), alpha)
        return scipy.linalg.solve(H, g.reshape(-1), assume_a="sym").reshape(d, c)

    def hvp(v: np.ndarray) -> np.ndarray:
        z = np.asarray(X @ v.reshape(d, c))  # (N, C)
        s = proba * (z - (proba * z).sum(axis=1, keepdims=True))
        return (np.asarray(X.T @ s) / n + alpha * v.reshape(d, c)).reshape(-1)

    op = LinearOperator((d * c, d * c), matvec=hvp, dtype=np.float64)
    x, _ = cg(op, g.reshape(-1), rtol=1e-10, maxiter=1000)
    return x.reshape(d, c)
