"""Networks with a pool: pool images train only when added (weight 0 -> 1), in every training
loop (stacked with torch.func, one at a time with batch norm, linear heads)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tda_core._actions import ACTIONS, Edit
from tda_core.recipes._base import pool_batches
from tda_core.recipes.torch._networks import ARCHITECTURES
from tda_core.recipes.torch._recipe import TorchRecipe

EDITS = [Edit.baseline(), ACTIONS["add"].edit([0]), ACTIONS["add"].edit([2, 4]), Edit("remove", (5,))]


@pytest.fixture(scope="module")
def pooled():
    """tiny_images with 30 training images, and 9 more of the same kind as the pool."""
    from planted import tiny_images

    extra = tiny_images(n_train=9, n_test=3, seed=7)
    data = tiny_images()
    return data.with_pool(extra.X_train, extra.y_train, np.array([f"p{i}" for i in range(9)]), extra.thumbnails_train)


def without_pool(data):
    return replace(data, X_pool=None, y_pool=None, pool_ids=None, thumbnails_pool=None, fingerprint="")


@pytest.mark.parametrize("arch", ["small_cnn", "resnet18_small"])  # stacked torch.func; one at a time with batch norm
def test_a_pool_changes_nothing_until_added_and_batches_equal_single_models(pooled, arch):
    recipe = TorchRecipe(arch, epochs=2, batch_size=8)
    batched = recipe.fit_predict(pooled, EDITS, seed=3)
    alone = recipe.fit_predict(pooled, [Edit.baseline()], seed=3)[0]
    np.testing.assert_array_equal(alone, recipe.fit_predict(without_pool(pooled), [Edit.baseline()], seed=3)[0])
    # Beside models that add pool rows, those rows are in the batch at weight 0: float32 rounding only.
    np.testing.assert_allclose(batched[0], alone, atol=1e-6, rtol=0)
    for k, edit in enumerate(EDITS):
        np.testing.assert_allclose(batched[k], recipe.fit_predict(pooled, [edit], seed=3)[0], atol=2e-6, rtol=0)
    assert np.abs(batched[1] - batched[0]).max() > 1e-4 and np.abs(batched[2] - batched[0]).max() > 1e-4


def test_adding_follows_the_documented_batches(pooled):
    """An independent loop: the training rows' seeded permutation cut into ceil(n / batch) parts,
    the added pool row joining the batch pool_batches gives it, loss sum(w * ce) / training rows."""
    epochs, batch_size, seed, j = 2, 8, 1, 4
    recipe = TorchRecipe("mlp", epochs=epochs, batch_size=batch_size)
    got = recipe.fit_predict(pooled, [ACTIONS["add"].edit([j])], seed=seed)[0, -1]
    torch.manual_seed(seed)
    model = ARCHITECTURES["mlp"](pooled.n_classes, pooled.X_train.shape[1:])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.005)
    gen = torch.Generator().manual_seed(seed)
    X = torch.from_numpy(np.concatenate([pooled.X_train, pooled.X_pool]))
    y = torch.from_numpy(np.concatenate([pooled.y_train, pooled.y_pool]))
    n = pooled.n_train
    parts = math.ceil(n / batch_size)
    placement = pool_batches(pooled.n_pool, parts, seed, epochs)
    for epoch in range(epochs):
        for k, idx in enumerate(torch.tensor_split(torch.randperm(n, generator=gen), parts)):
            rows = torch.cat([idx, torch.tensor([n + j])]) if placement[epoch, j] == k else idx
            loss = F.cross_entropy(model(X[rows]), y[rows], reduction="none").sum() / len(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(pooled.X_test)), -1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_head_mode_reads_pool_features_from_the_start(pooled):
    recipe = TorchRecipe("small_cnn", mode="head", epochs=2, head_epochs=5, batch_size=8)
    start = recipe.fit_start(pooled, seed=0)
    assert start["F_pool"].shape == (pooled.n_pool, start["F_train"].shape[1])
    assert set(recipe.start_shapes(pooled)) == set(start)
    bare = without_pool(pooled)
    assert "F_pool" not in recipe.fit_start(bare, seed=0) and "F_pool" not in recipe.start_shapes(bare)
    batched = recipe.fit_predict(pooled, EDITS, seed=0, start=start)
    bare_baseline = recipe.fit_predict(bare, [Edit.baseline()], seed=0, start=recipe.fit_start(bare, 0))[0]
    np.testing.assert_array_equal(recipe.fit_predict(pooled, [Edit.baseline()], seed=0, start=start)[0], bare_baseline)
    np.testing.assert_allclose(batched[0], bare_baseline, atol=1e-6, rtol=0)
    for k, edit in enumerate(EDITS):
        np.testing.assert_allclose(batched[k], recipe.fit_predict(pooled, [edit], seed=0, start=start)[0], atol=1e-6, rtol=0)
    assert np.abs(batched[1] - batched[0]).max() > 1e-5
