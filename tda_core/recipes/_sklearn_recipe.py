"""Any scikit-learn classifier or pipeline as a recipe, retrained through ``clone`` as a user would.

* **Members** come from seeds: every ``random_state`` parameter is set to the member's seed.
  An estimator that ignores the seed (lbfgs, liblinear...) gives identical members; the
  analysis detects that from the baseline and trains it once per edit (a *deterministic* model).
  With ``checkpoints``, members are epochs of ``partial_fit`` of one run (the study's scheme).
* **Remove** drops the rows and refits the whole pipeline without them.
* **Upweight** x10 equals duplicating the rows 10 times: when every step of the pipeline
  accepts ``sample_weight``, the weights are routed to all of them (scikit-learn's metadata
  routing); when some step takes no weight (an imputer, an encoder), the rows are duplicated
  instead, and :attr:`SklearnRecipe.upweight_note` says so.
* **Warm start** (``warm_start=True``, convex estimators such as LogisticRegression) begins
  each counterfactual at the baseline's solution, which cuts solver iterations. It reaches the
  same optimum only as far as the solver's tolerance allows (tested against cold starts at
  ``tol=1e-10``); at scikit-learn's default tolerance it stops early, so it is off by default.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import has_fit_parameter

from .._actions import Edit
from .._exceptions import ModelError, TDAError, reason
from ..data._dataset import Dataset
from ._base import EvalOn, Recipe, Start, eval_features
from ._protocols import RoutesWeights


def fitted_steps(estimator: Any) -> list[BaseEstimator]:
    """The estimators that ``fit`` fits, inside pipelines, column transformers and unions."""
    if isinstance(estimator, Pipeline):
        return [s for _, step in estimator.steps for s in fitted_steps(step)]
    if isinstance(estimator, ColumnTransformer):
        return [s for _, t, _ in estimator.transformers for s in fitted_steps(t)]
    if isinstance(estimator, FeatureUnion):
        return [s for _, t in estimator.transformer_list for s in fitted_steps(t)]
    if estimator is None or isinstance(estimator, str):  # "drop", "passthrough"
        return []
    return [estimator]


def full_proba(model: Any, X: Any, n_classes: int) -> np.ndarray:
    """predict_proba with one column per class, also when a class was absent in training."""
    proba = model.predict_proba(X)
    out = np.zeros((proba.shape[0], n_classes), dtype=np.float64)
    out[:, np.asarray(model.classes_, dtype=np.int64)] = proba
    return out


def failure(exc: BaseException) -> str:
    """Why the user's estimator failed, in words to follow "failed to train: ": its message's first
    line (a key that is missing named as such), without the exception's type."""
    if isinstance(exc, KeyError) and exc.args:
        return f"no column or key {exc.args[0]!r}"
    return reason(exc) or "it stopped with an error that gives no message"


class SklearnRecipe(Recipe, RoutesWeights):
    """A scikit-learn classifier or pipeline, used as a recipe through ``clone``."""

    removal = "drop"

    def __init__(
        self,
        estimator: BaseEstimator,
        *,
        name: str | None = None,
        checkpoints: Sequence[int] = (),
        warm_start: bool = False,
    ):
        self.estimator = estimator
        self.name = name
        self.checkpoints = checkpoints
        self.warm_start = warm_start

    # --- the Recipe interface ------------------------------------------------------------

    @property
    def final_step(self) -> BaseEstimator:
        return self.estimator.steps[-1][1] if isinstance(self.estimator, Pipeline) else self.estimator

    @property
    def display_name(self) -> str:
        return self.name or type(self.final_step).__name__

    @property
    def checkpoint_epochs(self) -> tuple[int, ...]:
        return tuple(sorted(int(c) for c in self.checkpoints))

    @property
    def weights_routed(self) -> bool:
        """Whether every fitted step accepts ``sample_weight`` (else upweighting duplicates rows)."""
        return all(has_fit_parameter(s, "sample_weight") for s in fitted_steps(self.estimator))

    @property
    def upweight_note(self) -> str:
        if self.weights_routed:
            return "upweighting passes sample_weight to every step of the model"
        blind = sorted({type(s).__name__ for s in fitted_steps(self.estimator) if not has_fit_parameter(s, "sample_weight")})
        return f"{', '.join(blind)} take{'s' if len(blind) == 1 else ''} no sample_weight, so upweighting duplicates the rows instead"

    def validate(self, data: Dataset) -> None:
        if not hasattr(self.estimator, "fit") or not hasattr(self.estimator, "predict_proba"):
            raise ModelError(
                f"{type(self.estimator).__name__} cannot be used: the model needs fit and predict_proba "
                "(for SVC set probability=True)"
            )
        if self.checkpoints and not hasattr(self.final_step, "partial_fit"):
            raise ModelError(f"checkpoints need an estimator with partial_fit; {self.display_name} has none")
        if self.checkpoints and min(self.checkpoint_epochs) < 1:
            raise ModelError(f"checkpoints are epochs from 1 on, not {list(self.checkpoint_epochs)}")
        if self.warm_start and "warm_start" not in self.final_step.get_params():
            raise ModelError(f"{self.display_name} has no warm_start parameter; use it without warm start")

    def models_trained(self, edits: Sequence[Edit]) -> int:
        # Warm start fits the baseline once per call, to start the counterfactuals from it.
        return len(edits) + int(bool(self.warm_start) and any(not e.is_baseline for e in edits))

    def _fingerprint_params(self) -> Any:
        # joblib.hash of the unfitted estimator is stable across processes; reprs may hold addresses.
        return (clone(self.estimator), self.checkpoint_epochs, bool(self.warm_start))

    def fit_predict(
        self, data: Dataset, edits: Sequence[Edit], seed: int, eval_on: EvalOn = "test", start: Start | None = None
    ) -> np.ndarray:
        """Any exception from the user's estimator (while fitting or predicting) becomes one
        :class:`ModelError` line naming the model."""
        self.validate(data)
        try:
            return self._fit_predict(data, edits, seed, eval_on)
        except TDAError:
            raise
        except MemoryError as exc:
            raise ModelError(f"{self.display_name} ran out of memory while training; use fewer rows or columns") from exc
        except Exception as exc:  # the user's code: any type, one line
            raise ModelError(f"{self.display_name} failed to train: {failure(exc)}") from exc

    def _fit_predict(self, data: Dataset, edits: Sequence[Edit], seed: int, eval_on: EvalOn) -> np.ndarray:
        X_eval = eval_features(data, eval_on)
        base = None
        if self.warm_start and any(not e.is_baseline for e in edits):
            base = self._fit(self.seeded(seed), *self._training_rows(data, Edit.baseline()))
        out = []
        for edit in edits:
            X, y, w = self._training_rows(data, edit)
            # Warm start: begin at the baseline's optimum and converge to the same tolerance.
            model = self.seeded(seed) if base is None or edit.is_baseline else self._warm_started(base)
            if self.checkpoints:
                out.append(self._fit_checkpoints(model, X, y, w, X_eval, data.n_classes))
            else:
                out.append(full_proba(self._fit(model, X, y, w), X_eval, data.n_classes)[None])
        return np.stack(out)

    # --- training ------------------------------------------------------------------------

    def seeded(self, seed: int) -> BaseEstimator:
        """An unfitted copy of the estimator whose every ``random_state`` is the member's seed."""
        model = clone(self.estimator)
        keys = [k for k in model.get_params(deep=True) if k == "random_state" or k.endswith("__random_state")]
        return model.set_params(**{k: seed for k in keys})

    def _training_rows(self, data: Dataset, edit: Edit) -> tuple[Any, np.ndarray, np.ndarray | None]:
        """Rows, labels and weights (None: all 1) of the edited training set, as a user would
        build it: removed rows dropped, added pool rows appended, upweighted rows routed a
        weight or duplicated."""
        y, w = edit.apply(data.y_fit, data.fit_weights(), data.n_train)  # pool rows: weight 0 unless added
        rows = np.flatnonzero(w > 0)
        w = w[rows]
        uniform = bool(np.all(w == 1.0))
        if not uniform and not self.weights_routed:
            rows = np.repeat(rows, np.rint(w).astype(np.int64))
            uniform = True
        X = data.X_fit.iloc[rows] if isinstance(data.X_fit, pd.DataFrame) else data.X_fit[rows]
        return X, y[rows], None if uniform else w

    def _fit(self, model: BaseEstimator, X: Any, y: np.ndarray, w: np.ndarray | None) -> BaseEstimator:
        try:
            if w is None:
                return model.fit(X, y)
            with sklearn.config_context(enable_metadata_routing=True):
                for step in fitted_steps(model):
                    step.set_fit_request(sample_weight=True)
                return model.fit(X, y, sample_weight=w)
        except ValueError as exc:
            raise ModelError(f"{self.display_name} failed to train: {failure(exc)}") from exc

    def _warm_started(self, base: BaseEstimator) -> BaseEstimator:
        """A copy of the fitted baseline that continues from its solution (convex models)."""
        model = copy.deepcopy(base)
        key = f"{model.steps[-1][0]}__warm_start" if isinstance(model, Pipeline) else "warm_start"
        return model.set_params(**{key: True})

    def _fit_checkpoints(
        self, model: BaseEstimator, X: Any, y: np.ndarray, w: np.ndarray | None, X_eval: Any, n_classes: int
    ) -> np.ndarray:
        """Epochs of ``partial_fit`` on the final step, recording the checkpoint epochs."""
        if isinstance(model, Pipeline):
            prep, final = model[:-1], model.steps[-1][1]
            Xt = prep.fit_transform(X, y)
            X_eval_t = prep.transform(X_eval)
        else:
            final, Xt, X_eval_t = model, X, X_eval
        classes = np.arange(n_classes)
        kwargs = {} if w is None else {"sample_weight": w}
        epochs = self.checkpoint_epochs
        snaps = []
        for epoch in range(1, epochs[-1] + 1):
            final.partial_fit(Xt, y, classes=classes, **kwargs)
            if epoch in epochs:
                snaps.append(full_proba(final, X_eval_t, n_classes))
        return np.stack(snaps)

