"""Training loops for networks: one at a time, or many stacked with ``torch.func``.

Both loops take the same inputs (a starting network, the training rows, each model's labels and
weights, the seed of the batch order) and record the probabilities on ``X_eval`` at the
``record`` epochs. The loss of a batch is ``sum_i w_i * ce_i / batch_size`` (divided by the
batch size, not by the sum of weights), so a removed sample (weight 0) keeps its place in the
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


def fit_network(
    start: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor,
    X_eval: torch.Tensor,
    seed: int,
    optimisation: Optimisation,
    record: Sequence[int],
) -> tuple[nn.Module, np.ndarray]:
    """Train a copy of ``start`` on one edited training set: the trained network and its
    probabilities at the ``record`` epochs, (len(record), n_eval, C). The copy trains on the
    device of ``X`` (all tensors there)."""
    import torch
    import torch.nn.functional as F

    model = copy.deepcopy(start).to(X.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=optimisation.lr, weight_decay=optimisation.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    snaps = []
    for epoch in range(1, optimisation.epochs + 1):
        model.train()
        for idx in batches(len(y), optimisation.batch_size, generator):
            idx = idx.to(X.device)
            ce = F.cross_entropy(model(X[idx]), y[idx], reduction="none")
            loss = (w[idx] * ce).sum() / len(idx)
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
) -> np.ndarray:
    """Train B copies of ``start`` at once, one per row of ``Y``/``W`` (B, N), with ``torch.func``:
    parameters stacked along a new first dimension, ``vmap`` over them, one AdamW over the
    stacked tensors (AdamW is elementwise, so each slice follows exactly its own optimiser).
    Probabilities (B, len(record), n_eval, C). Needs a network without batch norm or dropout.
    Trains on the device of ``X`` (all tensors there)."""
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
    snaps = []
    start.train()
    for epoch in range(1, optimisation.epochs + 1):
        for idx in batches(Y.shape[1], optimisation.batch_size, generator):
            idx = idx.to(X.device)
            logits = batched(params, X[idx])  # (B, m, C)
            ce = -torch.log_softmax(logits, dim=-1).gather(-1, Y[:, idx, None]).squeeze(-1)
            loss = (W[:, idx] * ce).sum() / len(idx)
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
