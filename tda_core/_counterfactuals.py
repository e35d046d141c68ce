"""What a ranking keeps of each counterfactual model: the test rows its views read, and its accuracy.

A ranking of N edits over E members used to keep every test probability, N x E x n_test x C,
which is what stopped a 20,000-row table on one machine (shared/DESIGN.md, "Scale and memory").
The views need less: the metric on the chosen error rows (loss, true-class and predicted-class
probability all come from the probabilities of those rows, so the metric and the group size switch
freely), and the accuracy and per-class accuracy of each model. So a counterfactual is kept as its
probabilities on the *kept rows* (the union of the baseline's test errors, or one group's rows when
that union does not fit the budget) and two counts over all test rows. Probabilities stay in the
recipe's own precision, which keeps every delta exact (the exactness bound of shared/DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._exceptions import UsageError


@dataclass(frozen=True)
class OnDisk:
    """Kept probabilities (N, E, R, C) left in the engine's cache, one safetensors entry per work
    unit, for a ranking whose kept rows would not fit in memory (the plan "exact, on disk"). They
    are read a group's rows at a time (``proba[:, :, positions]``, what :meth:`Counterfactuals.at`
    asks), one unit's entry in memory at once; the entries' digests are checked on every read."""

    shape: tuple[int, int, int, int]
    read: Callable[[np.ndarray], np.ndarray]

    def __getitem__(self, index: Any) -> np.ndarray:
        if isinstance(index, tuple) and len(index) == 3 and index[0] == slice(None) and index[1] == slice(None):
            return self.read(np.asarray(index[2], dtype=np.int64))
        raise TypeError("kept rows on disk are read a group's rows at a time: proba[:, :, positions]")


@dataclass(frozen=True)
class Counterfactuals:
    """N counterfactual models of E members each, summarised for the views.

    ``rows`` are the test rows whose probabilities are kept (sorted); ``proba`` (N, E, R, C) holds
    them, in memory or :class:`OnDisk`. ``correct`` (N, E) counts the correctly predicted test rows of each model among all
    ``n_test``, ``class_correct`` (N, E, C) per true class."""

    rows: np.ndarray
    proba: np.ndarray | OnDisk
    correct: np.ndarray
    class_correct: np.ndarray
    n_test: int

    def __len__(self) -> int:
        return int(self.proba.shape[0])

    def positions(self, tests: np.ndarray | list[int] | tuple[int, ...]) -> np.ndarray | None:
        """Where the test rows ``tests`` lie in :attr:`rows`, or None when some are not kept."""
        tests = np.asarray(tests, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.rows, tests), max(0, len(self.rows) - 1))
        if len(tests) and (not len(self.rows) or not np.array_equal(self.rows[pos], tests)):
            return None
        return pos

    def covers(self, tests: np.ndarray | list[int] | tuple[int, ...]) -> bool:
        """Whether the probabilities of every test row in ``tests`` are kept."""
        return self.positions(tests) is not None

    def at(self, tests: np.ndarray | list[int] | tuple[int, ...]) -> np.ndarray:
        """Probabilities (N, E, len(tests), C) of the test rows ``tests`` (which must be kept)."""
        pos = self.positions(tests)
        if pos is None:
            raise UsageError("these test rows were not kept with the ranking; rank this error group again")
        return self.proba[:, :, pos]

    @property
    def accuracy(self) -> np.ndarray:
        """Test accuracy of every model (N, E)."""
        return self.correct / max(1, self.n_test)

    def take(self, order: np.ndarray) -> Counterfactuals:
        """The counterfactuals ``order`` (indices into the first axis), in that order."""
        return Counterfactuals(self.rows, self.proba[order], self.correct[order], self.class_correct[order], self.n_test)


def summarize(proba: np.ndarray, y_test: np.ndarray, rows: np.ndarray, n_classes: int) -> dict[str, np.ndarray]:
    """The arrays a work unit stores for its models' test probabilities ``proba`` (..., n_test, C):
    the kept rows' probabilities and the counts of correct predictions, overall and per class."""
    predicted = np.argmax(proba, axis=-1)
    hit = predicted == np.asarray(y_test)
    onehot = np.eye(n_classes)[np.asarray(y_test)]  # (n_test, C)
    return {
        "proba": np.ascontiguousarray(proba[..., rows, :]),
        # Counts as float64 (exact to 2**53): the cache holds float arrays only.
        "correct": hit.sum(axis=-1).astype(np.float64),
        "class_correct": (hit.astype(np.float64) @ onehot),
    }


def merge(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Summaries of consecutive blocks of test rows (each block's ``proba`` holds its own kept rows,
    already in order) joined into the summary of all of them."""
    return {
        "proba": np.concatenate([p["proba"] for p in parts], axis=-2),
        "correct": np.sum([p["correct"] for p in parts], axis=0),
        "class_correct": np.sum([p["class_correct"] for p in parts], axis=0),
    }
