"""The actions on training samples: each one object that edits labels and weights.

An :class:`Action` is chosen once, at the boundary (:func:`get_action` turns the user's word
into the object and refuses unknown ones), and then carried around as the object. It knows
how it edits a training set, how it is described, and which gradient terms an influence
estimate needs, so adding an action touches this module only.

An :class:`Edit` is an action applied to some training indices, with the new labels of a
relabel decided from the baseline ensemble, so that an edit fully determines the
counterfactual training set and can key the cache. ``add`` acts on the dataset's *pool*
instead (samples outside the training set): its indices are pool indices.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .exceptions import UsageError

UPWEIGHT_FACTOR = 10.0


@dataclass(frozen=True)
class Edit:
    """An action (by name) applied to training indices. ``Edit.baseline()`` edits nothing."""

    action: str
    indices: tuple[int, ...] = ()
    new_labels: tuple[int, ...] = ()

    @staticmethod
    def baseline() -> Edit:
        return Edit("none")

    @property
    def is_baseline(self) -> bool:
        return self.action == "none" or not self.indices

    def apply(self, y: np.ndarray, w: np.ndarray, n_train: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Edited copies of labels ``y`` and float64 weights ``w`` of the fit rows: the first
        ``n_train`` are training rows (default: all), any after them pool rows (weight 0 until
        added). Removal is weight 0 in place; adding is weight 1 in place."""
        y, w = y.copy(), w.astype(np.float64, copy=True)
        if not self.is_baseline:
            action = ACTIONS[self.action]
            n_train = len(y) if n_train is None else int(n_train)
            part = slice(n_train, None) if action.on_pool else slice(0, n_train)
            indices = np.asarray(self.indices, dtype=np.int64)
            if indices.min() < 0 or indices.max() >= len(y[part]):
                where = "pool" if action.on_pool else "training set"
                raise IndexError(f"{self.action} indices {list(self.indices)} lie outside the {where} of {len(y[part])} rows")
            action.edit_in_place(y[part], w[part], indices, self.new_labels)  # views: edits y and w
        return y, w


class Action(abc.ABC):
    """One way of acting on training samples (see shared/DESIGN.md, "Actions")."""

    name: ClassVar[str]
    #: A short label for menus.
    title: ClassVar[str]
    #: Whether the edit needs each sample's new label (the baseline's "next most likely class").
    needs_targets: ClassVar[bool] = False
    #: Whether it acts on pool samples (outside the training set) rather than training samples.
    on_pool: ClassVar[bool] = False
    #: Influence estimates: the change of the training objective as (label, weight change)
    #: terms, where label is "old" (the sample's own) or "new" (its relabel target).
    gradient_terms: ClassVar[tuple[tuple[str, float], ...]]

    @abc.abstractmethod
    def edit_in_place(self, y: np.ndarray, w: np.ndarray, indices: np.ndarray, new_labels: Sequence[int]) -> None:
        """Apply the action to ``indices`` of labels ``y`` and weights ``w``."""

    def edit(self, indices: Sequence[int], targets: np.ndarray | None = None) -> Edit:
        """The edit of ``indices``; ``targets`` (from :func:`relabel_targets`) where needed."""
        idx = tuple(int(i) for i in indices)
        if not self.needs_targets:
            return Edit(self.name, idx)
        if targets is None:
            raise ValueError(f"{self.name} needs the baseline's relabel targets")
        return Edit(self.name, idx, tuple(int(targets[i]) for i in idx))

    def describe(self, n: int) -> str:
        """What acting on ``n`` samples means, in words ("remove 3 training samples")."""
        return f"{self.name} {n} training sample{'' if n == 1 else 's'}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Remove(Action):
    name = "remove"
    title = "Remove"
    gradient_terms = (("old", -1.0),)

    def edit_in_place(self, y: np.ndarray, w: np.ndarray, indices: np.ndarray, new_labels: Sequence[int]) -> None:
        w[indices] = 0.0


class Relabel(Action):
    name = "relabel"
    title = "Relabel to the next most likely class"
    needs_targets = True
    gradient_terms = (("old", -1.0), ("new", 1.0))

    def edit_in_place(self, y: np.ndarray, w: np.ndarray, indices: np.ndarray, new_labels: Sequence[int]) -> None:
        y[indices] = np.asarray(new_labels, dtype=y.dtype)


class Upweight(Action):
    name = "upweight"
    title = f"Upweight ×{UPWEIGHT_FACTOR:g}"
    gradient_terms = (("old", UPWEIGHT_FACTOR - 1.0),)

    def edit_in_place(self, y: np.ndarray, w: np.ndarray, indices: np.ndarray, new_labels: Sequence[int]) -> None:
        w[indices] *= UPWEIGHT_FACTOR

    def describe(self, n: int) -> str:
        return f"upweight {n} training sample{'' if n == 1 else 's'} x{UPWEIGHT_FACTOR:g}"


class Add(Action):
    """Lacking data: add pool samples (weight 0 -> 1). Its indices are pool indices."""

    name = "add"
    title = "Add from the pool"
    on_pool = True
    gradient_terms = (("old", 1.0),)

    def edit_in_place(self, y: np.ndarray, w: np.ndarray, indices: np.ndarray, new_labels: Sequence[int]) -> None:
        w[indices] = 1.0

    def describe(self, n: int) -> str:
        return f"add {n} pool sample{'' if n == 1 else 's'} to the training set"


ACTIONS: dict[str, Action] = {a.name: a for a in (Remove(), Relabel(), Upweight(), Add())}


def available_actions(has_pool: bool) -> tuple[Action, ...]:
    """The actions a dataset allows: ``add`` only where there is a pool to add from."""
    return tuple(a for a in ACTIONS.values() if has_pool or not a.on_pool)



def get_action(action: str | Action) -> Action:
    """The action named ``action`` (an :class:`Action` passes through)."""
    if isinstance(action, Action):
        return action
    try:
        return ACTIONS[action]
    except KeyError:
        raise UsageError(f"unknown action {action!r}: choose one of {', '.join(ACTIONS)}") from None


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
