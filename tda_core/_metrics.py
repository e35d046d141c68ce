"""The metrics on a test sample, each one object: values, direction of improvement, gradient.

A :class:`Metric` is chosen once at the boundary (:func:`get_metric`) and then carried as the
object. Probabilities are float64 here; the loss is clipped only at the smallest positive
float64, so the loss of a confident model stays exact (shared/DESIGN.md, "Exactness").
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from ._exceptions import UsageError

_TINY = np.finfo(np.float64).tiny


class Metric(abc.ABC):
    """A per-sample metric of predicted probabilities."""

    name: ClassVar[str]
    #: Words for a page ("test loss").
    label: ClassVar[str]
    #: Whether a higher value is a step toward fixing the error.
    higher_is_better: ClassVar[bool] = False

    @abc.abstractmethod
    def values(self, proba: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """The metric of each sample: ``proba`` (..., n, C) -> (..., n)."""

    @abc.abstractmethod
    def logit_gradient(self, proba: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """The gradient of each sample's metric w.r.t. its logits, (n, C) from ``proba`` (n, C)."""

    @property
    def sign(self) -> float:
        """+1 where a higher value is an improvement, else -1: ``sign * delta`` is the improvement."""
        return 1.0 if self.higher_is_better else -1.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _pick(proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
    rows = np.arange(proba.shape[-2])
    return np.asarray(proba, dtype=np.float64)[..., rows, classes]


class Loss(Metric):
    name = "loss"
    label = "test loss"

    def values(self, proba: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return -np.log(np.maximum(_pick(proba, y_true), _TINY))

    def logit_gradient(self, proba: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return proba - np.eye(proba.shape[1])[y_true]


class _ClassProbability(Metric):
    def _target(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def values(self, proba: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return _pick(proba, self._target(y_true, y_pred))

    def logit_gradient(self, proba: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        k = self._target(y_true, y_pred)
        p_k = proba[np.arange(len(proba)), k][:, None]
        return p_k * (np.eye(proba.shape[1])[k] - proba)


class TrueClassProbability(_ClassProbability):
    name = "gt_prob"
    label = "true-class probability"
    higher_is_better = True

    def _target(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return y_true


class PredictedClassProbability(_ClassProbability):
    name = "pred_prob"
    label = "predicted-class probability"

    def _target(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return y_pred


METRICS: dict[str, Metric] = {m.name: m for m in (Loss(), TrueClassProbability(), PredictedClassProbability())}
METRIC_LABELS: dict[str, str] = {name: m.label for name, m in METRICS.items()}


def get_metric(metric: str | Metric) -> Metric:
    """The metric named ``metric`` (a :class:`Metric` passes through)."""
    if isinstance(metric, Metric):
        return metric
    try:
        return METRICS[metric]
    except KeyError as exc:
        raise UsageError(f"unknown metric {metric!r}: choose one of {', '.join(METRICS)}") from exc


def accuracy(proba: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """Accuracy of each model in ``proba`` (..., n, C); returns shape (...)."""
    return (np.argmax(proba, axis=-1) == y_true).mean(axis=-1)
