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
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from ._exceptions import UsageError

if TYPE_CHECKING:
    from .data._dataset import Dataset

UPWEIGHT_FACTOR = 10.0


@dataclass(frozen=True)
class Subject:
    """What an action's indices number: training samples, or pool samples (labelled samples outside
    the training set that ``add`` draws from). Rankings, effects and similar samples name their
    subject with this, and every JSON key and label of an index comes from it."""

    name: Literal["train", "pool"]
    #: One sample, in words: "training sample", "pool sample".
    noun: str
    #: Where the samples live: "training set", "pool".
    place: str

    @property
    def index_key(self) -> str:
        """The JSON key of one index: ``train_index`` or ``pool_index``."""
        return f"{self.name}_index"

    @property
    def indices_key(self) -> str:
        """The JSON key of a list of indices: ``train_indices`` or ``pool_indices``."""
        return f"{self.name}_indices"

    def sample_name(self, index: int) -> str:
        """How one sample is named in tables and pickers: 'train #12', 'pool #3'."""
        return f"{self.name} #{int(index)}"

    def count(self, n: int) -> str:
        """'1 training sample', '8 pool samples'."""
        return f"{n:,} {self.noun}{'' if n == 1 else 's'}"

    def size(self, data: Dataset) -> int:
        """How many samples of this subject ``data`` holds."""
        return data.n_pool if self.name == "pool" else data.n_train

    def labels(self, data: Dataset) -> np.ndarray:
        """The class codes of this subject's samples in ``data``."""
        return data.pool_labels() if self.name == "pool" else data.y_train

    def row_id(self, data: Dataset, index: int) -> object:
        """The sample's original id (a table's id column, an image's file name)."""
        return data.pool_id(index) if self.name == "pool" else data.train_id(index)

    def thumbnails(self, data: Dataset) -> np.ndarray | None:
        """Small pictures of this subject's samples (images only)."""
        return data.thumbnails_pool if self.name == "pool" else data.thumbnails_train

    def identify(self, data: Dataset, row: dict) -> None:
        """Add to a JSON row (holding ``index_key``) the sample's original id: ``pool_id`` with its
        label (pool samples are in no table the user sees), or a table's ``train_id``."""
        index = int(row[self.index_key])
        if self.name == "pool":
            row["pool_id"] = self.row_id(data, index)
            row["label"] = data.classes[int(self.labels(data)[index])]
        elif data.kind == "tabular":
            row["train_id"] = self.row_id(data, index)


TRAINING = Subject("train", "training sample", "training set")
POOL = Subject("pool", "pool sample", "pool")


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
                raise IndexError(f"{self.action} indices {list(self.indices)} lie outside the {action.subject.place} of {len(y[part])} rows")
            action.edit_in_place(y[part], w[part], indices, self.new_labels)  # views: edits y and w
        return y, w


class Action(abc.ABC):
    """One way of acting on training samples (see shared/DESIGN.md, "Actions")."""

    name: ClassVar[str]
    #: A short label for menus.
    title: ClassVar[str]
    #: The verb in sentences and buttons: "Remove", "Upweight ×10".
    verb: ClassVar[str]
    #: What the action does to one sample in a single-sample ranking, in one sentence.
    description: ClassVar[str]
    #: The samples' state once the group is acted on, in a report: "acted on", "added".
    past: ClassVar[str] = "acted on"
    #: What its name means, in a few words for a table's legend.
    meaning: ClassVar[str]
    #: Whether the edit needs each sample's new label (the baseline's "next most likely class").
    needs_targets: ClassVar[bool] = False
    #: What its indices number: training samples, or pool samples (outside the training set).
    subject: ClassVar[Subject] = TRAINING
    #: Influence estimates: the change of the training objective as (label, weight change)
    #: terms, where label is "old" (the sample's own) or "new" (its relabel target).
    gradient_terms: ClassVar[tuple[tuple[str, float], ...]]

    @property
    def on_pool(self) -> bool:
        """Whether it acts on pool samples (for the training layers, which place the rows)."""
        return self.subject is POOL

    @abc.abstractmethod
    def edit_text(self, label: str, new_label: str | None) -> str:
        """What the edit does to one sample of class ``label`` (``new_label``: its relabel target),
        as the tables say it: 'remove (bad)', 'bad → good'."""

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
        return f"{self.verb.lower()} {self.subject.count(n)}"

    def gloss(self, data: Dataset) -> str:
        """The action's name in a table's legend: "remove: leave the samples out"."""
        return f"{self.name}: {self.meaning}"

    def at_once(self) -> str:
        """The group effect's edit, as progress names it: "the selected samples edited at once (remove)"."""
        return f"the selected samples edited at once ({self.name})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Remove(Action):
    name = "remove"
    title = "Remove"
    verb = "Remove"
    meaning = "leave the samples out"
    description = "Remove: each training sample is left out on its own, and the ensemble retrained without it."
    gradient_terms = (("old", -1.0),)

    def edit_text(self, label: str, new_label: str | None) -> str:
        return f"remove ({label})"

    def edit_in_place(self, y: np.ndarray, w: np.ndarray, indices: np.ndarray, new_labels: Sequence[int]) -> None:
        w[indices] = 0.0


class Relabel(Action):
    name = "relabel"
    title = "Relabel to the next most likely class"
    verb = "Relabel"
    meaning = "to the next most likely class"
    description = "Relabel: each training sample gets the next most likely class on its own, and the ensemble is retrained."
    needs_targets = True
    gradient_terms = (("old", -1.0), ("new", 1.0))

    def edit_text(self, label: str, new_label: str | None) -> str:
        return f"{label} → {new_label}" if new_label is not None else f"relabel ({label})"

    def edit_in_place(self, y: np.ndarray, w: np.ndarray, indices: np.ndarray, new_labels: Sequence[int]) -> None:
        y[indices] = np.asarray(new_labels, dtype=y.dtype)


class Upweight(Action):
    name = "upweight"
    title = f"Upweight ×{UPWEIGHT_FACTOR:g}"
    verb = f"Upweight ×{UPWEIGHT_FACTOR:g}"
    meaning = f"×{UPWEIGHT_FACTOR:g}"
    description = "Upweight: each training sample counts ten times on its own, and the ensemble is retrained."
    gradient_terms = (("old", UPWEIGHT_FACTOR - 1.0),)

    def edit_text(self, label: str, new_label: str | None) -> str:
        return f"{label}, weight ×{UPWEIGHT_FACTOR:g}"

    def edit_in_place(self, y: np.ndarray, w: np.ndarray, indices: np.ndarray, new_labels: Sequence[int]) -> None:
        w[indices] *= UPWEIGHT_FACTOR

    def describe(self, n: int) -> str:
        return f"upweight {self.subject.count(n)} x{UPWEIGHT_FACTOR:g}"


class Add(Action):
    """Lacking data: add pool samples (weight 0 -> 1). Its indices are pool indices."""

    name = "add"
    title = "Add from the pool"
    verb = "Add"
    meaning = "add from the pool"
    description = ("Add from the pool: each pool sample (labelled, outside the training set) is added to the training set on "
                   "its own with its label, and the ensemble retrained; the selected ones are then added at once.")
    subject = POOL
    past = "added"
    gradient_terms = (("old", 1.0),)

    def edit_text(self, label: str, new_label: str | None) -> str:
        return f"add ({label})"

    def edit_in_place(self, y: np.ndarray, w: np.ndarray, indices: np.ndarray, new_labels: Sequence[int]) -> None:
        w[indices] = 1.0

    def describe(self, n: int) -> str:
        return f"add {self.subject.count(n)} to the training set"

    def at_once(self) -> str:
        return "the selected pool samples added at once"

    def gloss(self, data: Dataset) -> str:
        return f"{super().gloss(data)} ({self.subject.size(data):,} samples outside the training set)"


ACTIONS: dict[str, Action] = {a.name: a for a in (Remove(), Relabel(), Upweight(), Add())}


def available_actions(has_pool: bool) -> tuple[Action, ...]:
    """The actions a dataset allows: ``add`` only where there is a pool to add from."""
    return tuple(a for a in ACTIONS.values() if has_pool or a.subject is not POOL)


def subject_of(action: str | Action) -> Subject:
    """What the indices of ``action`` number (training or pool samples)."""
    return get_action(action).subject


def edit_text(action: str | Action, data: Dataset, targets: np.ndarray | None, index: int) -> str:
    """What ``action`` does to its sample ``index`` of ``data`` (a pool index for add): 'remove (bad)'.
    ``targets`` are the baseline's relabel targets of the training samples."""
    action = get_action(action)
    label = data.classes[int(action.subject.labels(data)[index])]
    new = None if targets is None or not action.needs_targets else data.classes[int(targets[index])]
    return action.edit_text(label, new)


def get_action(action: str | Action) -> Action:
    """The action named ``action`` (an :class:`Action` passes through)."""
    if isinstance(action, Action):
        return action
    try:
        return ACTIONS[action]
    except KeyError as exc:
        raise UsageError(f"unknown action {action!r}: choose one of {', '.join(ACTIONS)}") from exc


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
