"""logistic-lbfgs: every counterfactual, reached from the baseline's optimum, is the optimum a cold
refit reaches. The reference is scikit-learn's LogisticRegression refit by hand on the edited rows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from tda_core._actions import ACTIONS, Edit
from tda_core._analysis import Analysis
from tda_core._engine import RunConfig
from tda_core._exceptions import ModelError
from tda_core._metrics import METRICS
from tda_core.data import tabular_dataset
from tda_core.recipes import LogisticLbfgsRecipe, named_recipe
from tda_core.recipes import _newton as newton
from tda_core.recipes._design import design


def sklearn_refit(data, edit, C=1.0):
    """A cold refit by hand: the edited rows (removed ones dropped), their weights, lbfgs."""
    y, w = edit.apply(data.y_fit, data.fit_weights(), data.n_train)
    rows = np.flatnonzero(w > 0)
    made = design(data)
    model = LogisticRegression(C=C, fit_intercept=False, tol=1e-12, max_iter=100_000)
    model.fit(made.fit[rows], y[rows], sample_weight=w[rows])
    return model.predict_proba(made.test)


def edits_of_every_action(data):
    targets = (data.y_train + 1) % data.n_classes
    last = data.n_train - 1
    edits = [Edit.baseline()] + [ACTIONS[a].edit([i], targets) for a in ("remove", "relabel", "upweight") for i in (0, 5, last)]
    edits += [ACTIONS["remove"].edit(list(range(40)))]  # a group moves the optimum further
    if data.has_pool:
        edits += [ACTIONS["add"].edit([0]), ACTIONS["add"].edit([3, 7, 9])]
    return edits


def test_warm_started_effects_equal_cold_sklearn_refits(credit):
    recipe = LogisticLbfgsRecipe()
    start = recipe.fit_start(credit, seed=0)
    edits = edits_of_every_action(credit)
    warm = recipe.fit_predict(credit, edits, seed=0, start=start)[:, 0]
    cold = np.stack([sklearn_refit(credit, e) for e in edits])
    effects_warm, effects_cold = warm[1:] - warm[:1], cold[1:] - cold[:1]
    assert np.abs(effects_cold).max() > 1e-2  # real effects, far above the tolerance
    np.testing.assert_allclose(effects_warm, effects_cold, atol=1e-6, rtol=0)
    # Per edit too, so no effect is right by cancellation.
    for k in range(1, len(edits)):
        assert np.abs(effects_warm[k - 1] - effects_cold[k - 1]).max() < 1e-6, edits[k]


def test_warm_start_equals_the_recipes_cold_fits(credit):
    edits = edits_of_every_action(credit)
    warm_recipe, cold_recipe = LogisticLbfgsRecipe(), LogisticLbfgsRecipe(warm_start=False)
    start = warm_recipe.fit_start(credit, seed=0)
    warm = warm_recipe.fit_predict(credit, edits, seed=0, start=start)
    cold = cold_recipe.fit_predict(credit, edits, seed=0, start=start)
    np.testing.assert_allclose(warm, cold, atol=1e-8, rtol=0)


def test_the_chord_iterations_converge_in_a_few_steps(credit):
    recipe = LogisticLbfgsRecipe()
    base = recipe.fit_start(credit, seed=0)["theta"]
    X = design(credit).fit
    edits = [ACTIONS["remove"].edit([i]) for i in range(50)]
    from tda_core.recipes._base import edited_arrays

    Y, W = edited_arrays(credit, edits, compact=True)
    lam = recipe._lam(credit)
    theta, steps = newton.warm_optima(X, Y, W, base, credit.y_fit, credit.fit_weights(), credit.n_train, lam, 1e-10)
    assert 1 <= steps < newton.CHORD_STEPS  # converged by the chord steps alone, no edit needed its own Hessian
    grads = newton.gradients(X, Y, W, theta, credit.n_train, lam)
    assert np.abs(grads).max() <= 1e-10


def iris():
    frame = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    return tabular_dataset(frame.iloc[:100], frame.iloc[100:], "species", name="iris")


def test_three_classes_equal_sklearn_refits():
    data = iris()
    recipe = LogisticLbfgsRecipe(C=0.5)
    edits = edits_of_every_action(data)
    warm = recipe.fit_predict(data, edits, seed=0, start=recipe.fit_start(data, 0))[:, 0]
    cold = np.stack([sklearn_refit(data, e, C=0.5) for e in edits])
    assert warm.shape == (len(edits), data.n_test, 3)
    np.testing.assert_allclose(warm[1:] - warm[:1], cold[1:] - cold[:1], atol=1e-6, rtol=0)


def test_an_analysis_with_it_is_deterministic_and_its_estimates_rank(credit):
    analysis = Analysis(credit, named_recipe("logistic-lbfgs", credit), RunConfig(ensemble=3, use_cache=False))
    assert analysis.baseline.deterministic
    group = analysis.errors.groups[0]
    tests = np.asarray(group.test_indices)
    recipe = analysis.recipe
    start = recipe.fit_start(credit, 0)
    y_pred = analysis.baseline.predicted_test[tests]
    estimate = recipe.estimate_effects(credit, 0, ACTIONS["remove"], credit.y_train, tests, y_pred, METRICS["loss"], start)
    edits = [ACTIONS["remove"].edit([i]) for i in range(credit.n_train)]
    proba = recipe.fit_predict(credit, [Edit.baseline(), *edits], 0, start=start)[:, 0][:, tests]
    loss = -np.log(proba[np.arange(len(proba))[:, None], np.arange(len(tests))[None], credit.y_test[tests][None]])
    retrained = loss[1:].mean(axis=1) - loss[0].mean()
    # At the optimum the influence function is a first-order expansion of the exact effect.
    assert spearmanr(estimate, retrained).statistic > 0.95


def test_bad_parameters_and_data_are_refused(credit, tiny_images):
    with pytest.raises(ModelError, match="C and tol must be positive"):
        LogisticLbfgsRecipe(C=0).fit_start(credit, 0)
    with pytest.raises(ModelError, match="logistic-lbfgs trains on tables, not images data"):
        LogisticLbfgsRecipe().validate(tiny_images)
