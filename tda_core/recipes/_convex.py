"""``logistic-lbfgs``: a converged L2 logistic regression, a deterministic model whose every
counterfactual is the exact optimum of its edited training set.

The engine controls the loss (:mod:`~tda_core.recipes._newton`): scikit-learn's
``LogisticRegression(C)`` objective on the standard tabular preprocessing, fitted once on the
training features without labels (as the SGD default), with the bias as a design column. The
baseline is fitted cold by scikit-learn's lbfgs and polished by Newton's method to a gradient of
``tol``; it is the recipe's *start* (one cached, counted unit per seed). Each counterfactual then
starts at that optimum (``warm_start=True``, the default) and iterates to the same tolerance, which
reaches the optimum a cold refit reaches (tested to 1e-6 in the effects against scikit-learn refits)
at a fraction of the cost. ``warm_start=False`` refits every counterfactual cold with lbfgs, as a
user would by hand. Removal is weight 0 in place; the objective's mean stays over the training set's
size, so that equals dropping the rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._actions import Action, Edit
from .._exceptions import ModelError
from .._metrics import Metric
from ..data._dataset import Dataset
from ..estimates._influence import influence_estimates
from ._base import EvalOn, Start, edited_arrays
from ._design import DesignRecipe, design
from ._logistic import predict_proba, summarize_models
from ._newton import BLOCK_ROWS, columns, polish, softmax_weights, warm_optima
from ._protocols import Estimates, HasStart

#: Parameters (D * k) up to which counterfactuals start warm: the baseline Hessian is formed and
#: factored (MNIST pixels, 7,850 parameters: a 490 MB Hessian); above, each refit is cold.
WARM_PARAMETERS = 8192
#: lbfgs's tolerance before Newton's method polishes to ``tol`` (scikit-learn's default).
SOLVER_TOL = 1e-4
#: Bytes of one unit's stacked arrays (labels, weights, logits of a row block, parameters).
UNIT_BYTES = 256 * 2**20


class LogisticLbfgsRecipe(DesignRecipe, HasStart, Estimates):
    """L2 logistic regression solved to its optimum; counterfactuals warm-started (see module)."""

    removal = "zero_weight"
    estimate_method = "influence function"

    def __init__(self, *, C: float = 1.0, tol: float = 1e-10, warm_start: bool = True, max_iter: int = 10_000):
        self.C = C
        self.tol = tol
        self.warm_start = warm_start
        self.max_iter = max_iter

    @property
    def display_name(self) -> str:
        return "logistic-lbfgs"

    @property
    def chunk_size(self) -> int:
        return 400

    def chunk_for(self, data: Dataset) -> int:
        k = columns(data.n_classes)
        width = design(data).width if data.kind == "tabular" else 1
        per_model = data.n_fit * 6 + min(BLOCK_ROWS, data.n_fit) * k * 24 + width * k * 32
        return int(min(self.chunk_size, max(16, UNIT_BYTES // per_model)))

    def models_trained(self, edits: Sequence[Edit]) -> int:
        # Warm, the baseline edit is the start itself (trained and counted as the start's unit).
        return sum(not e.is_baseline for e in edits) if self.warm_start else len(edits)

    def validate(self, data: Dataset) -> None:
        if data.kind != "tabular":
            raise ModelError(f"logistic-lbfgs trains on tables, not {data.kind} data")
        if not float(self.C) > 0 or not float(self.tol) > 0 or int(self.max_iter) < 1:
            raise ModelError("C and tol must be positive and max_iter at least 1")

    def _lam(self, data: Dataset) -> float:
        return 1.0 / (float(self.C) * data.n_train)

    # --- the baseline optimum is the start -----------------------------------------------

    def trains_from_start(self) -> bool:
        return True  # every counterfactual starts at the baseline optimum

    def start_seed(self, seed: int) -> int:
        return 0  # the optimum is the same for every seed

    def start_models(self) -> int:
        return 1

    def start_shapes(self, data: Dataset) -> dict[str, tuple[int | None, ...] | None]:
        return {"theta": (design(data).width, columns(data.n_classes))}

    def fit_start(self, data: Dataset, seed: int) -> dict[str, np.ndarray]:
        """The baseline's optimum (the seed plays no part: the model is deterministic)."""
        self.validate(data)
        y, w = data.y_fit, data.fit_weights()
        return {"theta": self._cold(data, y, w)}

    def _cold(self, data: Dataset, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        """A cold fit by scikit-learn's lbfgs on the rows of positive weight, polished by Newton's
        method to the tolerance (D, k)."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        X, k = design(data).fit, columns(data.n_classes)
        rows = np.flatnonzero(w > 0)
        theta = np.zeros((X.shape[1], k))
        present = np.unique(y[rows])
        if len(present) == data.n_classes:
            # scikit-learn's own tolerance: lbfgs crawls near the optimum, where Newton's steps
            # are quadratic (1,225 lbfgs iterations to 1e-10 on census against 80 to 1e-4).
            model = LogisticRegression(C=float(self.C), fit_intercept=False, tol=SOLVER_TOL, max_iter=int(self.max_iter))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # Newton's method finishes the job
                model.fit(X[rows], y[rows], sample_weight=w[rows])
            theta = model.coef_.T.copy()
        return polish(X, y, w, theta, data.n_train, self._lam(data), float(self.tol))

    # --- counterfactuals ------------------------------------------------------------------

    def _optima(self, data: Dataset, edits: Sequence[Edit], start: Start | None) -> np.ndarray:
        """Every edit's optimum, as softmax weights (D, C, B)."""
        self.validate(data)
        X, k = design(data).fit, columns(data.n_classes)
        base = np.asarray(start["theta"]) if start is not None else self.fit_start(data, 0)["theta"]
        if not (self.warm_start and X.shape[1] * k <= WARM_PARAMETERS):
            out = np.stack([self._cold(data, *e.apply(data.y_fit, data.fit_weights(), data.n_train)) for e in edits], axis=2)
            return softmax_weights(out)
        Y, W = edited_arrays(data, edits, compact=True)
        theta, _ = warm_optima(X, Y, W, base, data.y_fit, data.fit_weights(), data.n_train, self._lam(data), float(self.tol))
        return softmax_weights(theta)

    def fit_predict(
        self, data: Dataset, edits: Sequence[Edit], seed: int, eval_on: EvalOn = "test", start: Start | None = None
    ) -> np.ndarray:
        return predict_proba(design(data).eval_rows(eval_on), self._optima(data, edits, start))[:, None]

    def fit_summary(
        self, data: Dataset, edits: Sequence[Edit], seed: int, rows: np.ndarray, start: Start | None = None
    ) -> dict[str, np.ndarray]:
        return summarize_models(design(data).test, data.y_test, self._optima(data, edits, start), rows, data.n_classes)

    def estimate_models(self) -> int:
        return 0  # the baseline optimum is the start, trained and counted once

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
        """Influence-function estimates around the baseline optimum (exact Hessian there)."""
        made = design(data)
        base = np.asarray(start["theta"]) if start is not None else self.fit_start(data, seed)["theta"]
        # The influence estimates' objective is over softmax weights: the sigmoid's lam doubles.
        alpha = self._lam(data) * (2.0 if columns(data.n_classes) == 1 else 1.0)
        rows: tuple[Any, Any] = (made.pool(), data.y_pool) if action.on_pool else (None, None)
        return influence_estimates(
            made.train(), data.y_train, softmax_weights(base[:, :, None])[:, :, 0], alpha, action, new_labels,
            made.test[np.asarray(test_indices)], data.y_test[test_indices], y_pred, metric, *rows,
        )
