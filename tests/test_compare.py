"""Comparing actions side by side: each setting is the group effect of the ranking's selection,
the best is the highest net benefit (ties by accuracy delta, then improvement), and the numbers
equal retraining by hand."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from helpers import lbfgs
from sklearn.base import clone

from tda_core import cli
from tda_core._analysis import Analysis
from tda_core._compare import Setting, best_setting, compare
from tda_core._engine import RunConfig
from tda_core._exceptions import UsageError
from tda_core._metrics import METRICS
from tda_core.recipes import SklearnRecipe
from tda_core.recipes._registry import default_recipe

SETTING_KEYS = {
    "action", "size", "train_indices", "delta_mean", "delta_std", "p_value", "errors_fixed", "errors_new",
    "net_benefit", "accuracy_delta_mean", "accuracy_delta_std", "class_accuracy_delta",
}


@pytest.fixture(scope="module")
def cancer_comparison(cancer):
    analysis = Analysis(cancer, SklearnRecipe(lbfgs()), RunConfig(ensemble=2, use_cache=False))
    group = analysis.errors.groups[0]
    return analysis, group, compare(analysis, group, "loss", sizes=(1, 3))


def test_every_setting_is_the_group_effect_of_the_rankings_selection(cancer, cancer_comparison):
    analysis, group, result = cancer_comparison
    assert result.deterministic and result.reliability == {"remove": 1.0, "relabel": 1.0, "upweight": 1.0}
    assert [(s.action, s.size) for s in result.settings] == [(a, k) for a in ("remove", "relabel", "upweight") for k in (1, 3)]
    # A fresh analysis (no shared cache) measures the same indices to the same numbers.
    fresh = Analysis(cancer, SklearnRecipe(lbfgs()), RunConfig(ensemble=2, use_cache=False))
    for setting in result.settings:
        ranking = analysis.ranking(group, setting.action, "loss")
        selected = ranking.select(setting.size)
        assert selected and set(setting.indices) == set(selected)  # deterministic: improving is enough
        assert setting.note is None or len(selected) < setting.size
        again = fresh.effect(fresh.errors.groups[0], setting.action, "loss", selected)
        for name in ("delta_mean", "delta_std", "accuracy_delta_mean", "accuracy_delta_std", "errors_fixed", "errors_new"):
            assert getattr(setting.effect, name) == pytest.approx(getattr(again, name), abs=1e-9), name
        assert np.isnan(setting.effect.p_value) and setting.to_json()["p_value"] is None and setting.effect.class_accuracy_delta.keys() == again.class_accuracy_delta.keys()


def test_a_setting_equals_a_brute_force_refit_by_hand(cancer, cancer_comparison):
    analysis, group, result = cancer_comparison
    tests = np.array(group.test_indices)
    y_true, y_pred = cancer.y_test[tests], analysis.baseline.predicted_test[tests]
    loss = METRICS["loss"]
    base = clone(lbfgs()).fit(cancer.X_train, cancer.y_train).predict_proba(cancer.X_test)
    for action in ("remove", "relabel"):
        setting = next(s for s in result.settings if (s.action, s.size) == (action, 3))
        chosen = np.array(setting.indices)
        if action == "remove":
            keep = np.setdiff1d(np.arange(cancer.n_train), chosen)
            after = clone(lbfgs()).fit(cancer.X_train.iloc[keep], cancer.y_train[keep]).predict_proba(cancer.X_test)
        else:
            y = cancer.y_train.copy()
            y[chosen] = 1 - y[chosen]  # binary: the other class
            after = clone(lbfgs()).fit(cancer.X_train, y).predict_proba(cancer.X_test)
        delta = (loss.values(after[tests], y_true, y_pred) - loss.values(base[tests], y_true, y_pred)).mean()
        assert setting.effect.delta_mean == pytest.approx(delta, abs=1e-6)
        before_pred, after_pred = base.argmax(1), after.argmax(1)
        accuracy = (after_pred == cancer.y_test).mean() - (before_pred == cancer.y_test).mean()
        assert setting.effect.accuracy_delta_mean == pytest.approx(accuracy, abs=1e-12)
        fixed = int(np.sum((after_pred[tests] == y_true) & (before_pred[tests] != y_true)))
        new = int(np.sum((before_pred == cancer.y_test) & (after_pred != cancer.y_test)))
        doc = next(s for s in result.to_json()["settings"] if (s["action"], s["size"]) == (action, 3))
        assert (doc["errors_fixed"], doc["errors_new"], doc["net_benefit"]) == (fixed, new, fixed - new)
        for c, name in enumerate(cancer.classes):
            rows = cancer.y_test == c
            expected = (after_pred[rows] == c).mean() - (before_pred[rows] == c).mean()
            assert doc["class_accuracy_delta"][name] == pytest.approx(expected, abs=1e-12)


def test_best_is_the_highest_net_benefit_with_the_tie_rule(cancer_comparison):
    _, _, result = cancer_comparison
    top = max(s.effect.net_benefit for s in result.settings)
    tied = [s for s in result.settings if s.effect.net_benefit == top]
    top_accuracy = max(s.effect.accuracy_delta_mean for s in tied)
    tied = [s for s in tied if s.effect.accuracy_delta_mean == top_accuracy]
    assert result.best is max(tied, key=lambda s: s.effect.improvement)
    assert result.to_json()["best"] == {"action": result.best.action, "size": result.best.size}
    # The tie rule on its own, with planted numbers.
    effect = result.settings[0].effect
    fake = lambda action, fixed, new, acc, delta: Setting(  # noqa: E731
        action, 1, replace(effect, errors_fixed=fixed, errors_new=new, accuracy_delta_mean=acc, delta_mean=delta, metric="loss"))
    a, b, c, d = fake("a", 3, 1, 0.0, -0.1), fake("b", 4, 2, 0.01, -0.1), fake("c", 2, 0, 0.01, -0.3), fake("d", 1, 0, 0.5, -9)
    assert best_setting([a, b]) is b  # same net benefit: the higher accuracy delta
    assert best_setting([a, b, c]) is c  # and then the larger improvement (a lower loss)
    assert best_setting([d, a]) is a  # net benefit first, whatever the accuracy
    assert best_setting([]) is None


@pytest.fixture(scope="module")
def credit_analysis(credit):
    return Analysis(credit, default_recipe(credit), RunConfig(ensemble=3, use_cache=False))


def test_seed_dependent_settings_carry_p_values_and_a_note_when_nothing_is_significant(credit_analysis):
    analysis = credit_analysis
    group = analysis.group("bad", "good")
    result = compare(analysis, group, "gt_prob", sizes=(2,), alpha=1e-12, actions=("relabel",))
    (setting,) = result.settings
    ranking = analysis.ranking(group, "relabel", "gt_prob")
    assert ranking.select(2, 1e-12) == ()
    assert set(setting.indices) == set(ranking.index[:2].tolist())  # the top 2 by improvement
    assert "no training sample is significant" in setting.note and setting.to_json()["note"] == setting.note
    assert result.reliability == {"relabel": ranking.reliability} and not result.deterministic
    normal = compare(analysis, group, "gt_prob", sizes=(5,), actions=("relabel",))
    (five,) = normal.settings
    assert five.note is None and set(five.indices) == set(ranking.select(5))
    effect = analysis.effect(group, "relabel", "gt_prob", ranking.select(5))
    assert five.effect is effect and 0 < five.effect.p_value < 1  # cached: no retraining for a repeat
    with pytest.raises(UsageError, match="at least 1"):
        compare(analysis, group, "gt_prob", sizes=(0,))
    with pytest.raises(UsageError, match="alpha"):
        compare(analysis, group, "gt_prob", alpha=2.0)


def test_cli_compare_json_contract_and_table(tmp_path, capsys):
    args = ["compare", "--demo", "credit", "--group", "bad:good", "--metric", "loss", "--sizes", "1,5", "--cache-dir", str(tmp_path)]
    assert cli.main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= {"group", "metric", "settings", "best", "reliability", "timing"}
    assert doc["group"]["true"] == "bad" and doc["group"]["pred"] == "good" and doc["metric"] == "loss"
    actions = ("remove", "relabel", "upweight", "add")  # add: the credit demo has a pool
    assert [(s["action"], s["size"]) for s in doc["settings"]] == [(a, k) for a in actions for k in (1, 5)]
    for s in doc["settings"]:
        indices = "pool_indices" if s["action"] == "add" else "train_indices"
        assert SETTING_KEYS - {"train_indices"} | {indices} <= set(s) <= SETTING_KEYS - {"train_indices"} | {indices, "note"}
        assert s["net_benefit"] == s["errors_fixed"] - s["errors_new"] and len(s[indices]) == s["size"]
        assert set(s["class_accuracy_delta"]) == {"bad", "good"}
    key = lambda s: (s["net_benefit"], s["accuracy_delta_mean"], -s["delta_mean"])  # noqa: E731  (loss: lower is better)
    best = max(doc["settings"], key=key)
    assert doc["best"] == {"action": best["action"], "size": best["size"]}
    assert set(doc["reliability"]) == set(actions)
    acted = {(s["action"], tuple(s.get("train_indices", s.get("pool_indices")))) for s in doc["settings"]}
    assert doc["timing"]["retrains"] == 3 + 3 * 700 * 3 + 100 * 3 + 3 * len(acted)
    # Again, readable: a table with the best marked, everything from the cache.
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "net_benefit" in out and f"best: {best['action']} on {best['size']}" in out and "0 models trained" in out
    code = cli.main([*args[:-2], "--sizes", "0,5", "--cache-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: every group size must be at least 1")
