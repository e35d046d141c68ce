"""Per-sample metrics on predicted probabilities, the direction of improvement, and accuracy."""

from __future__ import annotations

import numpy as np

from .exceptions import UsageError

METRICS: tuple[str, ...] = ("loss", "gt_prob", "pred_prob")
METRIC_LABELS = {"loss": "test loss", "gt_prob": "true-class probability", "pred_prob": "predicted-class probability"}
_EPS = 1e-12


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}: choose one of {', '.join(METRICS)}")
    return metric


def metric_values(proba: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, metric: str) -> np.ndarray:
    """The metric of each test sample. ``proba`` has shape (..., n, C); returns (..., n).

    ``loss`` is the cross-entropy of the true class, ``gt_prob`` the probability of the true
    class, ``pred_prob`` the probability of the class the baseline predicted (``y_pred``).
    """
    check_metric(metric)
    proba = np.asarray(proba, dtype=np.float64)
    rows = np.arange(proba.shape[-2])
    if metric == "pred_prob":
        return proba[..., rows, y_pred]
    p_true = proba[..., rows, y_true]
    return -np.log(np.clip(p_true, _EPS, 1.0)) if metric == "loss" else p_true


def improvement_sign(metric: str) -> float:
    """+1 where a higher value is a step toward fixing the error (gt_prob), else -1."""
    return 1.0 if check_metric(metric) == "gt_prob" else -1.0


def accuracy(proba: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """Accuracy of each model in ``proba`` (..., n, C); returns shape (...)."""
    return (np.argmax(proba, axis=-1) == y_true).mean(axis=-1)
