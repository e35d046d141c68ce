"""Attribution numbers against independent brute-force retraining, and a planted cause."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from planted import planted_breast_cancer
from tda_core.analysis import Analysis
from tda_core.attribution import paired_stats
from tda_core.data import tabular_dataset
from tda_core.engine import RunConfig
from tda_core.metrics import metric_values
from tda_core.models import SklearnRecipe
from tda_core.recipes import default_recipe, paper_sgd

CHECKED = (0, 7, 42)  # training samples checked by brute force


@pytest.fixture(scope="module")
def small_cancer():
    raw = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})
    train, test = train_test_split(raw, train_size=120, test_size=60, random_state=1, stratify=raw["label"])
    return tabular_dataset(train, test, "label", name="small-cancer")


def _brute_force_proba(estimator, data, action, i, new_label=None):
    """What a user would do by hand: edit the table, clone, fit, predict."""
    X, y = data.X_train, data.y_train.copy()
    model = clone(estimator)
    if action == "remove":
        keep = np.arange(data.n_train) != i
        model.fit(X[keep], y[keep])
    elif action == "relabel":
        y[i] = new_label
        model.fit(X, y)
    else:
        w = np.ones(data.n_train)
        w[i] = 10.0
        model.fit(X, y, **{f"{model.steps[-1][0]}__sample_weight": w})
    return model.predict_proba(data.X_test)


@pytest.mark.parametrize("action", ["remove", "relabel", "upweight"])
def test_deterministic_deltas_equal_brute_force(small_cancer, action):
    data = small_cancer
    estimator = make_pipeline(StandardScaler(), LogisticRegression(tol=1e-10, max_iter=5000))
    analysis = Analysis(data, SklearnRecipe(estimator), RunConfig(ensemble=2, use_cache=False))
    group = analysis.errors.groups[0]
    ranking = analysis.ranking(group, action, "loss")
    base = clone(estimator).fit(data.X_train, data.y_train).predict_proba(data.X_test)
    tests = np.array(group.test_indices)
    y_true, y_pred = data.y_test[tests], analysis.baseline.predicted_test[tests]
    for i in CHECKED:
        after = _brute_force_proba(estimator, data, action, i, analysis.baseline.relabel_targets[i])
        expected = (metric_values(after[tests], y_true, y_pred, "loss") - metric_values(base[tests], y_true, y_pred, "loss")).mean()
        row = int(np.flatnonzero(ranking.train_index == i)[0])
        assert ranking.delta_mean[row] == pytest.approx(expected, abs=1e-8)
        assert ranking.delta_std[row] == pytest.approx(0.0, abs=1e-12)  # deterministic: members agree
    # Deterministic training: p is 0 for a non-zero effect (DESIGN.md).
    assert set(np.unique(ranking.p_value)) <= {0.0, 1.0}


def test_upweight_duplicates_rows_without_sample_weight(small_cancer):
    data = small_cancer
    knn = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=5))
    recipe = SklearnRecipe(knn)
    from tda_core.actions import make_edit

    got = recipe.fit_predict(data, [make_edit("upweight", [3])], seed=0)[0, 0]
    rows = np.r_[np.arange(data.n_train), [3] * 9]
    expected = clone(knn).fit(data.X_train.iloc[rows], data.y_train[rows]).predict_proba(data.X_test)
    np.testing.assert_allclose(got, expected, atol=1e-7)


def test_planted_label_errors_are_found():
    planted = planted_breast_cancer()
    analysis = Analysis(planted.data, default_recipe(planted.data), RunConfig(use_cache=False))
    group = next(g for g in analysis.errors.groups if planted.target_test in g.test_indices)
    result = analysis.attribute(group, "remove", "loss", size=10)
    top10 = set(int(i) for i in result.ranking.train_index[:10])
    precision = len(top10 & planted.planted) / 10
    assert precision >= 0.6, precision
    assert len(result.selected) == 10
    # Removing the selected group, retrained as a whole, lowers the loss on those errors.
    assert result.effect.delta_mean < 0
    assert result.effect.p_value < 0.05
    assert all(t.after_mean < t.before_mean for t in result.effect.per_test if t.test_index == planted.target_test)


def test_paper_recipe_members_are_checkpoints_of_one_run(small_cancer):
    recipe = paper_sgd()
    members = recipe.members(3)
    assert [(m.seed, m.checkpoint) for m in members] == [(0, 30), (0, 40), (0, 50)]
    from tda_core.actions import Edit

    proba = recipe.fit_predict(small_cancer, [Edit.none()], seed=0)
    assert proba.shape == (1, 3, small_cancer.n_test, 2)
    np.testing.assert_allclose(proba.sum(axis=-1), 1.0, atol=1e-5)


def test_paired_stats_follow_the_definitions():
    deltas = np.array([[0.1, 0.0, -0.2], [0.3, 0.0, -0.2], [0.2, 0.0, -0.2]])
    mean, std, p = paired_stats(deltas)
    np.testing.assert_allclose(mean, [0.2, 0.0, -0.2])
    np.testing.assert_allclose(std, [0.1, 0.0, 0.0], atol=1e-12)
    from scipy.stats import ttest_1samp

    assert p[0] == pytest.approx(ttest_1samp([0.1, 0.3, 0.2], 0.0).pvalue)
    assert p[1] == 1.0 and p[2] == 0.0  # constant deltas: 1 if zero, 0 otherwise


def test_warm_start_equals_cold_start(small_cancer):
    estimator = make_pipeline(StandardScaler(), LogisticRegression(tol=1e-10, max_iter=5000))
    from tda_core.actions import make_edit

    edits = [make_edit("remove", [i]) for i in CHECKED] + [make_edit("upweight", [i]) for i in CHECKED]
    cold = SklearnRecipe(estimator).fit_predict(small_cancer, edits, seed=0)
    warm = SklearnRecipe(estimator, warm_start=True).fit_predict(small_cancer, edits, seed=0)
    np.testing.assert_allclose(warm, cold, atol=1e-6, rtol=0)


def test_sklearn_recipe_fingerprint_is_stable_across_instances():
    from tda_core.recipes import logistic_lbfgs

    assert logistic_lbfgs().fingerprint() == logistic_lbfgs().fingerprint()
    assert paper_sgd().fingerprint() != logistic_lbfgs().fingerprint()
