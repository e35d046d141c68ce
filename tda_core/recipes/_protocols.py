"""What only some recipes do, as small runtime-checkable protocols: the engine, the analysis and
the UI ask ``isinstance(recipe, HasStart)`` instead of reading flags or probing attributes.

* :class:`HasStart`: a trained start per seed, which the engine trains, caches and counts as a unit.
* :class:`Estimates`: every sample's effect estimated without retraining it (candidate mode).
* :class:`Represents`: features in which "near" means "similar to the model" (every
  :class:`~tda_core.recipes._base.Recipe`: the standard preprocessing of a table by default).
* :class:`RoutesWeights`: whether sample weights reach every step (else upweighting duplicates rows).
* :class:`MeasuresTraining`: the memory one unit's training holds, measured before anything trains.
* :class:`TrainsNetworks`: a neural network, retrained whole or only its last layer, on a device.

A recipe class names the protocols it implements among its bases (``class
TorchRecipe(Recipe, HasStart, Estimates, ...)``), so that mypy checks their signatures; ``isinstance``
also accepts any object that has the members.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .._actions import Action
    from .._metrics import Metric
    from ..data._dataset import Dataset
    from ._base import Start

Shapes = dict[str, tuple[int | None, ...] | None]


@runtime_checkable
class HasStart(Protocol):
    """A recipe with a trained start per seed (head mode's feature network, logistic-lbfgs's
    optimum) that its estimates and representation read, and its training where
    :meth:`trains_from_start` says so."""

    def start_shapes(self, data: Dataset) -> Shapes:
        """The arrays :meth:`fit_start` returns, by name, with their shapes (``None``: any size);
        a cached start that differs is trained again."""
        ...

    def fit_start(self, data: Dataset, seed: int) -> dict[str, np.ndarray]:
        """The seed's start: float arrays by name."""
        ...

    def start_seed(self, seed: int) -> int:
        """The seed whose start serves ``seed``: ``seed`` itself, or one seed for every member where
        the start does not depend on it (then it is trained once, and the counterfactuals that start
        from it are one model for every member)."""
        ...

    def start_models(self) -> int:
        """Models :meth:`fit_start` trains (the engine counts them): 1, or 0 where it only reads
        uploaded weights."""
        ...

    def trains_from_start(self) -> bool:
        """Whether ``fit_predict`` reads the start (else only estimates and the representation do,
        and predictions never wait for it)."""
        ...


@runtime_checkable
class Estimates(Protocol):
    """A recipe that estimates every sample's effect without retraining it (candidate mode)."""

    #: How it estimates, in words shown to the user ("influence function").
    estimate_method: str

    def estimate_models(self) -> int:
        """Models :meth:`estimate_effects` trains for one seed (the engine counts them): 1 for the
        seed's baseline, 0 where it reads the start."""
        ...

    def estimate_effects(
        self,
        data: Dataset,
        seed: int,
        action: Action,
        new_labels: np.ndarray,
        test_indices: np.ndarray,
        y_pred: np.ndarray,
        metric: Metric,
        start: Start | None = None,
    ) -> np.ndarray:
        """Estimated change of the mean metric over ``test_indices`` for the action on each
        training sample, (n_train,) (for ``add``: on each pool sample, (n_pool,)), from the seed's
        baseline model."""
        ...


@runtime_checkable
class Represents(Protocol):
    """A recipe with features of the rows in which "near" means "similar to the model" (candidate
    groups, similar samples, representation clusters)."""

    def representation(self, data: Dataset, seed: int, start: Start | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Features of the training and test rows, dense or ``scipy.sparse``."""
        ...

    def pool_representation(self, data: Dataset, seed: int, start: Start | None = None) -> np.ndarray:
        """The pool rows in the space of :meth:`representation`."""
        ...


@runtime_checkable
class RoutesWeights(Protocol):
    """A recipe whose steps may not all accept sample weights (a user's scikit-learn pipeline)."""

    @property
    def weights_routed(self) -> bool:
        """Whether every step receives the sample weights (else upweighting duplicates the rows)."""
        ...

    @property
    def upweight_note(self) -> str:
        """How upweighting reaches the model, in words for a note beside an upweight ranking."""
        ...


@runtime_checkable
class MeasuresTraining(Protocol):
    """A recipe that measures the memory of its training before it trains (networks)."""

    def training_bytes(self, data: Dataset) -> int:
        """Bytes one unit of work's training holds on ``data`` (one worker's share of the budget)."""
        ...


@runtime_checkable
class TrainsNetworks(Protocol):
    """A recipe that trains neural networks: whole (``mode == "full"``) or only their last layer
    on frozen features (``"head"``), on ``device`` (``"auto"``, ``"cpu"`` or ``"cuda"``)."""

    mode: str
    device: str
