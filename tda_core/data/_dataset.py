"""The dataset every loader returns: features, integer class codes 0..C-1 and class names.

Tabular features stay a DataFrame of raw columns (the training recipe owns the
preprocessing); image features are float32 arrays (N, channels, H, W).

A dataset may carry a *pool*: labelled samples outside the training set that the ``add``
action may add (shared/DESIGN.md, "Actions"). Recipes train on the *fit rows*: the training
rows, then the pool rows with weight 0 until an edit adds them, so that adding a sample is a
weight going from 0 to 1, exactly as removing one is a weight going from 1 to 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import joblib
import numpy as np

from .._exceptions import DataError, UsageError, names, one_line


def _content(features: Any) -> Any:
    """What identifies a feature table cheaply: its column names, dtypes and a vectorised hash of
    every row (pickling a 200,000-row table of text into joblib's hash took seconds)."""
    import pandas as pd

    if not isinstance(features, pd.DataFrame):
        return features
    rows = pd.util.hash_pandas_object(features, index=False).to_numpy()
    return ([str(c) for c in features.columns], [str(t) for t in features.dtypes], rows)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test classification dataset with integer labels 0..C-1.

    ``X_train``/``X_test`` are DataFrames of raw columns (tabular) or float32 arrays of
    shape (N, channels, H, W) (images). ``train_ids`` are the original row ids (or file
    names) in training order, so that a training index maps back to the user's data.
    """

    name: str
    kind: Literal["tabular", "images"]
    X_train: Any
    y_train: np.ndarray
    X_test: Any
    y_test: np.ndarray
    classes: tuple[str, ...]
    train_ids: np.ndarray
    test_ids: np.ndarray
    target: str = "label"
    description: str = ""
    # Images only: uint8 (N, H, W, 3) pictures for galleries.
    thumbnails_train: np.ndarray | None = None
    thumbnails_test: np.ndarray | None = None
    # The pool that ``add`` draws from (None: no pool): features shaped like X_train, labels,
    # ids (file names or row ids) and, for images, thumbnails.
    X_pool: Any = None
    y_pool: np.ndarray | None = None
    pool_ids: np.ndarray | None = None
    thumbnails_pool: np.ndarray | None = None
    fingerprint: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.fingerprint:
            parts: tuple[Any, ...] = (self.kind, _content(self.X_train), self.y_train, _content(self.X_test), self.y_test, self.classes)
            if self.has_pool:  # a dataset without a pool keeps the key it always had
                parts += (_content(self.X_pool), self.y_pool)
            object.__setattr__(self, "fingerprint", joblib.hash(parts))

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)

    @property
    def has_pool(self) -> bool:
        return self.y_pool is not None and len(self.y_pool) > 0

    @property
    def n_pool(self) -> int:
        return len(self.y_pool) if self.y_pool is not None else 0

    @property
    def n_fit(self) -> int:
        """The rows a recipe trains on: the training rows, then the pool rows."""
        return self.n_train + self.n_pool

    @property
    def X_fit(self) -> Any:
        """Features of the fit rows (the training rows, then the pool rows)."""
        if not self.has_pool:
            return self.X_train
        if self.kind == "tabular":
            import pandas as pd

            return pd.concat([self.X_train, self.X_pool], ignore_index=True)
        return np.concatenate([self.X_train, self.X_pool])

    @property
    def y_fit(self) -> np.ndarray:
        """Labels of the fit rows."""
        return self.y_train if not self.has_pool else np.concatenate([self.y_train, self.y_pool])

    def fit_weights(self) -> np.ndarray:
        """Unedited weights of the fit rows: 1 for training rows, 0 for pool rows (not added)."""
        return np.concatenate([np.ones(self.n_train), np.zeros(self.n_pool)])

    def with_pool(self, X_pool: Any, y_pool: np.ndarray, pool_ids: np.ndarray, thumbnails_pool: np.ndarray | None = None) -> Dataset:
        """This dataset with a pool (replacing any pool it had). Features must match the training set's."""
        y_pool = np.asarray(y_pool, dtype=self.y_train.dtype)
        if self.kind == "tabular":
            if list(X_pool.columns) != list(self.X_train.columns):
                missing = [c for c in self.X_train.columns if c not in X_pool.columns]
                extra = [c for c in X_pool.columns if c not in self.X_train.columns]
                raise DataError(
                    "the pool must have the training set's feature columns"
                    + (f"; missing {names(missing)}" if missing else "")
                    + (f"; unexpected {names(extra)}" if extra else "")
                )
        elif np.shape(X_pool)[1:] != np.shape(self.X_train)[1:]:
            raise DataError(f"pool images are {np.shape(X_pool)[1:]} after the transform, training images {np.shape(self.X_train)[1:]}")
        if len(X_pool) != len(y_pool) or len(pool_ids) != len(y_pool):
            raise DataError("the pool's features, labels and ids differ in length")
        if len(y_pool) and (y_pool.min() < 0 or y_pool.max() >= self.n_classes):
            raise DataError(f"pool labels must be training classes: {names(self.classes)}")
        return replace(
            self, X_pool=X_pool, y_pool=y_pool, pool_ids=np.asarray(pool_ids), thumbnails_pool=thumbnails_pool, fingerprint=""
        )

    def pool_labels(self) -> np.ndarray:
        """The pool's labels; a dataset without a pool says so in the user's words."""
        if self.y_pool is None:
            raise UsageError("this dataset has no pool: attach one (--pool PATH, or a pool upload on the data page)")
        return self.y_pool

    def pool_id(self, index: int) -> Any:
        """The original id of a pool sample, as a plain Python value (JSON-ready)."""
        if self.pool_ids is None:
            raise UsageError("this dataset has no pool: attach one (--pool PATH, or a pool upload on the data page)")
        value = self.pool_ids[index]
        return value.item() if hasattr(value, "item") else value

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def class_index(self, name: str) -> int:
        """The code of a class named as the data spells it ("good", "3")."""
        try:
            return self.classes.index(str(name))
        except ValueError as exc:
            raise UsageError(f"unknown class {one_line(name, 80)!r}: the classes are {names(self.classes)}") from exc

    def train_id(self, index: int) -> Any:
        """The original id of a training row, as a plain Python value (JSON-ready)."""
        value = self.train_ids[index]
        return value.item() if hasattr(value, "item") else value

    def summary(self) -> dict[str, Any]:
        summary = {"kind": self.kind, "n_train": self.n_train, "n_test": self.n_test, "classes": list(self.classes)}
        return summary | ({"n_pool": self.n_pool} if self.has_pool else {})
