"""Head-only training: linear heads on a network's frozen features, many trained at once.

torch is imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._training import epochs_of_batches

if TYPE_CHECKING:  # pragma: no cover
    import torch


def train_heads(
    F_train: torch.Tensor,
    Y: torch.Tensor,
    W: torch.Tensor,
    F_eval: torch.Tensor,
    n_classes: int,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    checkpoints: Sequence[int],
    return_weights: bool = False,
    n_train: int | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train B linear heads at once on frozen features; probabilities (B, members, n_eval, C).

    The heads are the (B, D, C) stack laid side by side as one (D, C*B) matrix, so that one
    matrix product per batch serves all of them. ``F_train`` (N, D) are shared; ``Y``/``W`` (B, N) are each head's labels and weights. The
    heads start from the same seeded ``nn.Linear``-style initialisation
    (uniform in +-1/sqrt(D)) and see the same batches; the loss of a batch is
    ``sum_i w_i * ce_i / batch_size``, optimised by AdamW (fused). Rows of ``F_train`` from
    ``n_train`` on are pool rows (see :func:`~.training.epochs_of_batches`). A batch of one gives the numbers of a
    batch of many. ``return_weights`` also returns the final heads' weights (B, D, C) and
    biases (B, C).

    The heads train on the device of ``F_train`` (``Y``, ``W`` and ``F_eval`` are moved there);
    the initialisation and the batch order come from a CPU generator, the same on every device.
    """
    import torch

    device = F_train.device
    Y, W, F_eval = Y.to(device), W.to(device), F_eval.to(device)
    B, n = Y.shape
    d = F_train.shape[1]
    C = n_classes
    generator = torch.Generator().manual_seed(seed)
    bound = 1.0 / math.sqrt(d) if d else 0.0
    w0 = ((torch.rand(d, C, 1, generator=generator) * 2 - 1) * bound).to(device)
    b0 = ((torch.rand(C, 1, generator=generator) * 2 - 1) * bound).to(device)
    # The B heads side by side as a (D, C*B) matrix: one matrix product serves them all, and the
    # softmax runs over a non-innermost axis of size C, which vectorises over the B heads.
    weight = w0.expand(d, C, B).reshape(d, C * B).clone().requires_grad_(True)
    bias = b0.expand(C, B).reshape(C * B).clone().requires_grad_(True)
    # The fused AdamW: one kernel per step instead of a dozen passes over the (D, C*B) matrix,
    # five times faster on a CPU for a few hundred heads; it agrees with the plain one to 1e-8.
    optimizer = torch.optim.AdamW([weight, bias], lr=lr, weight_decay=weight_decay, fused=True)
    Yt, Wt = Y.t().contiguous(), W.t().contiguous()  # (N, B)
    snaps = []
    n_train = n if n_train is None else int(n_train)
    active = np.flatnonzero((W[:, n_train:] > 0).any(dim=0).cpu().numpy())
    for epoch, parts in epochs_of_batches(n_train, n, batch_size, seed, epochs, generator, active):
        for idx, n_rows in parts:
            idx = idx.to(device)
            logits = torch.addmm(bias, F_train[idx], weight).view(len(idx), C, B)
            ce = -torch.log_softmax(logits, dim=1).gather(1, Yt[idx, None, :]).squeeze(1)  # (m, B)
            loss = (Wt[idx] * ce).sum() / n_rows
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if epoch in checkpoints:
            with torch.no_grad():
                logits = torch.addmm(bias, F_eval, weight).view(len(F_eval), C, B)
                snaps.append(torch.softmax(logits, dim=1).permute(2, 0, 1).contiguous().cpu().numpy())
    proba = np.stack(snaps, axis=1) if snaps else np.zeros((B, 0, len(F_eval), C), dtype=np.float32)
    if not return_weights:
        return proba
    with torch.no_grad():
        w_final = weight.view(d, C, B).permute(2, 0, 1).cpu().numpy().copy()
        b_final = bias.view(C, B).t().cpu().numpy().copy()
    return proba, w_final, b_final
