"""Training loops: one network at a time against a hand-written loop, stacked (vmap) training
against one at a time, the batch order, and the deterministic context."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tda_core.recipes.torch._networks import ARCHITECTURES
from tda_core.recipes.torch._training import (
    Optimisation,
    batches,
    deterministic,
    fit_network,
    fit_stacked,
    stacked_forward,
    stacked_layers,
    stacked_parameters,
)

OPT = Optimisation(epochs=3, batch_size=8, lr=1e-3, weight_decay=0.005)


def start(arch: str, data, seed: int = 0):
    torch.manual_seed(seed)
    return ARCHITECTURES[arch](data.n_classes, data.X_train.shape[1:])


def edited(data):
    """Labels and weights (B, N) of a baseline, a removal, an upweight, a relabel and a mixed edit."""
    n = data.n_train
    Y = np.repeat(data.y_train[None], 5, axis=0)
    W = np.ones((5, n), dtype=np.float32)
    W[1, 4] = 0.0
    W[2, 7] = 10.0
    Y[3, [2, 11]] = (Y[3, [2, 11]] + 1) % 3
    W[4, [0, 1, 2]] = 0.0
    Y[4, 5] = (Y[4, 5] + 2) % 3
    return torch.from_numpy(Y), torch.from_numpy(W)


def test_batches_cut_a_seeded_permutation_into_near_equal_parts():
    parts = batches(33, 32, torch.Generator().manual_seed(3))
    assert [len(p) for p in parts] == [17, 16]  # never a batch of one sample
    assert sorted(torch.cat(parts).tolist()) == list(range(33))
    again = batches(33, 32, torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(parts, again))
    assert [len(p) for p in batches(64, 32, torch.Generator())] == [32, 32]
    assert [len(p) for p in batches(5, 32, torch.Generator())] == [5]


def test_the_deterministic_context_restores_torchs_settings():
    before = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    torch.set_num_threads(2)
    try:
        with deterministic(1):
            assert torch.are_deterministic_algorithms_enabled() and torch.get_num_threads() == 1
        assert (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()) == (before[0], 2)
        with deterministic(None):
            assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), deterministic(1):
            raise RuntimeError("training failed")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before[1])


def hand_trained(model, data, y, w, seed: int, opt: Optimisation) -> np.ndarray:
    """The documented contract, written out: a copy of the start, AdamW, a seeded permutation
    per epoch cut into ceil(n / batch size) parts, loss sum(w_i * ce_i) / batch size."""
    import copy

    model = copy.deepcopy(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=opt.lr, weight_decay=opt.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    X = torch.from_numpy(data.X_train)
    n = len(y)
    for _ in range(opt.epochs):
        for idx in torch.tensor_split(torch.randperm(n, generator=generator), -(-n // opt.batch_size)):
            loss = (w[idx] * F.cross_entropy(model(X[idx]), y[idx], reduction="none")).sum() / len(idx)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(data.X_test)), -1).numpy()


@pytest.mark.slow
def test_fit_network_is_the_hand_written_loop(tiny_images):
    data = tiny_images
    Y, W = edited(data)
    net = start("small_cnn", data)
    X, X_eval = torch.from_numpy(data.X_train), torch.from_numpy(data.X_test)
    for b in range(len(Y)):
        trained, proba = fit_network(net, X, Y[b], W[b], X_eval, 4, OPT, (2, 3))
        assert proba.shape == (2, data.n_test, 3) and proba.dtype == np.float32
        np.testing.assert_allclose(proba[1], hand_trained(net, data, Y[b], W[b], 4, OPT), atol=1e-6)
        assert trained is not net
    # The start is left untouched; without recorded epochs there are no probabilities.
    assert torch.equal(net[0].weight, start("small_cnn", data)[0].weight)
    assert fit_network(net, X, Y[0], W[0], X_eval, 4, OPT, ())[1].shape == (0,)


@pytest.mark.slow
@pytest.mark.parametrize("use_vmap", [False, True], ids=["written-out", "vmap"])
@pytest.mark.parametrize("arch", ["small_cnn", "mlp"])
def test_stacked_training_equals_one_at_a_time(tiny_images, arch, use_vmap):
    data = tiny_images
    Y, W = edited(data)
    net = start(arch, data, seed=2)
    X, X_eval = torch.from_numpy(data.X_train), torch.from_numpy(data.X_test)
    record = (1, 3)
    stacked = fit_stacked(net, X, Y, W, X_eval, 5, OPT, record, use_vmap=use_vmap)
    assert stacked.shape == (5, 2, data.n_test, 3) and stacked.dtype == np.float32
    looped = np.stack([fit_network(net, X, Y[b], W[b], X_eval, 5, OPT, record)[1] for b in range(len(Y))])
    np.testing.assert_allclose(stacked, looped, atol=1e-5, rtol=0)
    # The edits do move the predictions, far beyond that tolerance.
    assert np.abs(stacked[1:, -1] - stacked[:1, -1]).max() > 1e-4


def test_the_written_out_stacked_forward_is_each_networks_own(tiny_images):
    """B networks with different weights, stacked: each slice of the logits is that network's
    own forward pass (the first layer on the shared inputs, the rest side by side)."""
    X = torch.from_numpy(tiny_images.X_train[:7])
    for arch in ("small_cnn", "mlp"):
        nets = [start(arch, tiny_images, seed=s) for s in range(3)]
        layers = stacked_layers(nets[0])
        assert [name for name, _ in layers] == [name for name, _ in nets[0].named_children()]
        params = {k: torch.stack([dict(n.named_parameters())[k].detach() for n in nets]) for k, _ in nets[0].named_parameters()}
        linear = {f"{name}.weight" for name, layer in layers if isinstance(layer, torch.nn.Linear)}
        params = {k: v.transpose(1, 2) if k in linear else v for k, v in params.items()}  # the layout of stacked_parameters
        with torch.no_grad():
            logits = stacked_forward(layers, params, X)
            for b, net in enumerate(nets):
                np.testing.assert_allclose(logits[b].numpy(), net(X).numpy(), atol=1e-6)
        assert np.abs(logits[1].numpy() - logits[0].numpy()).max() > 1e-3
        # stacked_parameters: B copies of the start, linear weights (B, in, out), leaves with gradients
        copies = stacked_parameters({k: v.detach() for k, v in nets[0].named_parameters()}, 4, layers)
        for name, value in nets[0].named_parameters():
            want = value.detach().t() if name in linear else value.detach()
            assert copies[name].shape == (4, *want.shape) and copies[name].requires_grad and copies[name].is_leaf
            assert torch.equal(copies[name][3], want)


def test_only_plain_sequential_networks_run_written_out():
    """Networks the written-out pass cannot express go to vmap: batch norm (buffers), pooling,
    grouped or 'same'-padded convolutions, a linear layer before the flatten, a non-Sequential."""
    from torch import nn

    assert stacked_layers(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))) is not None
    refused = [
        nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2)),
        nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4, 2)),
        nn.Sequential(nn.Conv2d(2, 4, 3, groups=2), nn.Flatten(), nn.Linear(4, 2)),
        nn.Sequential(nn.Conv2d(1, 4, 3, padding="same"), nn.Flatten(), nn.Linear(4, 2)),
        nn.Sequential(nn.Linear(4, 2), nn.Flatten()),
        nn.Sequential(nn.Flatten(), nn.Dropout(), nn.Linear(4, 2)),
        nn.Sequential(nn.Flatten(), nn.Linear(4, 2), nn.Flatten()),
        ARCHITECTURES["resnet18_small"](3, (1, 8, 8)),
    ]
    assert [stacked_layers(net) for net in refused] == [None] * len(refused)


@pytest.mark.slow
def test_a_sample_at_weight_zero_has_no_influence(tiny_images):
    """A removed sample keeps its place in the batch order but gets no gradient: its label and
    its pixels no longer matter at all. Dropping it from the data instead changes the batches."""
    data = tiny_images
    net = start("mlp", data)
    X, X_eval = torch.from_numpy(data.X_train), torch.from_numpy(data.X_test)
    y = torch.from_numpy(data.y_train)
    w = torch.ones(data.n_train)
    w[6] = 0.0
    removed = fit_network(net, X, y, w, X_eval, 1, OPT, (3,))[1]
    other_label, other_pixels = y.clone(), X.clone()
    other_label[6] = (other_label[6] + 1) % 3
    other_pixels[6] = 5.0
    np.testing.assert_array_equal(fit_network(net, X, other_label, w, X_eval, 1, OPT, (3,))[1], removed)
    np.testing.assert_array_equal(fit_network(net, other_pixels, y, w, X_eval, 1, OPT, (3,))[1], removed)
    kept = fit_network(net, X, other_label, torch.ones(data.n_train), X_eval, 1, OPT, (3,))[1]
    assert np.abs(kept - removed).max() > 1e-4
    keep = torch.arange(data.n_train) != 6
    dropped = fit_network(net, X[keep], y[keep], torch.ones(data.n_train - 1), X_eval, 1, OPT, (3,))[1]
    assert np.abs(removed - dropped).max() > 1e-4
