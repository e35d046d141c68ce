"""The dataset every loader returns: features, integer class codes 0..C-1 and class names.

Tabular features stay a DataFrame of raw columns (the training recipe owns the
preprocessing); image features are float32 arrays (N, channels, H, W).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import joblib
import numpy as np

from ..exceptions import UsageError, names, one_line


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
    fingerprint: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.fingerprint:
            digest = joblib.hash((self.kind, self.X_train, self.y_train, self.X_test, self.y_test, self.classes))
            object.__setattr__(self, "fingerprint", digest)

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def class_index(self, name: str) -> int:
        """The code of a class named as the data spells it ("good", "3")."""
        try:
            return self.classes.index(str(name))
        except ValueError:
            raise UsageError(f"unknown class {one_line(name, 80)!r}: the classes are {names(self.classes)}") from None

    def train_id(self, index: int) -> Any:
        """The original id of a training row, as a plain Python value (JSON-ready)."""
        value = self.train_ids[index]
        return value.item() if hasattr(value, "item") else value

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_train": self.n_train, "n_test": self.n_test, "classes": list(self.classes)}
