"""The default tabular recipe: batched training equals one model at a time, removal is exact
weight 0 in place, and the trainer matches a plain loop written from its definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from tda_core._actions import ACTIONS, Edit
from tda_core._exceptions import ModelError
from tda_core._metrics import METRICS
from tda_core.data import tabular_dataset
from tda_core.recipes import LogisticSGDRecipe
from tda_core.recipes._logistic import predict_proba, train_averaged_sgd
from tda_core.recipes._preprocessing import tabular_preprocessor


def test_batched_equals_one_model_at_a_time(credit):
    recipe = LogisticSGDRecipe()
    targets = 1 - credit.y_train
    last = credit.n_train - 1
    edits = [Edit.baseline()] + [ACTIONS[a].edit([i], targets) for a in ("remove", "relabel", "upweight") for i in (0, 5, last)]
    edits += [ACTIONS["add"].edit([j]) for j in (0, 7, credit.n_pool - 1)] + [ACTIONS["add"].edit([1, 2, 3])]
    batched = recipe.fit_predict(credit, edits, seed=1)
    assert batched.shape == (14, 1, credit.n_test, 2) and batched.dtype == np.float64
    for k, edit in enumerate(edits):
        single = recipe.fit_predict(credit, [edit], seed=1)[0]
        np.testing.assert_allclose(batched[k], single, atol=1e-12, rtol=0)
    # The effects themselves are far larger than that tolerance.
    assert np.abs(batched[1:] - batched[:1]).max() > 1e-3
    np.testing.assert_allclose(batched.sum(axis=-1), 1.0, atol=1e-12)


def test_seeds_give_different_members_and_train_then_test_rows(credit):
    recipe = LogisticSGDRecipe(epochs=3)
    a = recipe.fit_predict(credit, [Edit.baseline()], seed=0)
    b = recipe.fit_predict(credit, [Edit.baseline()], seed=1)
    assert np.abs(a - b).max() > 1e-4
    np.testing.assert_array_equal(a, recipe.fit_predict(credit, [Edit.baseline()], seed=0))
    both = recipe.fit_predict(credit, [Edit.baseline()], seed=0, eval_on="train+test")
    assert both.shape == (1, 1, credit.n_train + credit.n_test, 2)
    np.testing.assert_allclose(both[:, :, credit.n_train :], a, atol=1e-12)


def design(data, recipe):
    prep = tabular_preprocessor().fit(data.X_train)
    return recipe._design(prep, data.X_train)


def test_removal_at_weight_zero_is_an_independent_loop(credit):
    """Check the vectorised trainer against a plain per-sample SGD loop written from the definition."""
    recipe = LogisticSGDRecipe(epochs=2)
    X = design(credit, recipe)
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


def test_predict_proba_is_a_softmax():
    X = np.array([[1.0, 0.0], [0.0, 2.0]])
    theta = np.array([[0.0, np.log(3.0)], [0.0, 0.0]])[:, :, None]  # (D=2, C=2, B=1)
    np.testing.assert_allclose(predict_proba(X, theta)[0], [[0.25, 0.75], [0.5, 0.5]], rtol=1e-15)


def test_parameters_are_checked_when_the_recipe_is_used(credit, tiny_images):
    bad = LogisticSGDRecipe(epochs=0)  # constructing never fails: sklearn-shaped
    assert bad.get_params()["epochs"] == 0
    with pytest.raises(ModelError, match="epochs must be at least 1, not 0"):
        bad.validate(credit)
    with pytest.raises(ModelError, match="batch_size must be at least 1, not 0"):
        LogisticSGDRecipe(batch_size=0).fit_predict(credit, [Edit.baseline()], seed=0)
    with pytest.raises(ModelError, match="learning_rate must be positive and alpha not negative"):
        LogisticSGDRecipe(alpha=-1.0).validate(credit)
    with pytest.raises(ModelError, match="logistic-sgd trains on tables, not images data"):
        LogisticSGDRecipe().validate(tiny_images)
    assert LogisticSGDRecipe().display_name == "logistic-sgd" and LogisticSGDRecipe().removal == "zero_weight"


def test_influence_estimates_track_retrained_removals(credit):
    """The candidate-mode estimate of a removal, against retraining each removal exactly."""
    recipe = LogisticSGDRecipe()
    tests = np.arange(10)
    y_pred = np.argmax(recipe.fit_predict(credit, [Edit.baseline()], seed=0)[0, 0], axis=1)[tests]
    loss = METRICS["loss"]
    estimate = recipe.estimate_effects(credit, 0, ACTIONS["remove"], 1 - credit.y_train, tests, y_pred, loss)
    assert estimate.shape == (credit.n_train,)
    sample = np.argsort(estimate)[np.linspace(0, credit.n_train - 1, 40).astype(int)]  # across the whole range
    edits = [Edit.baseline()] + [ACTIONS["remove"].edit([i]) for i in sample]
    proba = recipe.fit_predict(credit, edits, seed=0)[:, 0]
    values = loss.values(proba[:, tests], credit.y_test[tests], y_pred).mean(axis=1)
    retrained = values[1:] - values[0]
    assert spearmanr(estimate[sample], retrained).statistic > 0.95  # measured 0.988


def test_tiny_tables_train():
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "c": list("xyxyxy"), "t": list("nnnppp")})
    data = tabular_dataset(frame, frame, "t")
    proba = LogisticSGDRecipe(epochs=50, batch_size=2).fit_predict(data, [Edit.baseline()], seed=0)
    assert (proba[0, 0].argmax(axis=1) == data.y_test).all()


def test_a_pool_changes_nothing_until_a_sample_is_added(credit):
    """Pool rows join batches only when added: the baseline with a pool is the baseline without
    one, bit for bit."""
    from dataclasses import replace

    recipe = LogisticSGDRecipe()
    without = replace(credit, X_pool=None, y_pool=None, pool_ids=None, thumbnails_pool=None, fingerprint="")
    assert credit.has_pool and not without.has_pool
    np.testing.assert_array_equal(
        recipe.fit_predict(credit, [Edit.baseline()], seed=2, eval_on="train+test"),
        recipe.fit_predict(without, [Edit.baseline()], seed=2, eval_on="train+test"),
    )
    added = recipe.fit_predict(credit, [ACTIONS["add"].edit([4])], seed=2)[0, 0]
    base = recipe.fit_predict(credit, [Edit.baseline()], seed=2)[0, 0]
    assert np.abs(added - base).max() > 1e-4  # the added sample is trained on


def test_the_lazy_update_of_many_models_equals_the_plain_one_on_a_sparse_multiclass_table(monkeypatch):
    """Eight or more stacked models on a sparse design update only a batch's columns (lazy decay and
    averaging); the result is the plain update's, also when the lazy scale is folded in every step."""
    import scipy.sparse as sp

    from tda_core.recipes import _logistic as logistic

    rng = np.random.default_rng(3)
    dense_x = rng.normal(size=(120, 30)) * (rng.random((120, 30)) < 0.15)  # a one-hot-like sparsity
    X = sp.csr_matrix(np.hstack([dense_x, np.ones((120, 1))]))
    Y = np.tile(rng.integers(0, 3, size=120), (10, 1))
    W = np.ones((10, 120))
    for b in range(10):
        W[b, b] = 0.0  # each model removes one row
    W[9, 50] = 10.0
    lazy = train_averaged_sgd(X, Y, W, 3, 7, 3, 16, 0.2, 1e-3)
    plain = np.stack([train_averaged_sgd(X, Y[b : b + 1], W[b : b + 1], 3, 7, 3, 16, 0.2, 1e-3)[:, :, 0] for b in range(10)], axis=2)
    assert logistic.LAZY_MODELS <= 10  # the stack took the lazy path, the single models the plain one
    np.testing.assert_allclose(lazy, plain, atol=1e-12, rtol=0)
    monkeypatch.setattr(logistic, "RESCALE_BELOW", 1.0)  # fold the scale in after every step
    np.testing.assert_allclose(train_averaged_sgd(X, Y, W, 3, 7, 3, 16, 0.2, 1e-3), plain, atol=1e-12, rtol=0)
