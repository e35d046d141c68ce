"""Similar training samples: the nearest in the standardised representation (checked by hand),
their effects from the ranking, and the rank correlation of similarity and influence."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tda_core import similar_to_errors
from tda_core._analysis import Analysis
from tda_core._engine import RunConfig
from tda_core._exceptions import UsageError
from tda_core._output import attribution_json
from tda_core._similar import similar_samples
from tda_core.data import tabular_dataset
from tda_core.recipes import SklearnRecipe
from tda_core.recipes._preprocessing import tabular_preprocessor


@pytest.fixture(scope="module")
def cancer():
    raw = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})
    train, test = train_test_split(raw, train_size=150, test_size=80, random_state=3, stratify=raw["label"])
    return tabular_dataset(train, test, "label", name="cancer-150")


@pytest.fixture(scope="module")
def analysis(cancer):
    estimator = make_pipeline(StandardScaler(), LogisticRegression(tol=1e-10, max_iter=5000))
    return Analysis(cancer, SklearnRecipe(estimator), RunConfig(ensemble=2, use_cache=False))


def test_similar_samples_are_the_nearest_in_the_standardised_representation(cancer, analysis):
    group = analysis.errors.groups[0]
    tests = list(group.test_indices)
    ranking = analysis.ranking(group, "remove", "loss")
    similar = similar_samples(analysis, tests, k=7, ranking=ranking)
    # By hand: the recipe's preprocessing, standardised on the training rows, Euclidean distance
    # to the nearest chosen error, one pair at a time.
    prep = tabular_preprocessor().fit(cancer.X_train)
    F_train, F_test = np.asarray(prep.transform(cancer.X_train), float), np.asarray(prep.transform(cancer.X_test), float)
    mean, std = F_train.mean(axis=0), F_train.std(axis=0)
    std[std == 0] = 1.0
    Z_train, Z_test = (F_train - mean) / std, (F_test - mean) / std
    distance = np.array([min(np.sqrt(np.sum((Z_train[i] - Z_test[t]) ** 2)) for t in tests) for i in range(cancer.n_train)])
    nearest = sorted(range(cancer.n_train), key=lambda i: (distance[i], i))[:7]
    assert list(similar.indices) == nearest
    assert similar.distance == pytest.approx(distance[nearest], abs=1e-9)
    assert similar.labels == tuple(cancer.classes[cancer.y_train[i]] for i in nearest)
    assert similar.test_indices == tuple(tests)
    # Their effects are the ranking's own numbers.
    position = {int(i): k for k, i in enumerate(ranking.index)}
    for i, d, p in zip(similar.indices, similar.delta_mean, similar.p_value):
        assert d == ranking.delta_mean[position[i]] and p is None  # deterministic: no p-value
    # Spearman over every ranked sample: closeness against improvement.
    expected = stats.spearmanr(-distance[ranking.index], ranking.improvement).statistic
    assert similar.spearman == pytest.approx(expected, abs=1e-12)
    records = similar.records()
    assert records[0] == {"train_index": nearest[0], "label": similar.labels[0], "distance": similar.distance[0],
                          "delta_mean": similar.delta_mean[0], "p_value": None}


def test_samples_the_ranking_does_not_hold_have_no_effect(analysis):
    group = analysis.errors.groups[0]
    ranking = analysis.ranking(group, "relabel", "gt_prob")
    full = similar_samples(analysis, group.test_indices, k=5, ranking=ranking)
    # A partial ranking (as in candidate mode): only some samples were retrained.
    held = np.isin(ranking.index, full.indices[:2]) | (np.arange(len(ranking.index)) % 3 == 0)
    partial = replace(ranking, **{f: getattr(ranking, f)[held] for f in (
        "index", "delta_mean", "delta_std", "p_value", "accuracy_delta_mean", "accuracy_delta_std")})
    some = similar_samples(analysis, group.test_indices, k=5, ranking=partial)
    assert some.indices == full.indices
    for i, d, d_full in zip(some.indices, some.delta_mean, full.delta_mean):
        assert d == (d_full if i in set(partial.index.tolist()) else None)
    assert some.delta_mean[:2] == full.delta_mean[:2]
    Z = similar_samples(analysis, group.test_indices, k=analysis.data.n_train)  # every sample, nearest first
    distance = np.empty(analysis.data.n_train)
    distance[list(Z.indices)] = Z.distance
    expected = stats.spearmanr(-distance[partial.index], partial.improvement).statistic
    assert some.spearman == pytest.approx(expected, abs=1e-12)
    assert Z.spearman is None and all(d is None for d in Z.delta_mean)  # no ranking given
    with pytest.raises(UsageError, match="at least 1"):
        similar_samples(analysis, group.test_indices, k=0)
    with pytest.raises(UsageError, match="does not exist"):
        similar_samples(analysis, [10_000])


def test_attribute_json_lists_similar_samples_for_single_sample_rankings(analysis):
    group = analysis.errors.groups[0]
    result = analysis.attribute(group, "remove", "loss", size=3)
    doc = attribution_json(analysis, result, 0.0, similar=similar_to_errors(analysis, result))
    expected = similar_samples(analysis, group.test_indices, ranking=result.ranking)
    assert [r["train_index"] for r in doc["similar"]] == list(expected.indices) and len(doc["similar"]) == 10
    assert all(r["train_id"] == analysis.data.train_id(r["train_index"]) for r in doc["similar"])
    assert doc["similar_vs_influential_spearman"] == expected.spearman
    grouped = analysis.attribute(group, "remove", "loss", size=3, unit="group")
    assert similar_to_errors(analysis, grouped) is None
    assert "similar" not in attribution_json(analysis, grouped, 0.0)
    assert attribution_json(analysis, result, 0.0)["similar"] is None  # the writer shapes what it is given


def test_nearest_distances_equal_every_pair_by_hand():
    """The BLAS search for the nearest chosen row, then exact differences: the distance of every
    row to its nearest chosen one equals the brute force over all pairs, a row equal to a chosen
    one at exactly 0."""
    from tda_core._training_groups import nearest_distance

    rng = np.random.default_rng(5)
    Z, chosen = rng.normal(size=(3000, 40)), rng.normal(size=(60, 40))
    Z[7] = chosen[11]
    brute = np.sqrt(((Z[:, None, :] - chosen[None, :, :]) ** 2).sum(axis=-1)).min(axis=1)
    got = nearest_distance(Z, chosen)
    np.testing.assert_allclose(got, brute, rtol=1e-12, atol=0)
    assert got[7] == 0.0
    assert nearest_distance(Z[:0], chosen).shape == (0,)
