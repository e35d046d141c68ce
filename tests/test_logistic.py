"""The default recipe: batched training equals one model at a time, and removal is exact."""

from __future__ import annotations

import numpy as np
import pytest

from tda_core.actions import Edit, make_edit
from tda_core.demos import load_demo
from tda_core.logistic import LogisticSGDRecipe, predict_proba, train_averaged_sgd
from tda_core.models import tabular_preprocessor


@pytest.fixture(scope="module")
def credit():
    return load_demo("credit")


def test_batched_equals_one_model_at_a_time(credit):
    recipe = LogisticSGDRecipe()
    targets = 1 - credit.y_train
    edits = [Edit.none()] + [make_edit(a, [i], targets) for a in ("remove", "relabel", "upweight") for i in (0, 5, 799)]
    batched = recipe.fit_predict(credit, edits, seed=1)
    for k, edit in enumerate(edits):
        single = recipe.fit_predict(credit, [edit], seed=1)[0]
        np.testing.assert_allclose(batched[k], single, atol=1e-5, rtol=0)
    # The effects themselves are far larger than that tolerance.
    assert np.abs(batched[1:] - batched[:1]).max() > 1e-3


def test_removal_at_weight_zero_is_an_independent_loop(credit):
    """Check the vectorised trainer against a plain per-sample SGD loop written from the definition."""
    recipe = LogisticSGDRecipe(epochs=2)
    prep = tabular_preprocessor().fit(credit.X_train)
    X = recipe._design(prep, credit.X_train)
    w = np.ones(credit.n_train)
    w[3] = 0.0
    theta = train_averaged_sgd(X, credit.y_train[None], w[None], 2, 0, 2, 32, 0.2, 1e-3)[:, :, 0]

    rng = np.random.default_rng(0)
    ref = rng.normal(0.0, 0.01, size=(X.shape[1], 2))
    avg, k, step = np.zeros_like(ref), 0, 0
    steps_per_epoch = -(-credit.n_train // 32)
    for _ in range(2):
        order = rng.permutation(credit.n_train)
        for start in range(0, credit.n_train, 32):
            idx = order[start : start + 32]
            grad = np.zeros_like(ref)
            for i in idx:
                z = X[i] @ ref
                p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
                grad += w[i] * np.outer(X[i], p - np.eye(2)[credit.y_train[i]])
            ref = ref - 0.2 * (grad / len(idx) + 1e-3 * ref)
            if step >= steps_per_epoch:  # averaging over the second half (epoch 2 of 2)
                avg += (ref - avg) / (k + 1)
                k += 1
            step += 1
    # Only differences between class weights matter (the binary path trains theta_1 - theta_0).
    np.testing.assert_allclose(theta[:, 1] - theta[:, 0], avg[:, 1] - avg[:, 0], atol=1e-10)
    np.testing.assert_allclose(predict_proba(X, theta[:, :, None])[0], predict_proba(X, avg[:, :, None])[0], atol=1e-12)


def test_multiclass_path_matches_an_independent_loop():
    """Three classes take the general softmax path; check it against the definition too."""
    rng = np.random.default_rng(4)
    X = np.hstack([rng.normal(size=(90, 3)), np.ones((90, 1))])
    y = rng.integers(0, 3, size=90)
    w = np.ones(90)
    w[7] = 10.0
    theta = train_averaged_sgd(X, y[None], w[None], 3, 5, 2, 16, 0.2, 1e-3)[:, :, 0]
    rng = np.random.default_rng(5)
    ref = rng.normal(0.0, 0.01, size=(4, 3))
    avg, k, step = np.zeros_like(ref), 0, 0
    for _ in range(2):
        order = rng.permutation(90)
        for start in range(0, 90, 16):
            idx = order[start : start + 16]
            grad = np.zeros_like(ref)
            for i in idx:
                z = X[i] @ ref
                p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
                grad += w[i] * np.outer(X[i], p - np.eye(3)[y[i]])
            ref = ref - 0.2 * (grad / len(idx) + 1e-3 * ref)
            if step >= 6:  # 6 steps per epoch; averaging over the second epoch
                avg += (ref - avg) / (k + 1)
                k += 1
            step += 1
    np.testing.assert_allclose(theta, avg, atol=1e-10)
