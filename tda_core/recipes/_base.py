"""The recipe protocol: how to train the ensemble members of a model on an edited training set.

A recipe is shaped like a scikit-learn estimator: its constructor only stores parameters,
``get_params``/``set_params`` and ``sklearn.base.clone`` work on it, and it is validated when
it is used (:meth:`Recipe.validate`, which the analysis calls before any training). It is the
unit the engine retrains: :meth:`Recipe.fit_predict` trains one model per
:class:`~tda_core._actions.Edit` for one seed and returns their class probabilities, so a
recipe that can train many models at once does so, and one that cannot simply loops.

What only some recipes do is a small protocol of :mod:`~tda_core.recipes._protocols`, asked with
``isinstance``: a trained *start* per seed (:class:`~.protocols.HasStart`: head mode trains a
feature network first, which the engine trains as a work unit of its own, cached and counted, and
hands to ``fit_predict``), estimates (:class:`~.protocols.Estimates`), weight routing, a measured
training memory, a network's mode and device.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import joblib
import numpy as np
from sklearn.base import BaseEstimator

from .._actions import Edit
from .._counterfactuals import summarize
from .._exceptions import ModelError
from ..data._dataset import Dataset

EvalOn = Literal["test", "train+test"]
Start = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Member:
    """One ensemble member: a seed of the recipe and, where it records them, a checkpoint slot."""

    seed: int
    checkpoint: int = 0


class Recipe(BaseEstimator, abc.ABC):
    """A training recipe (see the module docstring). Subclasses implement ``fit_predict``."""

    #: "drop": removed rows leave the training set (refit as a user would by hand);
    #: "zero_weight": they keep their place with weight 0, so batch order stays paired.
    removal: ClassVar[Literal["drop", "zero_weight"]] = "drop"
    #: Bumped when a change of the code changes what the recipe trains (it keys the cache).
    version: ClassVar[int] = 1
    #: The name the user gave, for recipes that take one (``name=``); else the class's.
    name: str | None = None

    # --- what the engine asks ------------------------------------------------------------

    @property
    def display_name(self) -> str:
        """The name shown to the user."""
        return self.name or type(self).__name__

    @property
    def chunk_size(self) -> int:
        """Edits per unit of cached work; larger for recipes that train a batch at once."""
        return 16

    def chunk_for(self, data: Dataset) -> int:
        """Edits per unit for ``data``: :attr:`chunk_size`, fewer where a unit's stacked arrays
        would grow past a bounded size (recipes that stack models over the rows say so)."""
        return self.chunk_size

    @property
    def checkpoint_epochs(self) -> tuple[int, ...]:
        """Epochs recorded per run as members; empty means one member per seed (the default)."""
        return ()

    @property
    def members_per_run(self) -> int:
        return max(1, len(self.checkpoint_epochs))

    def members(self, ensemble: int, seed: int = 0) -> list[Member]:
        """The first ``ensemble`` members, seeds counting up from ``seed``. With checkpoints,
        consecutive members are checkpoints of one run (the study's scheme)."""
        per_run = self.members_per_run
        runs = -(-ensemble // per_run)
        return [Member(seed + r, c) for r in range(runs) for c in range(per_run)][:ensemble]

    def models_trained(self, edits: Sequence[Edit]) -> int:
        """How many models :meth:`fit_predict` trains for ``edits`` (the engine counts them)."""
        return len(edits)

    def validate(self, data: Dataset) -> None:
        """Raise :class:`ModelError` if the parameters cannot train on ``data``."""

    def prepares(self, data: Dataset) -> bool:
        """Whether :meth:`prepare` has one-off work to do for ``data`` in this process (the design
        matrices of a table, for a :class:`~tda_core.recipes._design.DesignRecipe`, not built yet)."""
        return False

    def prepare(self, data: Dataset) -> None:
        """One-off work before training (built once per process), so that the engine can show it
        as a phase of its own."""

    @abc.abstractmethod
    def fit_predict(
        self, data: Dataset, edits: Sequence[Edit], seed: int, eval_on: EvalOn = "test", start: Start | None = None
    ) -> np.ndarray:
        """Train one model per edit with ``seed``; return probabilities of shape
        (len(edits), members_per_run, n_eval, n_classes), float64 (float32 for networks,
        which compute in float32). ``eval_on="train+test"`` evaluates the training rows first."""

    def fit_summary(
        self, data: Dataset, edits: Sequence[Edit], seed: int, rows: np.ndarray, start: Start | None = None
    ) -> dict[str, np.ndarray]:
        """What a ranking keeps of the models :meth:`fit_predict` trains on the test set
        (:func:`tda_core._counterfactuals.summarize`: the test rows ``rows``' probabilities and the
        counts of correct predictions). Recipes that can predict in blocks override it, so that a
        unit never holds every test probability of every model at once."""
        proba = self.fit_predict(data, edits, seed, "test", start)
        return summarize(proba, data.y_test, rows, data.n_classes)

    def representation(self, data: Dataset, seed: int, start: Start | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Features of the training and test rows in which "near" means "similar to the model"
        (candidate groups), dense or ``scipy.sparse`` (:class:`~.protocols.Represents`). Default:
        the standard tabular preprocessing."""
        from ._design import design

        if data.kind != "tabular":
            raise ModelError(f"{self.display_name} has no representation for {data.kind} data")
        made = design(data)  # built once per process; the bias column is no feature; sparse stays sparse
        return made.train()[:, :-1], made.test[:, :-1]

    def pool_representation(self, data: Dataset, seed: int, start: Start | None = None) -> np.ndarray:
        """The pool rows in the space of :meth:`representation` (similar pool samples).
        Default: the standard tabular preprocessing fitted on the training rows."""
        from ._design import design

        if data.kind != "tabular":
            raise ModelError(f"{self.display_name} has no representation for {data.kind} data")
        return design(data).pool()[:, :-1]

    def fingerprint(self) -> str:
        """A hash of everything that changes what the recipe trains (it keys the cache)."""
        return joblib.hash((type(self).__qualname__, self.version, self.removal, self._fingerprint_params()))

    def _fingerprint_params(self) -> Any:
        return {k: v for k, v in self.get_params(deep=False).items() if k != "name"}

    def describe(self) -> dict[str, Any]:
        """JSON-ready: the name and the parameters."""
        params = {k: v for k, v in self.get_params(deep=False).items() if isinstance(v, (int, float, str, bool, type(None)))}
        return params | {"name": self.display_name, "removal": self.removal, "checkpoints": list(self.checkpoint_epochs)}


def eval_features(data: Dataset, eval_on: EvalOn) -> Any:
    """The rows a recipe predicts on: the test set, or the train rows followed by the test rows."""
    if eval_on == "test":
        return data.X_test
    if data.kind == "tabular":
        import pandas as pd

        return pd.concat([data.X_train, data.X_test], ignore_index=True)
    return np.concatenate([data.X_train, data.X_test])


def edited_arrays(data: Dataset, edits: Sequence[Edit], compact: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Labels and weights (B, n_fit) of every edit over the fit rows (training rows, then pool
    rows at weight 0 unless added), for recipes that train them stacked. ``compact``: labels as
    int16 and weights as float32 where that holds them exactly (0, 1, 10 do), a third of the
    memory on a large table."""
    y, w = data.y_fit, data.fit_weights()
    label_type = np.int16 if compact and data.n_classes < 2**15 else y.dtype
    Y = np.empty((len(edits), len(y)), dtype=label_type)
    W = np.empty((len(edits), len(y)), dtype=np.float32 if compact else np.float64)
    for k, e in enumerate(edits):  # one edit's full-length copy at a time
        Y[k], weights = e.apply(y, w, data.n_train)
        if W.dtype != weights.dtype and not np.array_equal(weights.astype(W.dtype), weights):
            W = W.astype(np.float64)  # a weight float32 cannot hold exactly: keep float64
        W[k] = weights
    return Y, W


def pool_batches(n_pool: int, n_batches: int, seed: int, epochs: int) -> np.ndarray:
    """The mini-batch of every pool row in every epoch, (epochs, n_pool).

    Pool rows join the batches of the training rows instead of taking part in their
    permutation, from a random stream of their own: the training rows' batches stay exactly
    those of a model without a pool, and a pool row at weight 0 is left out altogether, so a
    pool changes nothing until a sample is added (and adding one is then a paired difference,
    like removing one). A pool row's batch does not depend on which other rows are added."""
    rng = np.random.default_rng([int(seed), 0x9001])
    return rng.integers(0, max(1, n_batches), size=(epochs, n_pool))


def with_pool_rows(batch: np.ndarray, k: int, epoch_pool: np.ndarray, active: np.ndarray, n_train: int) -> np.ndarray:
    """Training-row indices ``batch`` (the ``k``-th batch of an epoch) followed by the fit-row
    indices of the ``active`` pool rows that fall into that batch (``epoch_pool``: each pool
    row's batch in this epoch, from :func:`pool_batches`)."""
    if not len(active):
        return batch
    joining = active[epoch_pool[active] == k]
    return np.concatenate([batch, n_train + joining]) if len(joining) else batch
