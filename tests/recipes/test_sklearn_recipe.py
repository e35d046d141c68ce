"""Any scikit-learn classifier as a recipe: seeds, edits as a user would make them by hand,
checkpoints of partial_fit, warm starts, and checks at use time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import breast_cancer, lbfgs
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from tda_core._actions import ACTIONS, Edit
from tda_core._exceptions import ModelError
from tda_core.data import tabular_dataset
from tda_core.recipes import SklearnRecipe
from tda_core.recipes._preprocessing import tabular_preprocessor
from tda_core.recipes._sklearn_recipe import fitted_steps, full_proba


@pytest.fixture(scope="module")
def cancer():
    return breast_cancer(100, 40, seed=0)


def by_hand(estimator, data, y=None, keep=None):
    """What a user would do: edit the table, clone, fit, predict."""
    y = data.y_train if y is None else y
    keep = np.arange(data.n_train) if keep is None else keep
    return clone(estimator).fit(data.X_train.iloc[keep], y[keep]).predict_proba(data.X_test)


def test_remove_and_relabel_equal_refitting_by_hand(cancer):
    recipe = SklearnRecipe(lbfgs())
    targets = 1 - cancer.y_train
    edits = [Edit.baseline(), ACTIONS["remove"].edit([4, 9]), ACTIONS["relabel"].edit([2], targets)]
    proba = recipe.fit_predict(cancer, edits, seed=0)
    assert proba.shape == (3, 1, cancer.n_test, 2) and proba.dtype == np.float64
    relabelled = cancer.y_train.copy()
    relabelled[2] = targets[2]
    expected = [by_hand(lbfgs(), cancer), by_hand(lbfgs(), cancer, keep=np.setdiff1d(np.arange(100), [4, 9])),
                by_hand(lbfgs(), cancer, y=relabelled)]
    for got, want in zip(proba[:, 0], expected):
        np.testing.assert_allclose(got, want, atol=1e-12)
    assert np.abs(proba[1] - proba[0]).max() > 1e-4


def test_add_equals_appending_the_pool_rows_by_hand(cancer):
    """Adding pool samples is what a user would do: append their rows and refit; a pool that
    nothing is added from changes nothing."""
    pool_rows = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"}).iloc[-12:]
    pooled = cancer.with_pool(pool_rows.drop(columns="label").reset_index(drop=True), pool_rows["label"].to_numpy(), np.arange(12))
    recipe = SklearnRecipe(lbfgs())
    proba = recipe.fit_predict(pooled, [Edit.baseline(), ACTIONS["add"].edit([3, 7])], seed=0)
    np.testing.assert_array_equal(proba[0], recipe.fit_predict(cancer, [Edit.baseline()], seed=0)[0])
    X = pd.concat([cancer.X_train, pooled.X_pool.iloc[[3, 7]]])
    y = np.concatenate([cancer.y_train, pooled.y_pool[[3, 7]]])
    np.testing.assert_allclose(proba[1, 0], clone(lbfgs()).fit(X, y).predict_proba(cancer.X_test), atol=1e-12)
    assert np.abs(proba[1] - proba[0]).max() > 1e-4


def test_members_come_from_random_state_seeds(cancer):
    forest = SklearnRecipe(RandomForestClassifier(n_estimators=5, random_state=123))
    a, b = (forest.fit_predict(cancer, [Edit.baseline()], seed=s)[0, 0] for s in (0, 1))
    assert np.abs(a - b).max() > 0.1
    np.testing.assert_array_equal(a, RandomForestClassifier(n_estimators=5, random_state=0).fit(
        cancer.X_train, cancer.y_train).predict_proba(cancer.X_test))
    # Nested random_state parameters are seeded too; a seed-free model gives identical members.
    nested = SklearnRecipe(make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", random_state=5)))
    assert nested.seeded(7).get_params()["sgdclassifier__random_state"] == 7
    c, d = (SklearnRecipe(lbfgs()).fit_predict(cancer, [Edit.baseline()], seed=s) for s in (0, 1))
    np.testing.assert_array_equal(c, d)


def test_upweight_where_every_step_takes_weights(cancer):
    recipe = SklearnRecipe(lbfgs())
    assert recipe.weights_routed and recipe.upweight_note == "upweighting passes sample_weight to every step of the model"
    got = recipe.fit_predict(cancer, [ACTIONS["upweight"].edit([3])], seed=0)[0, 0]
    w = np.ones(cancer.n_train)
    w[3] = 10.0
    expected = clone(lbfgs()).fit(cancer.X_train, cancer.y_train, standardscaler__sample_weight=w,
                                  logisticregression__sample_weight=w).predict_proba(cancer.X_test)
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_upweight_duplicates_rows_where_a_step_takes_no_weight(credit):
    forest = make_pipeline(tabular_preprocessor(), RandomForestClassifier(n_estimators=3))
    recipe = SklearnRecipe(forest)
    assert not recipe.weights_routed
    assert recipe.upweight_note == "CategoryCodes, OneHotEncoder, SimpleImputer take no sample_weight, so upweighting duplicates the rows instead"
    got = recipe.fit_predict(credit, [ACTIONS["upweight"].edit([3])], seed=2)[0, 0]
    rows = np.concatenate([np.arange(credit.n_train), np.full(9, 3)])
    rows.sort()
    model = clone(forest).set_params(randomforestclassifier__random_state=2)
    expected = model.fit(credit.X_train.iloc[rows], credit.y_train[rows]).predict_proba(credit.X_test)
    np.testing.assert_array_equal(got, expected)


def test_checkpoints_are_epochs_of_partial_fit(cancer):
    sgd = make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", random_state=0))
    recipe = SklearnRecipe(sgd, checkpoints=(3, 1))
    assert recipe.checkpoint_epochs == (1, 3) and recipe.members_per_run == 2
    proba = recipe.fit_predict(cancer, [Edit.baseline()], seed=4)
    assert proba.shape == (1, 2, cancer.n_test, 2)
    scaler = StandardScaler().fit(cancer.X_train)
    final = SGDClassifier(loss="log_loss", random_state=4)
    expected = []
    for epoch in (1, 2, 3):
        final.partial_fit(scaler.transform(cancer.X_train), cancer.y_train, classes=[0, 1])
        if epoch in (1, 3):
            expected.append(final.predict_proba(scaler.transform(cancer.X_test)))
    np.testing.assert_allclose(proba[0], np.stack(expected), atol=1e-12)
    assert np.abs(proba[0, 1] - proba[0, 0]).max() > 1e-3


def test_warm_start_converges_to_the_cold_optimum(cancer):
    cold = SklearnRecipe(lbfgs())
    warm = SklearnRecipe(lbfgs(), warm_start=True)
    edits = [Edit.baseline(), ACTIONS["remove"].edit([1]), ACTIONS["relabel"].edit([6], 1 - cancer.y_train),
             ACTIONS["upweight"].edit([8])]
    np.testing.assert_allclose(warm.fit_predict(cancer, edits, seed=0), cold.fit_predict(cancer, edits, seed=0), atol=1e-6)


def test_a_class_absent_from_training_gets_probability_zero():
    train = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "y": list("ppqqrr")})
    data = tabular_dataset(train, train, "y")
    recipe = SklearnRecipe(LogisticRegression())
    proba = recipe.fit_predict(data, [ACTIONS["remove"].edit([4, 5])], seed=0)[0, 0]  # no "r" left
    assert proba.shape == (6, 3)
    np.testing.assert_array_equal(proba[:, 2], 0.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    model = LogisticRegression().fit(train[["a"]][:4], np.array([0, 0, 1, 1]))
    np.testing.assert_array_equal(full_proba(model, train[["a"]], 3)[:, :2], model.predict_proba(train[["a"]]))


def test_problems_are_found_when_the_recipe_is_used(cancer):
    svc = SklearnRecipe(SVC())  # constructing never fails: sklearn-shaped
    with pytest.raises(ModelError, match=r"SVC cannot be used: the model needs fit and predict_proba \(for SVC set probability=True\)"):
        svc.fit_predict(cancer, [Edit.baseline()], seed=0)
    with pytest.raises(ModelError, match="checkpoints need an estimator with partial_fit; LogisticRegression has none"):
        SklearnRecipe(lbfgs(), checkpoints=(1, 2)).validate(cancer)
    with pytest.raises(ModelError, match=r"checkpoints are epochs from 1 on, not \[0, 2\]"):
        SklearnRecipe(SGDClassifier(loss="log_loss"), checkpoints=(0, 2)).validate(cancer)
    with pytest.raises(ModelError, match="KNeighborsClassifier has no warm_start parameter; use it without warm start"):
        SklearnRecipe(KNeighborsClassifier(), warm_start=True).validate(cancer)
    with pytest.raises(ModelError, match="LogisticRegression failed to train"):
        SklearnRecipe(LogisticRegression(C=-1.0)).fit_predict(cancer, [Edit.baseline()], seed=0)


def test_names_steps_and_fingerprints():
    recipe = SklearnRecipe(lbfgs())
    assert recipe.display_name == "LogisticRegression" and SklearnRecipe(lbfgs(), name="mine").display_name == "mine"
    assert [type(s).__name__ for s in fitted_steps(make_pipeline(tabular_preprocessor(), SVC()))] == [
        "SimpleImputer", "StandardScaler", "CategoryCodes", "OneHotEncoder", "SVC"]
    assert recipe.fingerprint() == SklearnRecipe(lbfgs()).fingerprint() == clone(recipe).fingerprint()
    assert SklearnRecipe(lbfgs(), name="other").fingerprint() == recipe.fingerprint()  # the name trains nothing
    assert SklearnRecipe(lbfgs(C=2.0)).fingerprint() != recipe.fingerprint()
    assert SklearnRecipe(lbfgs(), warm_start=True).fingerprint() != recipe.fingerprint()
    assert recipe.describe()["removal"] == "drop" and recipe.describe()["warm_start"] is False


def test_describe_names_the_recipe():
    assert SklearnRecipe(lbfgs()).describe()["name"] == "LogisticRegression"
