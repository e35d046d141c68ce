"""Training loops for networks: one at a time, or many stacked (the parameters of B networks
side by side in one tensor each, one fused AdamW over them).

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

from ._networks import eval_rows, predict_proba

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


#: AdamW as one fused kernel per step (``fused=True``) rather than a dozen passes over each
#: parameter: the same update to float rounding, and the optimiser's share of a stacked step
#: (a fifth of it for ``small_cnn`` on a CPU) nearly gone.
FUSED_ADAMW = True


def adamw(params: list[torch.Tensor], optimisation: Optimisation) -> torch.optim.AdamW:
    """The AdamW of :class:`Optimisation` over ``params`` (fused: :data:`FUSED_ADAMW`)."""
    import torch

    return torch.optim.AdamW(params, lr=optimisation.lr, weight_decay=optimisation.weight_decay, fused=FUSED_ADAMW or None)


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
    batch (:func:`~tda_core.recipes._base.pool_batches`). A batch's loss is divided by its number
    of training rows, so a pool without added samples changes nothing."""
    import torch

    from .._base import pool_batches, with_pool_rows

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
    optimizer = adamw(list(model.parameters()), optimisation)
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


def stacked_layers(module: nn.Module) -> list[tuple[str, nn.Module]] | None:
    """The named layers of ``module`` where :func:`stacked_forward` runs it: an ``nn.Sequential``
    without buffers of ``Conv2d`` (one group, zero padding), ``ReLU``, one ``Flatten`` of every
    dimension after the batch, and ``Linear`` (after the ``Flatten``; ``mlp`` and ``small_cnn``
    are such networks). None for any other network (``vmap`` runs it)."""
    from torch import nn

    if not isinstance(module, nn.Sequential) or any(True for _ in module.buffers()):
        return None
    flat = False
    for layer in module:
        if isinstance(layer, nn.Conv2d):
            ok = not flat and layer.groups == 1 and layer.padding_mode == "zeros" and not isinstance(layer.padding, str)
        elif isinstance(layer, nn.Flatten):
            ok, flat = not flat and layer.start_dim == 1 and layer.end_dim == -1, True
        elif isinstance(layer, nn.Linear):
            ok = flat
        else:
            ok = isinstance(layer, nn.ReLU)
        if not ok:
            return None
    return list(module.named_children())


def stacked_forward(layers: Sequence[tuple[str, nn.Module]], params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Logits (B, m, C) of the B networks whose parameters ``params`` stacks along a first
    dimension (the names of ``layers``, :func:`stacked_layers`), all on the same inputs ``x``.

    What ``vmap`` computes, written out with few and large kernels: the first layer sees the
    shared inputs, so the B convolutions (matrix products) are one with B times the output
    channels (columns); after it, the B networks' activations lie side by side, as the channels
    of one image (B groups of a grouped convolution) or as a batch of matrices (``baddbmm``)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    h, shared = x, True
    B = next(iter(params.values())).shape[0]  # every stacked parameter leads with the B networks
    for name, layer in layers:
        if isinstance(layer, nn.Conv2d):
            w, b = params[f"{name}.weight"], params.get(f"{name}.bias")
            h = F.conv2d(h, w.reshape(-1, *w.shape[2:]), None if b is None else b.reshape(-1),
                         layer.stride, layer.padding, layer.dilation, 1 if shared else B)
            shared = False
        elif isinstance(layer, nn.ReLU):
            h = torch.relu(h)
        elif isinstance(layer, nn.Flatten):
            # (m, B * c, H, W), the networks side by side as channels -> (B, m, c * H * W)
            h = h.flatten(1) if shared else h.reshape(h.shape[0], B, -1).transpose(0, 1).contiguous()
        else:  # nn.Linear, its weight laid out (B, in, out) (stacked_parameters)
            w, b = params[f"{name}.weight"], params.get(f"{name}.bias")
            B, out = w.shape[0], w.shape[2]
            if shared:  # (m, F) @ (F, B * out) -> (B, m, out)
                h = h @ w.transpose(0, 1).reshape(-1, B * out)
                h = (h if b is None else h + b.reshape(-1)).reshape(-1, B, out).transpose(0, 1)
            else:
                h = torch.bmm(h, w) if b is None else torch.baddbmm(b.unsqueeze(1), h, w)
            shared = False
    return h


def stacked_parameters(
    base: dict[str, torch.Tensor], B: int, layers: Sequence[tuple[str, nn.Module]] | None
) -> dict[str, torch.Tensor]:
    """B copies of each parameter of ``base`` stacked along a new first dimension, leaves that
    require gradients. For :func:`stacked_forward` (``layers``), the weights of ``Linear``
    layers are laid out (B, in, out), so that their products and gradients need no transposed
    copy; AdamW is elementwise, so the layout changes no number."""
    from torch import nn

    linear = {f"{name}.weight" for name, layer in layers or () if isinstance(layer, nn.Linear)}
    return {
        k: (v.t() if k in linear else v).unsqueeze(0).repeat(B, *([1] * v.dim())).requires_grad_(True)
        for k, v in base.items()
    }


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
    use_vmap: bool = False,
) -> np.ndarray:
    """Train B copies of ``start`` at once, one per row of ``Y``/``W`` (B, N): parameters stacked
    along a new first dimension, one fused AdamW over the stacked tensors (AdamW is elementwise,
    so each slice follows exactly its own optimiser). The forward pass is
    :func:`stacked_forward` where the network allows it (:func:`stacked_layers`), else
    ``torch.func.vmap`` over ``functional_call`` (also with ``use_vmap``); both compute what
    :func:`fit_network` computes for each model, to float32 rounding.
    Probabilities (B, len(record), n_eval, C). Needs a network without dropout; batch norm
    stacks its running statistics beside the parameters (vmap), each network its own.
    Trains on the device of ``X`` (all tensors there). Rows from ``n_train`` on are pool rows
    (see :func:`epochs_of_batches`); one added by any of the B models joins its batch for all,
    at weight 0 in the others, which adds exactly nothing to their loss."""
    import torch
    from torch.func import functional_call, vmap

    B = Y.shape[0]
    start = start.to(X.device)
    base = {k: v.detach() for k, v in start.named_parameters()}
    layers = None if use_vmap else stacked_layers(start)
    params = stacked_parameters(base, B, layers)
    # Each network's own buffers (batch norm's running statistics), updated in place under vmap.
    buffers = {k: v.detach().unsqueeze(0).repeat(B, *([1] * v.dim())) for k, v in start.named_buffers()}

    def forward(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(start, (p, b), (x,))

    if layers is None:
        vmapped = vmap(forward, in_dims=(0, 0, None))
        batched = lambda p, x: vmapped(p, buffers, x)  # noqa: E731
    else:
        batched = lambda p, x: stacked_forward(layers, p, x)  # noqa: E731
    optimizer = adamw(list(params.values()), optimisation)
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
            start.eval()  # batch norm predicts with its running statistics
            with torch.no_grad():
                rows = max(1, min(EVAL_ROWS // B, eval_rows(X_eval)))
                proba = torch.cat(
                    [torch.softmax(batched(params, X_eval[i : i + rows]), dim=-1) for i in range(0, len(X_eval), rows)],
                    dim=1,
                )
            start.train()
            snaps.append(proba.cpu().numpy())
    return np.stack(snaps, axis=1)
