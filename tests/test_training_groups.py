"""Candidate training groups: how they are formed, and their effects against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import lbfgs
from sklearn.base import clone

from tda_core._analysis import Analysis
from tda_core._engine import RunConfig
from tda_core._metrics import METRICS
from tda_core._training_groups import GROUPS_PER_CLASS, candidate_groups
from tda_core.recipes import SklearnRecipe


def test_neighbour_groups_are_the_nearest_samples_of_each_class():
    rng = np.random.default_rng(0)
    F_train = rng.normal(size=(60, 2))
    y_train = np.repeat([0, 1, 2], 20)
    F_test = np.array([[0.0, 0.0], [5.0, 5.0]])
    groups = candidate_groups(F_train, F_test, y_train, ("a", "b", "c"), [1], size=4, seed=0)
    neighbours = [g for g in groups if g.kind == "neighbours"]
    assert len(neighbours) == 3 * GROUPS_PER_CLASS
    # Distances after standardising, as the function sees them.
    z = (F_train - F_train.mean(0)) / F_train.std(0)
    target = (F_test[1] - F_train.mean(0)) / F_train.std(0)
    distance = np.linalg.norm(z - target, axis=1)
    for c, name in enumerate("abc"):
        members = np.flatnonzero(y_train == c)
        nearest = members[np.argsort(distance[members])]
        first = next(g for g in neighbours if g.group_id == f"near-{name}-1")
        second = next(g for g in neighbours if g.group_id == f"near-{name}-2")
        assert set(first.train_indices) == set(nearest[:4].tolist())
        assert set(second.train_indices) == set(nearest[4:8].tolist())
    clusters = [g for g in groups if g.kind == "cluster"]
    assert clusters and all(len(g.train_indices) <= 4 for g in clusters)
    assert len({g.train_indices for g in groups}) == len(groups)  # no duplicates


def test_group_effects_equal_retraining_each_group_by_hand(cancer):
    estimator = lbfgs()
    analysis = Analysis(cancer, SklearnRecipe(estimator), RunConfig(ensemble=2, use_cache=False))
    group = analysis.errors.groups[0]
    result = analysis.attribute(group, "remove", "gt_prob", size=8, unit="group")
    ranking = result.ranking
    assert ranking.deterministic and result.reliability == 1.0
    assert {g.kind for g in ranking.groups} == {"neighbours", "cluster"}
    tests = np.array(group.test_indices)
    y_true, y_pred = cancer.y_test[tests], analysis.baseline.predicted_test[tests]
    gt = METRICS["gt_prob"]
    base = clone(estimator).fit(cancer.X_train, cancer.y_train).predict_proba(cancer.X_test)
    for k in (0, 1, len(ranking.groups) - 1):
        keep = np.setdiff1d(np.arange(cancer.n_train), ranking.groups[k].train_indices)
        after = clone(estimator).fit(cancer.X_train.iloc[keep], cancer.y_train[keep]).predict_proba(cancer.X_test)
        expected = (gt.values(after[tests], y_true, y_pred) - gt.values(base[tests], y_true, y_pred)).mean()
        assert ranking.delta_mean[k] == pytest.approx(expected, abs=1e-9)
    assert np.all(np.diff(ranking.improvement) <= 0)  # best first
    # The selected group is the best improving one, and its effect is the one already measured.
    retrains = analysis.engine.stats.retrains
    assert result.selected == ranking.groups[0].train_indices
    assert result.effect.delta_mean == pytest.approx(ranking.delta_mean[0])
    assert analysis.engine.stats.retrains == retrains
    records = ranking.records()
    assert set(records[0]) >= {"group_id", "kind", "train_indices", "delta_mean", "delta_std", "p_value", "accuracy_delta_mean"}


@pytest.mark.slow
def test_on_digits_in_full_mode_the_best_group_is_significant_and_holds_for_other_seeds():
    """Single images rarely move a network beyond its training noise; the group nearest the
    errors does, for two ensembles with disjoint seeds (README: bench/digits_groups.py)."""
    from tda_core.data import load_demo
    from tda_core.recipes import default_recipe

    data = load_demo("digits")
    analyses = [Analysis(data, default_recipe(data), RunConfig(ensemble=5, seed=s)) for s in (0, 10)]
    shared = sorted(set.intersection(*(set(a.errors.find("5", "3").test_indices) for a in analyses)))
    assert len(shared) >= 3
    best = []
    for analysis in analyses:
        result = analysis.attribute(analysis.group("5", "3", shared), "remove", "loss", size=10, unit="group")
        top = result.ranking.records()[0]
        assert top["p_value"] < 0.05 and top["delta_mean"] < 0, top
        assert result.effect is not None and result.selected == tuple(top["train_indices"])
        best.append(top)
    assert best[0]["group_id"] == best[1]["group_id"]
    assert len(set(best[0]["train_indices"]) & set(best[1]["train_indices"])) >= 5
