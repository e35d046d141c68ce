"""Design matrices of a table for the engine's linear recipes: read, one-hot and slice once.

The standard preprocessing (:mod:`~tda_core.recipes._preprocessing`) is fitted on the training
features without labels, so every counterfactual of every seed shares one design matrix. It is
built once per process and dataset and kept (a few datasets at most), instead of once per work
unit: on census income that was 3 s of every unit. Wide, sparse tables stay ``scipy.sparse``
(CSR); the bias is a last column of ones.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..data._dataset import Dataset
from ._base import Recipe
from ._preprocessing import tabular_preprocessor

#: Datasets whose design matrices a process keeps (the analyses of a dashboard session).
KEEP = 2
_designs: OrderedDict[str, Design] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class Design:
    """The fitted preprocessing and the design matrices (with a bias column) of one dataset."""

    prep: Any
    fit: Any  # the fit rows: training rows, then pool rows
    test: Any
    n_train: int

    @property
    def width(self) -> int:
        return int(self.fit.shape[1])

    def train(self) -> Any:
        return self.fit[: self.n_train]

    def pool(self) -> Any:
        return self.fit[self.n_train :]

    def eval_rows(self, eval_on: str) -> Any:
        """The test rows, or the training rows followed by the test rows."""
        if eval_on == "test":
            return self.test
        return sp.vstack([self.train(), self.test], format="csr") if sp.issparse(self.fit) else np.vstack([self.train(), self.test])


def with_bias(Xt: Any) -> Any:
    """``Xt`` with a last column of ones, float64, CSR where sparse."""
    if sp.issparse(Xt):
        return sp.hstack([Xt, np.ones((Xt.shape[0], 1))], format="csr", dtype=np.float64)
    Xt = np.asarray(Xt, dtype=np.float64)
    return np.hstack([Xt, np.ones((Xt.shape[0], 1))])


def dense(X: Any) -> np.ndarray:
    return X.toarray() if sp.issparse(X) else np.asarray(X)


def has_design(data: Dataset) -> bool:
    """Whether this process holds the design matrices of ``data`` already."""
    with _lock:
        return data.fingerprint in _designs


def design(data: Dataset) -> Design:
    """The design matrices of ``data``, built once per process (see the module docstring)."""
    with _lock:
        if data.fingerprint in _designs:
            _designs.move_to_end(data.fingerprint)
            return _designs[data.fingerprint]
    prep = tabular_preprocessor(sparse=True).fit(data.X_train)
    fit = with_bias(prep.transform(data.X_train))
    if data.has_pool:
        pool = with_bias(prep.transform(data.X_pool))
        fit = sp.vstack([fit, pool], format="csr") if sp.issparse(fit) else np.vstack([fit, pool])
    made = Design(prep, fit, with_bias(prep.transform(data.X_test)), data.n_train)
    with _lock:
        _designs[data.fingerprint] = made
        while len(_designs) > KEEP:
            _designs.popitem(last=False)
    return made


class DesignRecipe(Recipe):
    """A recipe that trains on the design matrices of a table (the engine's linear recipes): the
    engine builds them once per process before any unit, as the "preprocessing" phase."""

    def prepares(self, data: Dataset) -> bool:
        return data.kind == "tabular" and not has_design(data)

    def prepare(self, data: Dataset) -> None:
        design(data)
