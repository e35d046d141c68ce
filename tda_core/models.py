"""Training recipes: how to train the ensemble members of a model on an edited training set.

A recipe is the unit the engine retrains. ``fit_predict`` trains one model per
:class:`~tda_core.actions.Edit` for one seed and returns their class probabilities, so a
recipe that can train many models at once (see :mod:`tda_core.logistic`) does so, and one
that cannot simply loops. One seed may yield several members (checkpoints of one run).
"""

from __future__ import annotations

import abc
import copy
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import joblib
import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import has_fit_parameter

from .actions import Edit, apply_edit
from .data import Dataset
from .exceptions import ModelError

EvalOn = Literal["test", "train+test"]


@dataclass(frozen=True)
class Member:
    """One ensemble member: a seed of the recipe and, where it has them, a checkpoint."""

    seed: int
    checkpoint: int | None = None


class Recipe(abc.ABC):
    """A training recipe. Subclasses set ``name``, ``removal`` and implement ``fit_predict``."""

    name: str = "recipe"
    #: "drop": removed rows leave the training set (refit as a user would by hand);
    #: "zero_weight": they keep their place with weight 0, so batch order stays paired.
    removal: Literal["drop", "zero_weight"] = "drop"
    #: Edits per unit of cached work; larger for recipes that train a batch at once.
    chunk_size: int = 16

    @property
    def checkpoints(self) -> tuple[int, ...]:
        """Checkpoints (epochs) recorded per run; empty means one member per seed."""
        return ()

    @property
    def members_per_run(self) -> int:
        return max(1, len(self.checkpoints))

    def members(self, ensemble: int, seed: int = 0) -> list[Member]:
        """The first ``ensemble`` (seed, checkpoint) members, seeds counting up from ``seed``."""
        if ensemble < 1:
            raise ModelError("the ensemble needs at least one member")
        cps: Sequence[int | None] = self.checkpoints or (None,)
        runs = -(-ensemble // len(cps))
        return [Member(seed + r, cp) for r in range(runs) for cp in cps][:ensemble]

    @abc.abstractmethod
    def fit_predict(self, data: Dataset, edits: Sequence[Edit], seed: int, eval_on: EvalOn = "test") -> np.ndarray:
        """Train one model per edit with ``seed``; return probabilities of shape
        (len(edits), members_per_run, n_eval, n_classes) (float64, or float32 for networks). ``eval_on="train+test"`` evaluates
        the training rows first, then the test rows."""

    #: How ``estimate_effects`` estimates (for candidate mode); None where it cannot.
    estimate_method: str | None = None

    def estimate_effects(
        self, data: Dataset, seed: int, action: str, new_labels: np.ndarray, test_indices: np.ndarray, y_pred: np.ndarray, metric: str
    ) -> np.ndarray:
        """Estimated change of the mean metric over ``test_indices`` for the action on each
        training sample, without retraining (shape (n_train,)). Used to pick candidates."""
        raise ModelError(f"the recipe {self.name} cannot estimate effects; run without --candidates")

    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """Everything that changes what the recipe trains (it keys the cache)."""

    def fingerprint(self) -> str:
        return joblib.hash((type(self).__qualname__, self.name, self.removal, self.checkpoints, self.params()))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "removal": self.removal, "checkpoints": list(self.checkpoints), **self.params()}


def eval_features(data: Dataset, eval_on: EvalOn) -> Any:
    """The rows a recipe predicts on: the test set, or the train rows followed by the test rows."""
    if eval_on == "test":
        return data.X_test
    if data.kind == "tabular":
        import pandas as pd

        return pd.concat([data.X_train, data.X_test], ignore_index=True)
    return np.concatenate([data.X_train, data.X_test])


def tabular_preprocessor() -> ColumnTransformer:
    """One-hot for categorical columns, scaling for numeric ones, imputation for both."""
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    )
    return ColumnTransformer(
        [
            ("numeric", numeric, make_column_selector(dtype_include=np.number)),
            ("categorical", categorical, make_column_selector(dtype_exclude=np.number)),
        ]
    )


def _full_proba(model: Any, X: Any, n_classes: int) -> np.ndarray:
    """predict_proba with one column per class, also when a class was absent in training."""
    proba = model.predict_proba(X)
    out = np.zeros((proba.shape[0], n_classes), dtype=np.float64)
    out[:, np.asarray(model.classes_, dtype=np.int64)] = proba
    return out


class SklearnRecipe(Recipe):
    """Any scikit-learn classifier or pipeline, used as a recipe through ``clone``.

    Members come from seeds (every ``random_state`` parameter is set to the seed) and, when
    ``checkpoints`` are given, from epochs of ``partial_fit`` on the final step. With
    ``warm_start`` (convex estimators such as LogisticRegression), each counterfactual starts
    from the baseline's solution, which cuts solver iterations without changing the optimum. Removed rows
    are dropped and the whole pipeline is refit; upweighting uses ``sample_weight`` where
    the final step accepts it and duplicates rows where it does not.
    """

    removal = "drop"

    def __init__(
        self,
        estimator: BaseEstimator,
        name: str | None = None,
        checkpoints: Sequence[int] = (),
        warm_start: bool = False,
    ):
        if not hasattr(estimator, "fit") or not hasattr(estimator, "predict_proba"):
            raise ModelError(
                f"{type(estimator).__name__} cannot be used: the model needs fit and predict_proba "
                "(for SVC set probability=True)"
            )
        self.estimator = estimator
        self.name = name or type(self.final_step).__name__
        self._checkpoints = tuple(sorted(int(c) for c in checkpoints))
        if self._checkpoints and not hasattr(self.final_step, "partial_fit"):
            raise ModelError(f"checkpoints need an estimator with partial_fit; {self.name} has none")
        self.warm_start = bool(warm_start)
        if self.warm_start and "warm_start" not in self.final_step.get_params():
            raise ModelError(f"{self.name} has no warm_start parameter; use it without warm start")

    @property
    def final_step(self) -> BaseEstimator:
        return self.estimator.steps[-1][1] if isinstance(self.estimator, Pipeline) else self.estimator

    @property
    def checkpoints(self) -> tuple[int, ...]:
        return self._checkpoints

    def params(self) -> dict[str, Any]:
        params = self.estimator.get_params(deep=True)
        return {k: repr(v) for k, v in sorted(params.items()) if not isinstance(v, BaseEstimator)} | {
            "estimator": type(self.estimator).__name__,
            "warm_start_from_baseline": self.warm_start,
        }

    def fingerprint(self) -> str:
        # joblib.hash of the unfitted estimator is stable across processes; reprs may hold addresses.
        return joblib.hash((type(self).__qualname__, self.removal, self.checkpoints, self.warm_start, clone(self.estimator)))

    def _seeded(self, seed: int) -> BaseEstimator:
        model = clone(self.estimator)
        keys = [k for k in model.get_params(deep=True) if k == "random_state" or k.endswith("__random_state")]
        return model.set_params(**{k: seed for k in keys})

    def _weight_kwargs(self, model: BaseEstimator, w: np.ndarray) -> dict[str, np.ndarray]:
        if isinstance(model, Pipeline):
            return {f"{model.steps[-1][0]}__sample_weight": w}
        return {"sample_weight": w}

    def _training_rows(self, data: Dataset, edit: Edit) -> tuple[Any, np.ndarray, np.ndarray | None]:
        y, w = apply_edit(data.y_train, np.ones(data.n_train), edit)
        rows = np.flatnonzero(w > 0)  # removal drops the rows
        w = w[rows]
        uniform = bool(np.all(w == 1.0))
        if not uniform and not has_fit_parameter(self.final_step, "sample_weight"):
            rows = np.repeat(rows, w.astype(np.int64))  # upweight by duplicating rows
            uniform = True
        X = data.X_train.iloc[rows] if hasattr(data.X_train, "iloc") else data.X_train[rows]
        return X, y[rows], None if uniform else w

    def _warm_started(self, base: BaseEstimator) -> BaseEstimator:
        """A copy of the fitted baseline that continues from its solution (convex models)."""
        model = copy.deepcopy(base)
        key = f"{model.steps[-1][0]}__warm_start" if isinstance(model, Pipeline) else "warm_start"
        return model.set_params(**{key: True})

    def fit_predict(self, data: Dataset, edits: Sequence[Edit], seed: int, eval_on: EvalOn = "test") -> np.ndarray:
        X_eval = eval_features(data, eval_on)
        base = None
        if self.warm_start and any(not e.is_baseline for e in edits):
            base = self._seeded(seed).fit(data.X_train, data.y_train)
        out = []
        for edit in edits:
            X, y, w = self._training_rows(data, edit)
            # Warm start: begin at the baseline's optimum and converge to the same tolerance.
            model = self._seeded(seed) if base is None or edit.is_baseline else self._warm_started(base)
            if self._checkpoints:
                out.append(self._fit_checkpoints(model, X, y, w, X_eval, data.n_classes))
                continue
            kwargs = {} if w is None else self._weight_kwargs(model, w)
            try:
                model.fit(X, y, **kwargs)
            except ValueError as exc:
                raise ModelError(f"{self.name} failed to train: {exc}") from None
            out.append(_full_proba(model, X_eval, data.n_classes)[None])
        return np.stack(out)

    def _fit_checkpoints(self, model: BaseEstimator, X: Any, y: np.ndarray, w: np.ndarray | None, X_eval: Any, n_classes: int) -> np.ndarray:
        """Epochs of ``partial_fit`` on the final step, recording the checkpoint epochs."""
        if isinstance(model, Pipeline):
            prep, final = model[:-1], model.steps[-1][1]
            Xt, X_eval_t = prep.fit_transform(X, y), None
            X_eval_t = prep.transform(X_eval)
        else:
            final, Xt, X_eval_t = model, X, X_eval
        classes = np.arange(n_classes)
        kwargs = {} if w is None else {"sample_weight": w}
        snaps = []
        for epoch in range(1, self._checkpoints[-1] + 1):
            final.partial_fit(Xt, y, classes=classes, **kwargs)
            if epoch in self._checkpoints:
                snaps.append(_full_proba(final, X_eval_t, n_classes))
        return np.stack(snaps)
