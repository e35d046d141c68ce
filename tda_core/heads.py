"""Head-only mode: frozen features of a network's body (cached on disk with joblib.Memory), linear
heads trained on them many at once, and influence estimates on the last linear layer.

torch is imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .cache import memory
from .data import Dataset
from .exceptions import ModelError
from .networks import _batches, _last_linear, penultimate

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .torch_recipes import TorchRecipe


# ---------------------------------------------------------------------------------------
# Frozen features and stacked heads


def _compute_features(
    key: dict[str, Any], data: Dataset, recipe: TorchRecipe, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The starting network's features of the training and test rows, and its last layer's
    weight (D, C) and bias (C,)."""
    model = recipe.starting_network(data, seed)
    X_train, X_test = recipe._arrays(data)
    _, head = _last_linear(model)
    weight = head.weight.detach().t().numpy().astype(np.float32).copy()
    bias = (head.bias.detach().numpy() if head.bias is not None else np.zeros(head.out_features)).astype(np.float32).copy()
    return penultimate(model, X_train), penultimate(model, X_test), weight, bias


def frozen_start(
    key: dict[str, Any], data: Dataset, recipe: TorchRecipe, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_compute_features`, computed once per ``key`` and cached on disk (the recipe's
    ``cache_dir``/``cache``)."""
    cached = memory(recipe.cache_dir, recipe.cache).cache(_compute_features, ignore=["data", "recipe"])
    return cached(key, data, recipe, seed)


def train_heads(
    F_train: "torch.Tensor",
    Y: "torch.Tensor",
    W: "torch.Tensor",
    F_eval: "torch.Tensor",
    n_classes: int,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    checkpoints: Sequence[int],
    return_weights: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train B linear heads at once on frozen features; probabilities (B, members, n_eval, C).

    The heads are the (B, D, C) stack laid side by side as one (D, C*B) matrix, so that one
    matrix product per batch serves all of them. ``F_train`` (N, D) are shared; ``Y``/``W`` (B, N) are each head's labels and weights. The
    heads start from the same seeded ``nn.Linear``-style initialisation
    (uniform in +-1/sqrt(D)) and see the same batches; the loss of a batch is
    ``sum_i w_i * ce_i / batch_size``, optimised by AdamW. A batch of one gives the numbers of a
    batch of many. ``return_weights`` also returns the final heads' weights (B, D, C) and
    biases (B, C).
    """
    import torch

    B, n = Y.shape
    d = F_train.shape[1]
    C = n_classes
    generator = torch.Generator().manual_seed(seed)
    bound = 1.0 / math.sqrt(d) if d else 0.0
    w0 = (torch.rand(d, C, 1, generator=generator) * 2 - 1) * bound
    b0 = (torch.rand(C, 1, generator=generator) * 2 - 1) * bound
    # The B heads side by side as a (D, C*B) matrix: one matrix product serves them all, and the
    # softmax runs over a non-innermost axis of size C, which vectorises over the B heads.
    weight = w0.expand(d, C, B).reshape(d, C * B).clone().requires_grad_(True)
    bias = b0.expand(C, B).reshape(C * B).clone().requires_grad_(True)
    optimizer = torch.optim.AdamW([weight, bias], lr=lr, weight_decay=weight_decay)
    Yt, Wt = Y.t().contiguous(), W.t().contiguous()  # (N, B)
    snaps = []
    for epoch in range(1, epochs + 1):
        for idx in _batches(n, batch_size, generator):
            logits = torch.addmm(bias, F_train[idx], weight).view(len(idx), C, B)
            ce = -torch.log_softmax(logits, dim=1).gather(1, Yt[idx, None, :]).squeeze(1)  # (m, B)
            loss = (Wt[idx] * ce).sum() / len(idx)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if epoch in checkpoints:
            with torch.no_grad():
                logits = torch.addmm(bias, F_eval, weight).view(len(F_eval), C, B)
                snaps.append(torch.softmax(logits, dim=1).permute(2, 0, 1).contiguous().numpy())
    proba = np.stack(snaps, axis=1) if snaps else np.zeros((B, 0, len(F_eval), C), dtype=np.float32)
    if not return_weights:
        return proba
    with torch.no_grad():
        w_final = weight.view(d, C, B).permute(2, 0, 1).numpy().copy()
        b_final = bias.view(C, B).t().numpy().copy()
    return proba, w_final, b_final


# ---------------------------------------------------------------------------------------
# Estimates: influence on the last linear layer


def last_layer_estimates(
    F_train: np.ndarray,
    y_train: np.ndarray,
    F_test: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    action: str,
    new_labels: np.ndarray | None,
    metric: str,
    scale: float,
    damping: float | None = None,
) -> np.ndarray:
    """Estimated change of the mean metric over the test rows for the action on each training
    row, from gradients w.r.t. a linear layer (weight (D, C), bias (C,)) on features ``F``.

    ``damping=None``: gradient similarity, ``scale * <g_metric, change_i>``. A number:
    influence, ``<(H + damping I)^-1 g_metric, change_i> / n`` with H the Hessian of the
    mean training cross-entropy w.r.t. the layer (solved by conjugate gradients with
    Hessian-vector products, so it never forms H). Per-sample gradients are never formed
    either: ``<G, outer(x, r)> = r . (x G)``. float64 throughout.
    """
    from .actions import UPWEIGHT_FACTOR
    from .influence import _softmax_rows, metric_gradient

    X = np.hstack([np.asarray(F_train, np.float64), np.ones((len(F_train), 1))])
    Xt = np.hstack([np.asarray(F_test, np.float64), np.ones((len(F_test), 1))])
    theta = np.vstack([np.asarray(weight, np.float64), np.asarray(bias, np.float64)[None]])  # (D+1, C)
    n, c = len(X), theta.shape[1]
    proba = _softmax_rows(X @ theta)
    g_metric = metric_gradient(Xt, _softmax_rows(Xt @ theta), y_true, y_pred, metric).reshape(theta.shape)
    if damping is None:
        direction, factor = g_metric, scale
    else:
        direction, factor = _solve_damped_hessian(X, proba, g_metric, damping), 1.0 / n
    projected = X @ direction  # (N, C): <direction, outer(x_i, r)> = r . projected_i
    eye = np.eye(c)
    residual = proba - eye[y_train]
    if action == "remove":
        change = residual
    elif action == "upweight":
        change = -(UPWEIGHT_FACTOR - 1.0) * residual
    elif action == "relabel":
        change = -((proba - eye[np.asarray(new_labels)]) - residual)
    else:
        raise ModelError(f"cannot estimate the action {action!r}")
    return factor * np.einsum("nc,nc->n", change, projected)


def _solve_damped_hessian(X: np.ndarray, proba: np.ndarray, g: np.ndarray, damping: float, iters: int = 500) -> np.ndarray:
    """(H + damping I)^-1 g for the Hessian H of the mean softmax cross-entropy of a linear
    layer, by conjugate gradients; g and the result are (D, C)."""
    n = len(X)

    def hvp(v: np.ndarray) -> np.ndarray:
        z = X @ v  # (N, C)
        s = proba * (z - (proba * z).sum(axis=1, keepdims=True))
        return X.T @ s / n + damping * v

    x = np.zeros_like(g)
    r = g - hvp(x)
    p = r.copy()
    rs = float((r * r).sum())
    tol = 1e-24 * max(float((g * g).sum()), 1e-300)  # residual norm 1e-12 of |g|
    for _ in range(iters):
        if rs <= tol:
            break
        hp = hvp(p)
        a = rs / float((p * hp).sum())
        x += a * p
        r -= a * hp
        rs_new = float((r * r).sum())
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x
