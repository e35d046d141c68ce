"""The default tabular recipe: logistic regression by averaged mini-batch SGD, trained in batches.

Why this recipe: attributions need members that differ (so training noise is visible) yet
converge (so one sample's effect is not lost in that noise). Each seed fixes the
initialisation and the order of mini-batches; iterate averaging over the second half of
training makes the result stable. Removal is weight 0 in place, so a counterfactual sees
exactly the batches of its baseline and every effect is a paired difference.

The preprocessing (:func:`~tda_core.recipes.preprocessing.tabular_preprocessor`) is fitted once on the
training feature table without labels, which is what makes in-place removal exact.

Many models (one per edit) train at once as stacked parameters of shape (B, D, C) with
batched matrix products; a batch of one gives the same numbers as a batch of many.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..actions import Action, Edit
from ..data.dataset import Dataset
from ..estimates.influence import influence_estimates
from ..exceptions import ModelError
from ..metrics import Metric
from .base import EvalOn, Recipe, Start, edited_arrays, eval_features, pool_batches, with_pool_rows
from .preprocessing import tabular_preprocessor


def _softmax(z: np.ndarray, axis: int) -> np.ndarray:
    """In-place softmax. Callers put the class axis before the models' axis, which keeps
    reductions over the few classes vectorised along the long, contiguous models' axis."""
    z -= z.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


def train_averaged_sgd(
    X: np.ndarray,
    Y: np.ndarray,
    W: np.ndarray,
    n_classes: int,
    seed: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    alpha: float,
    n_train: int | None = None,
) -> np.ndarray:
    """Train B multinomial logistic regressions at once; return averaged weights (D, C, B)
    (for two classes, the equivalent weights with theta_0 = 0).

    ``X`` (N, D) holds the features with a bias column; ``Y`` (B, N) the labels and ``W``
    (B, N) the sample weights of each model. All models share the seed's initialisation
    and mini-batch order. Loss: weighted cross-entropy per batch divided by its number of
    training rows + alpha/2 * |theta|^2. Rows from ``n_train`` on (default: none) are pool
    rows: they join batches as :func:`~tda_core.recipes.base.pool_batches` says, and only
    where some model gives them a weight.
    """
    rng = np.random.default_rng(seed)
    n = X.shape[0] if n_train is None else int(n_train)
    d = X.shape[1]
    b = Y.shape[0]
    init = rng.normal(0.0, 0.01, size=(d, n_classes, 1))
    # Two classes: softmax depends only on delta = theta_1 - theta_0, whose SGD step is the
    # logistic one with twice the data gradient. Training delta alone gives the same
    # probabilities (to rounding) with half the parameters and a cheaper sigmoid.
    binary = n_classes == 2
    k = 1 if binary else n_classes
    # Parameters laid out (D, K, B): each step is one matrix product for all models.
    theta = np.broadcast_to(init[:, 1:] - init[:, :1] if binary else init, (d, k, b)).copy()
    average = np.zeros_like(theta)
    if binary:
        targets = (Y.T == 1)[:, None, :].astype(np.float64)  # (N, 1, B)
    else:
        targets = (Y.T[:, None, :] == np.arange(n_classes)[None, :, None]).astype(np.float64)  # (N, C, B)
    weights = np.ascontiguousarray(W.T)[:, None, :]  # (N, 1, B)
    data_scale = 2.0 if binary else 1.0
    steps_per_epoch = -(-n // batch_size)
    average_from = (epochs // 2) * steps_per_epoch
    active = np.flatnonzero(W[:, n:].any(axis=0))  # pool rows some model adds
    placement = pool_batches(X.shape[0] - n, steps_per_epoch, seed, epochs)
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(n)
        for number, start in enumerate(range(0, n, batch_size)):
            batch = order[start : start + batch_size]
            idx = with_pool_rows(batch, number, placement[epoch], active, n)
            xb = X[idx]
            z = (xb @ theta.reshape(d, -1)).reshape(len(idx), k, b)
            residual = _sigmoid(z) if binary else _softmax(z, axis=1)
            residual -= targets[idx]
            residual *= weights[idx]
            grad = (xb.T @ residual.reshape(len(idx), -1)).reshape(d, k, b)
            grad *= learning_rate * data_scale / len(batch)
            theta *= 1.0 - learning_rate * alpha  # the L2 term's step
            theta -= grad
            if step >= average_from:
                np.subtract(theta, average, out=grad)
                grad /= step - average_from + 1
                average += grad
            step += 1
    if binary:
        return np.concatenate([np.zeros_like(average), average], axis=1)  # (D, 2, B)
    return average


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """In-place logistic function."""
    with np.errstate(over="ignore"):
        np.negative(z, out=z)
        np.exp(z, out=z)
    z += 1.0
    np.reciprocal(z, out=z)
    return z


def predict_proba(X: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Probabilities (B, N, C) of the models ``theta`` (D, C, B) on features ``X`` (N, D)."""
    d, c, b = theta.shape
    proba = _softmax((X @ theta.reshape(d, -1)).reshape(len(X), c, b), axis=1)
    return proba.transpose(2, 0, 1)


class LogisticSGDRecipe(Recipe):
    """Logistic regression by averaged mini-batch SGD on the standard tabular preprocessing."""

    removal = "zero_weight"
    estimate_method = "influence function"

    def __init__(self, *, epochs: int = 10, batch_size: int = 32, learning_rate: float = 0.2, alpha: float = 1e-3):
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.alpha = alpha

    @property
    def display_name(self) -> str:
        return "logistic-sgd"

    @property
    def chunk_size(self) -> int:
        return 400

    def validate(self, data: Dataset) -> None:
        if data.kind != "tabular":
            raise ModelError(f"logistic-sgd trains on tables, not {data.kind} data")
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ModelError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not float(self.learning_rate) > 0 or not float(self.alpha) >= 0:
            raise ModelError("learning_rate must be positive and alpha not negative")

    @staticmethod
    def _design(prep: Any, X: Any) -> np.ndarray:
        Xt = np.asarray(prep.transform(X), dtype=np.float64)
        return np.hstack([Xt, np.ones((Xt.shape[0], 1))])

    def baseline_theta(self, data: Dataset, seed: int) -> np.ndarray:
        """The seed's model on the unedited set, weights (D + 1, C) with the bias row last: the
        training of :meth:`fit_predict` (one model: callers run it as engine work)."""
        self.validate(data)
        X = self._design(tabular_preprocessor().fit(data.X_train), data.X_train)
        return self._train(X, data.y_train[None], np.ones((1, data.n_train)), data.n_classes, seed)[:, :, 0]

    def estimate_effects(
        self,
        data: Dataset,
        seed: int,
        action: Action,
        new_labels: np.ndarray,
        test_indices: np.ndarray,
        y_pred: np.ndarray,
        metric: Metric,
        start: Start | None = None,
    ) -> np.ndarray:
        """Influence-function estimate of each training sample's (for ``add``: each pool sample's)
        effect on the mean metric, around the seed's baseline model (trained here: one model,
        counted by the engine)."""
        prep = tabular_preprocessor().fit(data.X_train)
        X = self._design(prep, data.X_train)
        X_test = self._design(prep, data.X_test.iloc[test_indices])
        theta = self.baseline_theta(data, seed)
        rows = (self._design(prep, data.X_pool), data.y_pool) if action.on_pool else (None, None)
        return influence_estimates(
            X, data.y_train, theta, float(self.alpha), action, new_labels, X_test, data.y_test[test_indices], y_pred, metric,
            *rows,
        )

    def _train(self, X: np.ndarray, Y: np.ndarray, W: np.ndarray, n_classes: int, seed: int, n_train: int | None = None) -> np.ndarray:
        return train_averaged_sgd(
            X, Y, W, n_classes, seed, int(self.epochs), int(self.batch_size), float(self.learning_rate), float(self.alpha),
            n_train,
        )

    def fit_predict(
        self, data: Dataset, edits: Sequence[Edit], seed: int, eval_on: EvalOn = "test", start: Start | None = None
    ) -> np.ndarray:
        self.validate(data)
        # Fitted on the training features without labels (not the pool): shared by every counterfactual.
        prep = tabular_preprocessor().fit(data.X_train)
        X = self._design(prep, data.X_fit)
        X_eval = self._design(prep, eval_features(data, eval_on))
        Y, W = edited_arrays(data, edits)
        theta = self._train(X, Y, W, data.n_classes, seed, data.n_train)
        return predict_proba(X_eval, theta)[:, None]
