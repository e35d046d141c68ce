"""Training loops for networks: one at a time, or many stacked with ``torch.func``.

Both loops take the same inputs (a starting network, the training rows, each model's labels and
weights, the seed of the batch order) and record the probabilities on ``X_eval`` at the
``record`` epochs. The loss of a batch is ``sum_i w_i * ce_i / batch_size`` (divided by the
number of training rows in the batch, not by the sum of weights), so a removed sample (weight 0) keeps its place in the
batch order and every other sample gets exactly the gradient it had in the baseline.

Both run on the device of their tensors (the network and ``X`` on the same device); the batch
order and the initialisation come from CPU generators, so a seed means the same batches and the
same starting weights on every device.

torch is imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .networks import predict_proba

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

#: Rows per forward pass when predicting (times the number of stacked models).
EVAL_ROWS = 8192
#: Kernels without a deterministic CUDA implementation (adaptive average pooling's and
#: gather's backward) warn under ``warn_only``; these warnings are expected and not shown.
NONDETERMINISTIC_WARNING = r".*does not have a deterministic implementation.*"


@dataclass(frozen=True)
class Optimisation:
    """How a network is optimised: AdamW over ``epochs`` of mini-batches."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float


@contextlib.contextmanager
def deterministic(threads: int | None = None, device: str | torch.device | None = None) -> Iterator[None]:
    """Deterministic algorithms, and ``threads`` torch threads (None: as is), restored after.

    On a CUDA ``device`` also: full float32 (no TF32) in matrix products and convolutions, no
    cuDNN autotuning, and the warnings of the few kernels that have no deterministic CUDA
    implementation silenced; all restored after."""
    import torch

    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    before = torch.get_num_threads()
    cuda = device is not None and torch.device(device).type == "cuda"
    if cuda:
        flags = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads is not None and threads != before:
        torch.set_num_threads(threads)
    try:
        with warnings.catch_warnings():
            if cuda:
                torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
                torch.backends.cudnn.benchmark = False
                warnings.filterwarnings("ignore", message=NONDETERMINISTIC_WARNING)
            yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
        if cuda:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = flags


def batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch's mini-batches: a seeded permutation cut into ceil(n / batch_size) near-equal
    parts (so that no batch has a single sample, which batch norm would refuse)."""
    import torch

    perm = torch.randperm(n, generator=generator)
    return list(torch.tensor_split(perm, max(1, math.ceil(n / batch_size))))


def epochs_of_batches(
    n_train: int, n_fit: int, batch_size: int, seed: int, epochs: int, generator: torch.Generator, active: np.ndarray
) -> Iterator[tuple[int, list[tuple[torch.Tensor, int]]]]:
    """Each epoch (from 1) and its mini-batches as (fit-row indices, number of training rows).

    The training rows' batches are :func:`batches` of ``n_train``; rows from ``n_train`` to
    ``n_fit`` are pool rows, of which only the ``active`` ones (added by some model) join their
    batch (:func:`~tda_core.recipes.base.pool_batches`). A batch's loss is divided by its number
    of training rows, so a pool without added samples changes nothing."""
    import torch

    from ..base import pool_batches, with_pool_rows

    n_batches = max(1, math.ceil(n_train / batch_size))
    placement = pool_batches(n_fit - n_train, n_batches, seed, epochs)
    for epoch in range(1, epochs + 1):
        parts = []
        for k, idx in enumerate(batches(n_train, batch_size, generator)):
            rows = with_pool_rows(idx.numpy(), k, placement[epoch - 1], active, n_train)
            parts.append((idx if len(rows) == len(idx) else torch.from_numpy(rows), len(idx)))
        yield epoch, parts


def fit_network(
    start: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor,
    X_eval: torch.Tensor,
    seed: int,
    optimisation: Optimisation,
    record: Sequence[int],
    n_train: int | None = None,
) -> tuple[nn.Module, np.ndarray]:
    """Train a copy of ``start`` on one edited training set: the trained network and its
    probabilities at the ``record`` epochs, (len(record), n_eval, C). The copy trains on the
    device of ``X`` (all tensors there). Rows from ``n_train`` on (default: none) are pool rows
    (see :func:`epochs_of_batches`)."""
    import torch
    import torch.nn.functional as F

    model = copy.deepcopy(start).to(X.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=optimisation.lr, weight_decay=optimisation.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    n_train = len(y) if n_train is None else int(n_train)
    # Only added pool rows join a batch: batch norm sees no row that the model does not train on.
    active = np.flatnonzero(w[n_train:].cpu().numpy() > 0)
    snaps = []
    for epoch, parts in epochs_of_batches(n_train, len(y), optimisation.batch_size, seed, optimisation.epochs, generator, active):
        model.train()
        for idx, n_rows in parts:
            idx = idx.to(X.device)
            ce = F.cross_entropy(model(X[idx]), y[idx], reduction="none")
            loss = (w[idx] * ce).sum() / n_rows
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if epoch in record and len(X_eval):
            snaps.append(predict_proba(model, X_eval))
    return model, (np.stack(snaps) if snaps else np.zeros(0, dtype=np.float32))


def fit_stacked(
    start: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    W: torch.Tensor,
    X_eval: torch.Tensor,
    seed: int,
    optimisation: Optimisation,
    record: Sequence[int],
    n_train: int | None = None,
) -> np.ndarray:
    """Train B copies of ``start`` at once, one per row of ``Y``/``W`` (B, N), with ``torch.func``:
    parameters stacked along a new first dimension, ``vmap`` over them, one AdamW over the
    stacked tensors (AdamW is elementwise, so each slice follows exactly its own optimiser).
    Probabilities (B, len(record), n_eval, C). Needs a network without batch norm or dropout.
    Trains on the device of ``X`` (all tensors there). Rows from ``n_train`` on are pool rows
    (see :func:`epochs_of_batches`); one added by any of the B models joins its batch for all,
    at weight 0 in the others, which adds exactly nothing to their loss."""
    import torch
    from torch.func import functional_call, vmap

    B = Y.shape[0]
    start = start.to(X.device)
    base = {k: v.detach() for k, v in start.named_parameters()}
    buffers = {k: v.detach() for k, v in start.named_buffers()}
    params = {k: v.unsqueeze(0).repeat(B, *([1] * v.dim())).requires_grad_(True) for k, v in base.items()}

    def forward(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(start, (p, buffers), (x,))

    batched = vmap(forward, in_dims=(0, None))
    optimizer = torch.optim.AdamW(list(params.values()), lr=optimisation.lr, weight_decay=optimisation.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    n_train = Y.shape[1] if n_train is None else int(n_train)
    active = np.flatnonzero((W[:, n_train:] > 0).any(dim=0).cpu().numpy())
    snaps = []
    start.train()
    for epoch, parts in epochs_of_batches(n_train, Y.shape[1], optimisation.batch_size, seed, optimisation.epochs, generator, active):
        for idx, n_rows in parts:
            idx = idx.to(X.device)
            logits = batched(params, X[idx])  # (B, m, C)
            ce = -torch.log_softmax(logits, dim=-1).gather(-1, Y[:, idx, None]).squeeze(-1)
            loss = (W[:, idx] * ce).sum() / n_rows
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if epoch in record:
            with torch.no_grad():
                rows = max(1, EVAL_ROWS // B)
                proba = torch.cat(
                    [torch.softmax(batched(params, X_eval[i : i + rows]), dim=-1) for i in range(0, len(X_eval), rows)],
                    dim=1,
                )
            snaps.append(proba.cpu().numpy())
    return np.stack(snaps, axis=1)
