"""The default tabular recipe: logistic regression by averaged mini-batch SGD, trained in batches.

Why this recipe: attributions need members that differ (so training noise is visible) yet
converge (so one sample's effect is not lost in that noise). Each seed fixes the
initialisation and the order of mini-batches; iterate averaging over the second half of
training makes the result stable. Removal is weight 0 in place, so a counterfactual sees
exactly the batches of its baseline and every effect is a paired difference.

The preprocessing (:func:`~tda_core.recipes._preprocessing.tabular_preprocessor`) is fitted once on the
training feature table without labels, which is what makes in-place removal exact.

Many models (one per edit) train at once as stacked parameters of shape (B, D, C) with
batched matrix products; a batch of one gives the same numbers as a batch of many.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from threadpoolctl import threadpool_limits

from .._actions import Action, Edit
from .._counterfactuals import merge, summarize
from .._exceptions import ModelError
from .._metrics import Metric
from ..data._dataset import Dataset
from ..estimates._influence import influence_estimates
from ._base import EvalOn, Start, edited_arrays, pool_batches, with_pool_rows
from ._design import DesignRecipe, dense, design, with_bias
from ._protocols import Estimates


def _softmax(z: np.ndarray, axis: int) -> np.ndarray:
    """In-place softmax. Callers put the class axis before the models' axis, which keeps
    reductions over the few classes vectorised along the long, contiguous models' axis."""
    z -= z.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


#: Bytes of one unit's stacked labels, weights and targets (a unit of 400 models on census income
#: held 2.5 GB of them in float64); and what each model needs per fit row: int16 label, float32
#: weight, the boolean target, and the float32 weight's transposed copy.
UNIT_BYTES = 256 * 2**20
MODEL_ROW_BYTES = 11
MIN_CHUNK = 16
#: Training rows made dense at once from a sparse design matrix: whole batches of an epoch's order.
BLOCK_ROWS = 4096
#: A batch that touches more of the columns than this updates all weights (no gather); and the
#: fewest stacked models for which gathering a batch's columns is worth its Python overhead.
LAZY_FRACTION = 0.7
LAZY_MODELS = 8
#: The lazy decay's scale is folded into the weights below this (every ~35,000 steps by default).
RESCALE_BELOW = 1e-3


def train_averaged_sgd(
    X: Any,
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

    ``X`` (N, D) holds the features with a bias column, dense or ``scipy.sparse`` (CSR); ``Y``
    (B, N) the labels and ``W`` (B, N) the sample weights of each model. All models share the
    seed's initialisation and mini-batch order. Loss: weighted cross-entropy per batch divided by
    its number of training rows + alpha/2 * |theta|^2. Rows from ``n_train`` on (default: none)
    are pool rows: they join batches as :func:`~tda_core.recipes._base.pool_batches` says, and
    only where some model gives them a weight.

    Each epoch's permuted rows are made dense a block of whole batches at a time, so a sparse
    table is never dense in full and a batch is a view, not a gather.
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
    # Lazy L2 decay and averaging: theta = scale * V, and the sum of theta over the averaged steps
    # is total * V - U. A batch of a sparse one-hot table touches a third of the weights (132 of
    # 394 columns on census income); decaying and averaging all of them every step cost as much
    # as the matrix products. V and U change only in the batch's columns.
    V = np.broadcast_to(init[:, 1:] - init[:, :1] if binary else init, (d, k, b)).copy()
    flat = V.reshape(d, -1)
    U = np.zeros_like(flat)
    scale, total, averaged = 1.0, 0.0, 0
    decay = 1.0 - learning_rate * alpha
    # Targets as booleans and weights in their own (compact) dtype: a batch's residual is float64
    # either way, and a large table's stacked arrays take a fraction of the memory.
    if binary:
        targets = np.ascontiguousarray((Y.T == 1)[:, None, :])  # (N, 1, B)
    else:
        targets = np.ascontiguousarray(Y.T[:, None, :] == np.arange(n_classes)[None, :, None])  # (N, C, B)
    weights = np.ascontiguousarray(W.T)[:, None, :]  # (N, 1, B)
    data_scale = 2.0 if binary else 1.0
    steps_per_epoch = -(-n // batch_size)
    average_from = (epochs // 2) * steps_per_epoch
    active = np.flatnonzero(W[:, n:].any(axis=0))  # pool rows some model adds
    placement = pool_batches(X.shape[0] - n, steps_per_epoch, seed, epochs)
    block = max(1, BLOCK_ROWS // batch_size) * batch_size
    # Gathering the batch's columns pays off for many stacked models, not for a few.
    lazy = sp.issparse(X) and b >= LAZY_MODELS
    step = 0
    # Small products of one batch: one BLAS thread is faster than two that wait on each other.
    with np.errstate(over="ignore"), threadpool_limits(limits=1, user_api="blas"):
        for epoch in range(epochs):
            order = rng.permutation(n)
            for first in range(0, n, block):
                rows = order[first : first + block]
                x_block, t_block, w_block = dense(X[rows]), targets[rows], weights[rows]
                for start in range(0, len(rows), batch_size):
                    number = (first + start) // batch_size
                    size = min(batch_size, len(rows) - start)
                    idx = with_pool_rows(rows[start : start + size], number, placement[epoch], active, n)
                    if len(idx) == size:  # no pool row joins: views of the block
                        xb, tb, wb = x_block[start : start + size], t_block[start : start + size], w_block[start : start + size]
                    else:
                        xb, tb, wb = dense(X[idx]), targets[idx], weights[idx]
                    used = np.flatnonzero(xb.any(axis=0)) if lazy else None
                    if used is not None and len(used) > LAZY_FRACTION * d:
                        used = None
                    xa, va = (xb, flat) if used is None else (xb[:, used], flat[used])
                    z = (xa @ va).reshape(len(idx), k, b)
                    z *= scale
                    residual = _sigmoid(z) if binary else _softmax(z, axis=1)
                    residual -= tb
                    residual *= wb
                    change = xa.T @ residual.reshape(len(idx), -1)  # the gradient's nonzero rows
                    scale *= decay  # the L2 term's step
                    change *= -learning_rate * data_scale / size / scale
                    if used is None:
                        flat += change
                        if total:
                            U += total * change
                    else:
                        flat[used] += change
                        if total:
                            U[used] += total * change
                    if step >= average_from:
                        total += scale
                        averaged += 1
                    if scale < RESCALE_BELOW:  # fold the scale in before V loses precision
                        flat *= scale
                        total /= scale
                        scale = 1.0
                    step += 1
    average = ((total * flat - U) / averaged).reshape(d, k, b)
    if binary:
        return np.concatenate([np.zeros_like(average), average], axis=1)  # (D, 2, B)
    return average


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """In-place logistic function."""
    return expit(z, out=z)


def predict_proba(X: Any, theta: np.ndarray) -> np.ndarray:
    """Probabilities (B, N, C) of the models ``theta`` (D, C, B) on features ``X`` (N, D), dense or sparse."""
    d, c, b = theta.shape
    proba = _softmax(np.asarray(X @ theta.reshape(d, -1)).reshape(X.shape[0], c, b), axis=1)
    return proba.transpose(2, 0, 1)


#: Baseline models (one per dataset, recipe and seed) a process keeps for the estimates.
KEEP_BASELINES = 8
_baselines: OrderedDict[tuple, np.ndarray] = OrderedDict()

#: Test rows predicted at once when a unit summarises its models (bounds a unit's memory).
PREDICT_ROWS = 2048


def summarize_models(X_test: Any, y_test: np.ndarray, theta: np.ndarray, rows: np.ndarray, n_classes: int) -> dict[str, np.ndarray]:
    """:func:`tda_core._counterfactuals.summarize` of the models ``theta`` (D, C, B), predicted a
    block of test rows at a time, so that B x n_test x C probabilities never exist at once."""
    parts = []
    for first in range(0, X_test.shape[0], PREDICT_ROWS):
        last = min(first + PREDICT_ROWS, X_test.shape[0])
        kept = rows[(rows >= first) & (rows < last)] - first
        proba = predict_proba(X_test[first:last], theta)[:, None]  # (B, 1, block, C)
        parts.append(summarize(proba, y_test[first:last], kept, n_classes))
    return merge(parts)


class LogisticSGDRecipe(DesignRecipe, Estimates):
    """Logistic regression by averaged mini-batch SGD on the standard tabular preprocessing."""

    removal = "zero_weight"
    estimate_method = "influence function"
    version = 2  # lazy decay and averaging: the same models to rounding, stored apart

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

    def chunk_for(self, data: Dataset) -> int:
        # Each stacked model holds its labels, weights and targets over the fit rows (11 bytes a
        # row, :func:`edited_arrays` compact): at most UNIT_BYTES of them in one unit.
        per_model = max(1, data.n_fit) * (MODEL_ROW_BYTES + data.n_classes * (data.n_classes > 2))
        return int(min(self.chunk_size, max(MIN_CHUNK, UNIT_BYTES // per_model)))

    def validate(self, data: Dataset) -> None:
        if data.kind != "tabular":
            raise ModelError(f"logistic-sgd trains on tables, not {data.kind} data")
        for name, value in (("epochs", self.epochs), ("batch_size", self.batch_size)):
            if int(value) < 1:
                raise ModelError(f"{name} must be at least 1, not {value}")
        if not float(self.learning_rate) > 0 or not float(self.alpha) >= 0:
            raise ModelError("learning_rate must be positive and alpha not negative")

    @staticmethod
    def _design(prep: Any, X: Any) -> Any:
        return with_bias(prep.transform(X))

    def baseline_theta(self, data: Dataset, seed: int) -> np.ndarray:
        """The seed's model on the unedited set, weights (D + 1, C) with the bias row last: the
        training of :meth:`fit_predict` (one model: callers run it as engine work). A baseline this
        process trained already is reused (on census income, 2.4 s a seed)."""
        self.validate(data)
        key = (data.fingerprint, self.fingerprint(), int(seed))
        if key not in _baselines:
            X = design(data).train()
            self._remember(key, self._train(X, data.y_train[None], np.ones((1, data.n_train)), data.n_classes, seed)[:, :, 0])
        return _baselines[key]

    @staticmethod
    def _remember(key: tuple, theta: np.ndarray) -> None:
        _baselines[key] = theta
        while len(_baselines) > KEEP_BASELINES:
            _baselines.popitem(last=False)

    def estimate_models(self) -> int:
        return 1  # the seed's baseline model

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
        made = design(data)
        theta = self.baseline_theta(data, seed)
        rows = (made.pool(), data.y_pool) if action.on_pool else (None, None)
        return influence_estimates(
            made.train(), data.y_train, theta, float(self.alpha), action, new_labels, made.test[np.asarray(test_indices)],
            data.y_test[test_indices], y_pred, metric, *rows,
        )

    def _train(self, X: Any, Y: np.ndarray, W: np.ndarray, n_classes: int, seed: int, n_train: int | None = None) -> np.ndarray:
        return train_averaged_sgd(
            X, Y, W, n_classes, seed, int(self.epochs), int(self.batch_size), float(self.learning_rate), float(self.alpha),
            n_train,
        )

    def _fit_edits(self, data: Dataset, edits: Sequence[Edit], seed: int) -> np.ndarray:
        self.validate(data)
        # The preprocessing is fitted on the training features without labels (not the pool):
        # one design matrix serves every counterfactual.
        Y, W = edited_arrays(data, edits, compact=True)
        theta = self._train(design(data).fit, Y, W, data.n_classes, seed, data.n_train)
        if len(edits) == 1 and edits[0].is_baseline and not data.has_pool:  # the seed's baseline: estimates reuse it
            self._remember((data.fingerprint, self.fingerprint(), int(seed)), theta[:, :, 0])
        return theta

    def fit_predict(
        self, data: Dataset, edits: Sequence[Edit], seed: int, eval_on: EvalOn = "test", start: Start | None = None
    ) -> np.ndarray:
        theta = self._fit_edits(data, edits, seed)
        return predict_proba(design(data).eval_rows(eval_on), theta)[:, None]

    def fit_summary(
        self, data: Dataset, edits: Sequence[Edit], seed: int, rows: np.ndarray, start: Start | None = None
    ) -> dict[str, np.ndarray]:
        theta = self._fit_edits(data, edits, seed)
        return summarize_models(design(data).test, data.y_test, theta, rows, data.n_classes)
