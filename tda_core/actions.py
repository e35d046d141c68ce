"""The three actions, as edits of a training set's (labels, weights).

An :class:`Edit` names an action and the training indices it applies to. ``new_labels``
holds the target class of each index for ``relabel`` (decided from the baseline ensemble),
so that an edit fully determines the counterfactual training set and can key the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from .exceptions import UsageError

Action = Literal["remove", "relabel", "upweight"]
ACTIONS: tuple[str, ...] = ("remove", "relabel", "upweight")
UPWEIGHT_FACTOR = 10.0


@dataclass(frozen=True)
class Edit:
    """An action applied to a set of training indices. ``Edit.none()`` is the baseline."""

    action: str
    indices: tuple[int, ...] = ()
    new_labels: tuple[int, ...] = ()

    @staticmethod
    def none() -> "Edit":
        return Edit("none")

    @property
    def is_baseline(self) -> bool:
        return self.action == "none" or not self.indices


def check_action(action: str) -> str:
    if action not in ACTIONS:
        raise UsageError(f"unknown action {action!r}: choose one of {', '.join(ACTIONS)}")
    return action


def relabel_targets(train_proba: np.ndarray, y_train: np.ndarray) -> np.ndarray:
    """The "next most likely class" of every training sample under the baseline ensemble.

    ``train_proba`` is the ensemble's mean probability, shape (n_train, n_classes).
    Binary: the other class. More classes: the predicted class if the baseline gets the
    sample wrong, otherwise the class with the second-highest probability.
    """
    n_classes = train_proba.shape[1]
    if n_classes == 2:
        return 1 - y_train
    order = np.argsort(-train_proba, axis=1, kind="stable")
    top, second = order[:, 0], order[:, 1]
    return np.where(top != y_train, top, second)


def make_edit(action: str, indices: Sequence[int], targets: np.ndarray | None = None) -> Edit:
    """Build an edit; ``targets`` (from :func:`relabel_targets`) is needed for relabel."""
    check_action(action)
    idx = tuple(int(i) for i in indices)
    if action == "relabel":
        if targets is None:
            raise ValueError("relabel needs the baseline's relabel targets")
        return Edit(action, idx, tuple(int(targets[i]) for i in idx))
    # Other actions ignore targets; accepting them keeps call sites uniform.
    return Edit(action, idx)


def apply_edit(y: np.ndarray, w: np.ndarray, edit: Edit) -> tuple[np.ndarray, np.ndarray]:
    """Return edited copies of labels and weights. Removal is weight 0 in place."""
    y, w = y.copy(), w.astype(np.float64, copy=True)
    idx = np.asarray(edit.indices, dtype=np.int64)
    if edit.action == "remove":
        w[idx] = 0.0
    elif edit.action == "upweight":
        w[idx] *= UPWEIGHT_FACTOR
    elif edit.action == "relabel":
        y[idx] = np.asarray(edit.new_labels, dtype=y.dtype)
    elif edit.action != "none":
        raise UsageError(f"unknown action {edit.action!r}")
    return y, w
