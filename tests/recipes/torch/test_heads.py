"""Head-only training: many linear heads at once on frozen features, against one at a time
and against a hand-written nn.Linear loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tda_core.recipes.torch._heads import train_heads

N, D, C = 40, 6, 3


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    F_train = torch.from_numpy(rng.normal(size=(N, D)).astype(np.float32))
    F_eval = torch.from_numpy(rng.normal(size=(7, D)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, C, N))
    Y = y.repeat(4, 1)
    W = torch.ones(4, N)
    W[1, 3] = 0.0  # remove
    W[2, 5] = 10.0  # upweight
    Y[3, 8] = (Y[3, 8] + 1) % C  # relabel
    return F_train, Y, W, F_eval


def heads(features, **kwargs):
    F_train, Y, W, F_eval = features
    args = {"n_classes": C, "seed": 3, "epochs": 6, "batch_size": 16, "lr": 0.05, "weight_decay": 0.01, "checkpoints": (2, 6)}
    return train_heads(F_train, Y, W, F_eval, **(args | kwargs))


def hand_trained_head(F_train, y, w, F_eval, seed, epochs, batch_size, lr, weight_decay):
    """An nn.Linear-style head (uniform in +-1/sqrt(D), weight then bias from the seeded
    generator), AdamW, the seeded batch order, loss sum(w_i * ce_i) / batch size."""
    generator = torch.Generator().manual_seed(seed)
    bound = 1 / math.sqrt(D)
    weight = ((torch.rand(D, C, 1, generator=generator) * 2 - 1) * bound)[:, :, 0].clone().requires_grad_(True)
    bias = ((torch.rand(C, 1, generator=generator) * 2 - 1) * bound)[:, 0].clone().requires_grad_(True)
    optimizer = torch.optim.AdamW([weight, bias], lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        for idx in torch.tensor_split(torch.randperm(N, generator=generator), -(-N // batch_size)):
            loss = (w[idx] * F.cross_entropy(F_train[idx] @ weight + bias, y[idx], reduction="none")).sum() / len(idx)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return torch.softmax(F_eval @ weight + bias, -1).numpy(), weight.detach().numpy(), bias.detach().numpy()


@pytest.mark.slow
def test_heads_are_the_hand_written_loop(features):
    F_train, Y, W, F_eval = features
    proba, weights, biases = heads(features, return_weights=True)
    assert proba.shape == (4, 2, 7, C) and weights.shape == (4, D, C) and biases.shape == (4, C)
    for b in range(4):
        want, w, bias = hand_trained_head(F_train, Y[b], W[b], F_eval, 3, 6, 16, 0.05, 0.01)
        np.testing.assert_allclose(proba[b, 1], want, atol=1e-6)
        np.testing.assert_allclose(weights[b], w, atol=1e-6)
        np.testing.assert_allclose(biases[b], bias, atol=1e-6)
    # The returned heads give the last recorded probabilities.
    logits = F_eval.numpy() @ weights + biases[:, None, :]
    np.testing.assert_allclose(proba[:, 1], np.exp(logits) / np.exp(logits).sum(-1, keepdims=True), atol=1e-6)
    assert np.abs(proba[1:, 1] - proba[:1, 1]).max() > 1e-4  # every edit moves the predictions


@pytest.mark.slow
def test_a_batch_of_one_gives_the_numbers_of_a_batch_of_many(features):
    F_train, Y, W, F_eval = features
    together = heads(features)
    for b in range(4):
        alone = train_heads(F_train, Y[b : b + 1], W[b : b + 1], F_eval, C, 3, 6, 16, 0.05, 0.01, (2, 6))
        np.testing.assert_allclose(together[b : b + 1], alone, atol=1e-6)


@pytest.mark.slow
def test_seeds_and_recorded_epochs(features):
    a, b = heads(features, seed=0), heads(features, seed=1)
    assert np.abs(a - b).max() > 1e-3
    np.testing.assert_array_equal(a, heads(features, seed=0))
    assert np.abs(a[:, 1] - a[:, 0]).max() > 1e-3  # epochs 2 and 6 differ
    assert heads(features, checkpoints=()).shape == (4, 0, 7, C)
