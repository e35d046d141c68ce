"""The corrected training set for each action, and its manifest."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from planted import tiny_images
from tda_core.attribution import Baseline
from tda_core.data import tabular_dataset
from tda_core.exceptions import UsageError
from tda_core.fix import corrected_training_set
from tda_core.recipes.base import Member


@pytest.fixture()
def data():
    """Five training rows with original ids 10..14 (not positions), classes a, b, c."""
    train = pd.DataFrame({"x": [0.5, 1.5, 2.5, 3.5, 4.5], "colour": list("rgbrg"), "label": list("abcab")}, index=range(10, 15))
    test = pd.DataFrame({"x": [1.0, 2.0, 3.0], "colour": list("rgb"), "label": list("abc")})
    return tabular_dataset(train, test, "label", name="toy")


def baseline_with_targets(data, targets):
    proba = np.full((1, data.n_train, data.n_classes), 1 / data.n_classes)
    return Baseline(proba, proba[:, : data.n_test], np.asarray(targets), (Member(0),), False)


def test_remove_drops_the_rows_and_keeps_the_original_ids(data):
    table, manifest = corrected_training_set(data, None, "remove", [3, 1, 3], reason="mislabelled")
    assert table["row_id"].tolist() == [10, 12, 14]
    assert table["x"].tolist() == [0.5, 2.5, 4.5]
    assert table["label"].tolist() == ["a", "c", "b"]
    assert list(table.columns) == ["row_id", "x", "colour", "label"]
    assert manifest["changes"] == [
        {"train_index": 1, "row_id": 11, "label": "b", "removed": True},
        {"train_index": 3, "row_id": 13, "label": "a", "removed": True},
    ]
    assert (manifest["n_train_before"], manifest["n_train_after"]) == (5, 3)
    assert (manifest["dataset"], manifest["action"], manifest["reason"], manifest["tool"]) == ("toy", "remove", "mislabelled", "tda_core")
    assert manifest["data_fingerprint"] == data.fingerprint
    assert dt.datetime.fromisoformat(manifest["created"]).tzinfo is not None


def test_relabel_takes_the_baselines_targets(data):
    baseline = baseline_with_targets(data, [1, 2, 0, 2, 0])
    table, manifest = corrected_training_set(data, baseline, "relabel", [0, 3])
    assert table["label"].tolist() == ["b", "b", "c", "c", "b"]
    assert table["row_id"].tolist() == [10, 11, 12, 13, 14]
    assert "sample_weight" not in table
    assert manifest["changes"] == [
        {"train_index": 0, "row_id": 10, "label": "a", "new_label": "b"},
        {"train_index": 3, "row_id": 13, "label": "a", "new_label": "c"},
    ]
    with pytest.raises(UsageError, match="relabel needs the baseline ensemble"):
        corrected_training_set(data, None, "relabel", [0])


def test_upweight_adds_a_sample_weight_column(data):
    table, manifest = corrected_training_set(data, None, "upweight", [2])
    assert table["sample_weight"].tolist() == [1.0, 1.0, 10.0, 1.0, 1.0]
    assert table["label"].tolist() == list("abcab")
    assert manifest["changes"] == [{"train_index": 2, "row_id": 12, "label": "c", "weight": 10.0}]
    assert manifest["n_train_after"] == 5


def test_bad_indices_are_refused(data):
    with pytest.raises(UsageError, match=r"training indices \[5, 9\] are out of range: the training set has rows 0..4"):
        corrected_training_set(data, None, "remove", [0, 5, 9])
    with pytest.raises(UsageError, match="give at least one training index"):
        corrected_training_set(data, None, "remove", [])
    with pytest.raises(UsageError, match="unknown action 'drop'"):
        corrected_training_set(data, None, "drop", [0])


def test_images_are_listed_by_file():
    images = tiny_images(n_train=6, n_test=3)
    table, manifest = corrected_training_set(images, None, "remove", [0, 4])
    assert table["file"].tolist() == ["train/1.png", "train/2.png", "train/3.png", "train/5.png"]
    assert table["row_id"].tolist() == [1, 2, 3, 5]
    assert table["class"].tolist() == ["top", "centre", "left", "centre"]
    assert manifest["changes"][1] == {"train_index": 4, "row_id": "train/4.png", "label": "top", "removed": True}
