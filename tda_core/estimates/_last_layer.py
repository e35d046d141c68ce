"""Influence estimates on the last linear layer of a network, from its frozen features.

Used only to choose which samples to retrain in candidate mode (see
:meth:`tda_core.recipes.torch._recipe.TorchRecipe.estimate_effects` for the measured choice of
a damped Hessian over plain gradient similarity).
"""

from __future__ import annotations

import numpy as np

from .._actions import Action
from .._metrics import Metric
from ._influence import action_residuals, metric_gradient, softmax_rows, solve_hessian


def last_layer_estimates(
    F_train: np.ndarray,
    y_train: np.ndarray,
    F_test: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    action: Action,
    new_labels: np.ndarray | None,
    metric: Metric,
    scale: float,
    damping: float | None = None,
    F_rows: np.ndarray | None = None,
    y_rows: np.ndarray | None = None,
) -> np.ndarray:
    """Estimated change of the mean metric over the test rows for the action on each training
    row, from gradients w.r.t. a linear layer (weight (D, C), bias (C,)) on features ``F``.

    ``damping=None``: gradient similarity, ``scale * <g_metric, change_i>``. A number:
    influence, ``<(H + damping I)^-1 g_metric, change_i> / n`` with H the Hessian of the
    mean training cross-entropy w.r.t. the layer (:func:`~.influence.solve_hessian`: scipy's
    conjugate gradients on Hessian-vector products above a few thousand parameters, so H is
    never formed for a wide layer). Per-sample gradients are never formed
    either: ``<G, outer(x, r)> = r . (x G)``. float64 throughout. ``F_rows``/``y_rows``: score
    these rows instead of the training rows (pool rows for ``add``), with the training rows' Hessian.
    """
    X = np.hstack([np.asarray(F_train, np.float64), np.ones((len(F_train), 1))])
    Xt = np.hstack([np.asarray(F_test, np.float64), np.ones((len(F_test), 1))])
    theta = np.vstack([np.asarray(weight, np.float64), np.asarray(bias, np.float64)[None]])  # (D+1, C)
    n = len(X)
    proba = softmax_rows(X @ theta)
    g_metric = metric_gradient(Xt, softmax_rows(Xt @ theta), y_true, y_pred, metric)
    if damping is None:
        direction, factor = g_metric, scale
    else:
        direction, factor = solve_hessian(X, proba, damping, g_metric), 1.0 / n
    labels = np.asarray(y_train)
    if F_rows is not None:
        X = np.hstack([np.asarray(F_rows, np.float64), np.ones((len(F_rows), 1))])
        proba, labels = softmax_rows(X @ theta), np.asarray(y_rows)
    projected = X @ direction  # (N, C): <direction, outer(x_i, r)> = r . projected_i
    change = action_residuals(action, proba, labels, new_labels)
    return factor * np.einsum("nc,nc->n", change, projected)
