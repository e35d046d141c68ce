"""A fifth action touches tda_core/_actions.py only (issue 20): a toy action registered in ``ACTIONS``
is ranked by the engine (checked against a refit by hand), named by the CLI's JSON, offered by the
dashboard's menu with its own words, and its edit text fills the ranking table."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_run import run
from helpers import breast_cancer, lbfgs
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer

from tda_core._actions import TRAINING
from tda_core._analysis import Analysis
from tda_core._engine import RunConfig
from tda_core.recipes import SklearnRecipe


@pytest.fixture(scope="module")
def cancer():
    return breast_cancer(60, 60, seed=2)


def test_a_registered_action_is_ranked_and_matches_a_refit_by_hand(halve, cancer, tmp_path):
    analysis = Analysis(cancer, SklearnRecipe(lbfgs()), RunConfig(ensemble=1, cache_dir=str(tmp_path)))
    group = analysis.errors.groups[0]
    result = analysis.attribute(group, "halve", "loss", size=3)
    ranking = result.ranking
    assert ranking.action == "halve" and ranking.subject is TRAINING and sorted(ranking.index) == list(range(cancer.n_train))
    # By hand: the same table, the sample's weight halved, routed to every step (as scikit-learn does).
    tests = np.array(group.test_indices)
    X, y = cancer.X_train, cancer.y_train

    def loss(w):
        with_weights = {"standardscaler__sample_weight": w, "logisticregression__sample_weight": w}
        proba = clone(lbfgs()).fit(X, y, **with_weights).predict_proba(cancer.X_test)
        return -np.log(proba[tests, cancer.y_test[tests]]).mean()

    base = loss(np.ones(cancer.n_train))
    for i in ranking.index[:3]:
        w = np.ones(cancer.n_train)
        w[i] = 0.5
        row = int(np.flatnonzero(ranking.index == i)[0])
        assert ranking.delta_mean[row] == pytest.approx(loss(w) - base, rel=1e-4, abs=1e-7)
    assert halve.describe(3) == "halve 3 training samples"


def test_the_cli_offers_the_action_and_its_json_names_its_subject(halve, tmp_path, capsys):
    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "y"}).iloc[::6].copy()
    frame.loc[frame.index[::5], "y"] = 1 - frame["y"].iloc[::5]  # noisy labels: errors to explain
    frame.to_csv(tmp_path / "data.csv", index=False)
    data = ["--data", str(tmp_path / "data.csv"), "--target", "y", "--recipe", "logistic-lbfgs"]
    code, out, err = run("errors", *data, "--json", cache=tmp_path / "c", capsys=capsys)
    assert code == 0, err
    largest = json.loads(out)["groups"][0]
    code, out, err = run("attribute", *data, "--group", f"{largest['true']}:{largest['pred']}", "--action", "halve",
                         "--metric", "loss", "--size", "2", "--json", cache=tmp_path / "c", capsys=capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["action"] == "halve" and len(doc["ranking"]) == doc["data"]["n_train"]
    assert all({"train_index", "train_id", "delta_mean"} <= set(row) for row in doc["ranking"])
    assert sorted(row["train_index"] for row in doc["ranking"]) == list(range(doc["data"]["n_train"]))
