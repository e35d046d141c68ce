"""Error slices beyond class pairs: tree rules on the original features, clusters in the model's
representation, and ``--group slice:ID`` through the command line."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from cli_run import run

from tda_core._errors import slice_group
from tda_core._slices import cluster_slices, tree_slices
from tda_core.cli._arguments import parse_group


def rows_of(rule: str, X: pd.DataFrame) -> np.ndarray:
    """The rows a rule's text describes, read back by hand."""
    mask = np.ones(len(X), bool)
    for part in rule.split(" and "):
        column, op, value = re.fullmatch(r"(\S+) (<=|>|!=|=) (.+)", part).groups()
        col = X[column]
        if op in ("<=", ">"):
            mask &= (col <= float(value)) if op == "<=" else (col > float(value))
        else:
            mask &= (col.astype(str) == value) if op == "=" else (col.astype(str) != value)
    return mask


def planted(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Errors on every row with duration_months > 40 and on one row in 25 elsewhere."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "duration_months": rng.uniform(0, 60, n).round(1),
        "amount": rng.normal(3000, 800, n),
        "checking_account": rng.choice(["< 0 DM", "0-200 DM", "none"], n),
    })
    errors = (X["duration_months"] > 40).to_numpy() | (np.arange(n) % 25 == 0)
    return X, errors


def test_the_tree_slice_names_the_planted_feature_and_its_error_rate():
    X, errors = planted()
    slices = tree_slices(X, errors)
    top = slices[0]
    assert top.id == "tree-1" and top.rule.startswith("duration_months > ")
    threshold = float(re.match(r"duration_months > ([\d.]+)", top.rule).group(1))
    assert 39 <= threshold <= 41
    inside = rows_of(top.rule, X)
    assert top.size == inside.sum()
    assert top.error_rate == pytest.approx(errors[inside].sum() / inside.sum())
    assert top.test_indices == tuple(np.flatnonzero(inside & errors))
    # Every slice is a leaf above the overall error rate, its rule read back by hand gives its rows.
    for s in slices:
        rows = rows_of(s.rule, X)
        assert s.error_rate > errors.mean() and s.size == rows.sum()
        assert s.test_indices == tuple(np.flatnonzero(rows & errors))
        assert s.to_json().keys() == {"id", "rule", "test_indices", "error_rate", "size", "typical"}
        assert s.typical == s.test_indices[:3]


def test_a_categorical_condition_is_written_in_the_original_column():
    X, _ = planted(seed=1)
    errors = (X["checking_account"] == "< 0 DM").to_numpy()
    top = tree_slices(X, errors)[0]
    assert top.rule == "checking_account = < 0 DM" and top.error_rate == 1.0
    assert top.size == errors.sum()


def test_cluster_slices_partition_the_errors():
    rng = np.random.default_rng(0)
    F_test = np.concatenate([rng.normal(0, 1, (40, 3)), rng.normal(6, 1, (40, 3)), rng.normal(-6, 1, (40, 3))])
    F_train = rng.normal(0, 4, (100, 3))
    y = np.zeros(120, int)
    predicted = np.where(rng.random(120) < 0.2, 1, 0)

    class Data:
        classes = ("a", "b")
        y_test = y

    errors = predicted != y
    slices = cluster_slices(F_train, F_test, errors, Data, predicted, seed=0)
    union = [i for s in slices for i in s.test_indices]
    assert sorted(union) == np.flatnonzero(errors).tolist()  # every error, each once
    for s in slices:
        assert s.id.startswith("cluster-") and s.error_rate == pytest.approx(len(s.test_indices) / s.size)
        assert "a -> b" in s.description and "typical errors" in s.description
        # Typical members: the errors nearest the cluster's centre, as the description names them.
        assert set(s.typical) <= set(s.test_indices) and 1 <= len(s.typical) <= 3
        assert s.description.endswith(", ".join(map(str, s.typical)))
    assert sum(s.size for s in slices) <= 120


def test_a_slice_group_reads_like_a_class_pair():
    group = slice_group("tree-1", [4, 9])
    assert (group.true, group.pred, group.label, group.count, group.is_slice) == ("slice", "tree-1", "slice tree-1", 2, True)
    assert group.narrowed([9]).test_indices == (9,)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """Labels follow x except where duration_months > 40: there they are a coin toss, so the model errs there."""
    rng = np.random.default_rng(3)
    n = 240
    frame = pd.DataFrame({"x": rng.normal(size=n), "duration_months": rng.uniform(0, 60, n).round(1),
                          "colour": rng.choice(["red", "blue"], n)})
    noisy = frame["duration_months"] > 40
    frame["y"] = np.where(noisy, rng.choice(["a", "b"], n), np.where(frame["x"] > 0, "a", "b"))
    path = tmp_path_factory.mktemp("slices")
    frame.to_csv(path / "data.csv", index=False)
    return path


def test_errors_json_lists_slices_and_attribute_takes_one(table, capsys):
    data = ["--data", str(table / "data.csv"), "--target", "y", "--recipe", "logistic-lbfgs"]
    code, out, err = run("errors", *data, "--json", cache=table / "c", capsys=capsys)
    assert code == 0, err
    doc = json.loads(out)
    errors = sorted(i for g in doc["groups"] for i in g["test_indices"])
    clusters = [s for s in doc["slices"] if s["id"].startswith("cluster-")]
    assert sorted(i for s in clusters for i in s["test_indices"]) == errors
    tree = [s for s in doc["slices"] if s["id"].startswith("tree-")]
    assert tree and tree[0]["rule"].startswith("duration_months > ")
    overall = len(errors) / doc["data"]["n_test"]
    assert all(s["error_rate"] > overall for s in tree)

    code, out, err = run("attribute", *data, "--group", "slice:tree-1", "--action", "remove", "--metric", "pred_prob",
                         "--size", "3", "--json", cache=table / "c", capsys=capsys)
    assert code == 0, err
    got = json.loads(out)
    assert got["group"] == {"true": "slice", "pred": "tree-1", "test_indices": tree[0]["test_indices"]}
    assert len(got["ranking"]) == doc["data"]["n_train"]

    code, out, err = run("attribute", *data, "--group", "slice:tree-99", "--action", "remove", "--metric", "loss",
                         "--size", "3", cache=table / "c", capsys=capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: no error slice 'tree-99'; the slices are: tree-1")
    assert all(not line.startswith("error:") for line in lines[:-1])


def test_parse_group_takes_a_slice_unless_a_class_is_named_slice():
    from tda_core._exceptions import UsageError

    assert parse_group("slice:tree-1", ["a", "b"]) == ("slice", "tree-1")
    assert parse_group("slice:b", ["slice", "b"]) == ("slice", "b")  # a class pair after all
    with pytest.raises(UsageError, match="needs a slice id"):
        parse_group("slice:", ["a", "b"])
