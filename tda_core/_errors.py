"""Test errors of the baseline ensemble, grouped by (true class -> predicted class); error slices
(tda_core._slices) become groups through :func:`slice_group`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix

from ._exceptions import UsageError, names
from ._metrics import METRICS, accuracy
from .data._dataset import Dataset

#: The ``true`` of an error slice's group (``--group slice:ID``).
SLICE = "slice"


@dataclass(frozen=True)
class ErrorGroup:
    """Test samples of class ``true`` that the ensemble predicts as ``pred``."""

    true: str
    pred: str
    true_code: int
    pred_code: int
    test_indices: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.test_indices)

    @property
    def is_slice(self) -> bool:
        """An error slice (``true`` is "slice", ``pred`` its id) rather than a class pair."""
        return self.true == SLICE and self.true_code < 0

    @property
    def label(self) -> str:
        return f"slice {self.pred}" if self.is_slice else f"{self.true} -> {self.pred}"

    def narrowed(self, tests: Sequence[int]) -> ErrorGroup:
        """The same group restricted to some of its test samples (test-set row positions)."""
        chosen = tuple(int(t) for t in tests)
        outside = sorted(set(chosen) - set(self.test_indices))
        if outside:
            raise UsageError(f"test samples {outside} are not in the error group {self.label}")
        if not chosen:
            raise UsageError(f"choose at least one test sample of the group {self.label}")
        return ErrorGroup(self.true, self.pred, self.true_code, self.pred_code, chosen)


def slice_group(slice_id: str, test_indices: Sequence[int]) -> ErrorGroup:
    """An error slice (tda_core._slices) as a group: attributed like a true -> predicted one."""
    return ErrorGroup(SLICE, str(slice_id), -1, -1, tuple(int(i) for i in test_indices))


@dataclass(frozen=True)
class ErrorReport:
    """The baseline ensemble on the test set: accuracy, confusion matrix, error groups."""

    accuracies: tuple[float, ...]
    confusion: np.ndarray  # (C, C): rows true class, columns predicted class
    predicted: np.ndarray  # (n_test,) class codes, argmax of the mean probability
    proba_mean: np.ndarray  # (n_test, C)
    loss: np.ndarray  # (n_test,) cross-entropy of the true class, mean over members
    groups: tuple[ErrorGroup, ...]  # largest first

    @property
    def error_indices(self) -> np.ndarray:
        """Every misclassified test row, sorted (the union of the error groups)."""
        return np.sort(np.concatenate([np.asarray(g.test_indices, dtype=np.int64) for g in self.groups] or [np.zeros(0, np.int64)]))

    @property
    def n_test(self) -> int:
        return int(self.confusion.sum())

    @property
    def n_errors(self) -> int:
        """Misclassified test rows of the ensemble's mean prediction."""
        return self.n_test - int(np.trace(self.confusion))

    @property
    def accuracy(self) -> float:
        """The accuracy shown: that of the ensemble's mean prediction, the prediction that decides
        which test rows are errors, so it is always ``1 - n_errors / n_test``."""
        return float(np.trace(self.confusion) / self.n_test) if self.n_test else float("nan")

    @property
    def accuracy_mean(self) -> float:
        """The mean of the members' own accuracies (kept in the JSON; :attr:`accuracy` is shown)."""
        return float(np.mean(self.accuracies))

    @property
    def accuracy_std(self) -> float:
        """The spread of the members' accuracies, shown as ± beside :attr:`accuracy`."""
        return float(np.std(self.accuracies, ddof=1)) if len(self.accuracies) > 1 else 0.0

    def find(self, true: str, pred: str) -> ErrorGroup:
        for group in self.groups:
            if group.true == str(true) and group.pred == str(pred):
                return group
        available = names(g.label for g in self.groups) or "none"
        raise UsageError(f"no test errors {true} -> {pred}; the error groups are: {available}")


def error_report(data: Dataset, test_proba: np.ndarray) -> ErrorReport:
    """Group the test errors of an ensemble's probabilities ``test_proba`` (E, n_test, C)."""
    proba_mean = test_proba.mean(axis=0)
    predicted = np.argmax(proba_mean, axis=1)
    confusion = confusion_matrix(data.y_test, predicted, labels=np.arange(data.n_classes))
    groups = []
    for t in range(data.n_classes):
        for p in range(data.n_classes):
            if t == p:
                continue
            idx = np.flatnonzero((data.y_test == t) & (predicted == p))
            if len(idx):
                groups.append(ErrorGroup(data.classes[t], data.classes[p], t, p, tuple(int(i) for i in idx)))
    groups.sort(key=lambda g: (-g.count, g.true_code, g.pred_code))
    return ErrorReport(
        accuracies=tuple(float(a) for a in accuracy(test_proba, data.y_test)),
        confusion=confusion,
        predicted=predicted,
        proba_mean=proba_mean,
        loss=METRICS["loss"].values(test_proba, data.y_test, predicted).mean(axis=0),
        groups=tuple(groups),
    )
