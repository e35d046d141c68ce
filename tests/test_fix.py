"""The corrected training set for each action, and its manifest."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from planted import tiny_images
from tda_core._attribution import Baseline
from tda_core._exceptions import UsageError
from tda_core._fix import corrected_training_set
from tda_core.data import tabular_dataset
from tda_core.recipes._base import Member


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


def test_export_columns_never_overwrite_the_users_columns():
    """A table whose own columns are named row_id, sample_weight, label and weight (the target)."""
    train = pd.DataFrame({"row_id": [101, 102, 103, 104], "sample_weight": [0.5, 0.25, 2.0, 1.0],
                          "label": ["x", "y", "x", "z"], "weight": ["a", "b", "a", "b"]}, index=range(10, 14))
    data = tabular_dataset(train, train.iloc[:2], "weight", name="clash")
    table, manifest = corrected_training_set(data, None, "upweight", [1])
    assert list(table.columns) == ["tda_row_id", "row_id", "sample_weight", "label", "weight", "tda_sample_weight"]
    pd.testing.assert_frame_equal(table[["row_id", "sample_weight", "label", "weight"]], train.reset_index(drop=True))
    assert table["tda_row_id"].tolist() == [10, 11, 12, 13]
    assert table["tda_sample_weight"].tolist() == [1.0, 10.0, 1.0, 1.0]
    assert manifest["columns"] == {"row_id": "tda_row_id", "sample_weight": "tda_sample_weight", "target": "weight",
                                   "order": ["row_id", "sample_weight", "label", "weight"]}
    # Removal writes no weights; the user's row_id still survives.
    table, manifest = corrected_training_set(data, None, "remove", [0])
    assert table["row_id"].tolist() == [102, 103, 104] and table["tda_row_id"].tolist() == [11, 12, 13]
    assert manifest["columns"]["sample_weight"] is None


@pytest.mark.parametrize("target", ["row_id", "sample_weight", "tda_row_id"])
def test_a_target_named_like_an_export_column_keeps_its_labels(target):
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "tda_row_id": [7, 8, 9, 6], target: ["p", "q", "p", "q"]}
                         if target != "tda_row_id" else {"x": [1.0, 2.0, 3.0, 4.0], "row_id": [7, 8, 9, 6], target: ["p", "q", "p", "q"]})
    data = tabular_dataset(train, train, target)
    table, manifest = corrected_training_set(data, None, "upweight", [0])
    assert table[target].tolist() == ["p", "q", "p", "q"]
    assert len(set(table.columns)) == len(table.columns) == 5
    ids, weights = manifest["columns"]["row_id"], manifest["columns"]["sample_weight"]
    assert table[ids].tolist() == [0, 1, 2, 3] and table[weights].tolist() == [10.0, 1.0, 1.0, 1.0]
    assert {ids, weights}.isdisjoint(set(train.columns))


def test_free_name():
    from tda_core._fix import free_name

    assert free_name("row_id", {"x"}) == "row_id"
    assert free_name("row_id", {"row_id"}) == "tda_row_id"
    assert free_name("row_id", {"row_id", "tda_row_id", "tda_row_id_2"}) == "tda_row_id_3"


# --- manifests round-trip, hand edits ------------------------------------------------------


def _csv_and_manifest(table, manifest):
    import json

    return table.to_csv(index=False).encode(), json.loads(json.dumps(manifest))


@pytest.mark.parametrize("action, indices", [("remove", [1, 3]), ("relabel", [0, 3]), ("upweight", [2, 4])])
def test_a_replayed_manifest_writes_the_byte_identical_csv(data, action, indices):
    from tda_core._fix import replay_manifest

    baseline = baseline_with_targets(data, [1, 2, 0, 2, 0])
    exported, manifest = _csv_and_manifest(*corrected_training_set(data, baseline, action, indices, "why not", {"metric": "loss"}))
    table, replayed = replay_manifest(data, manifest)  # no baseline: the manifest holds the new labels
    assert table.to_csv(index=False).encode() == exported
    assert {k: v for k, v in replayed.items() if k != "created"} == {k: v for k, v in manifest.items() if k != "created"}


def test_hand_edits_remove_rows_and_set_labels_and_round_trip(data):
    from tda_core._fix import HAND_EDITS, hand_edited_training_set, replay_manifest

    table, manifest = hand_edited_training_set(data, remove=[4], labels={0: "c", 2: "c"}, reason="checked by hand")
    assert table["row_id"].tolist() == [10, 11, 12, 13]
    assert table["label"].tolist() == ["c", "b", "c", "a"]  # row 2 already was "c": no change
    assert manifest["action"] == HAND_EDITS
    assert manifest["changes"] == [
        {"train_index": 0, "row_id": 10, "label": "a", "new_label": "c"},
        {"train_index": 4, "row_id": 14, "label": "b", "removed": True},
    ]
    exported, manifest = _csv_and_manifest(table, manifest)
    assert replay_manifest(data, manifest)[0].to_csv(index=False).encode() == exported
    with pytest.raises(UsageError, match=r"training rows \[0\] are both removed and relabelled"):
        hand_edited_training_set(data, remove=[0], labels={0: "b"})
    with pytest.raises(UsageError, match="unknown class 'purple'"):
        hand_edited_training_set(data, labels={1: "purple"})
    with pytest.raises(UsageError, match="change nothing"):
        hand_edited_training_set(data, labels={1: "b"})


def test_images_round_trip_too():
    from tda_core._fix import hand_edited_training_set, replay_manifest

    images = tiny_images(n_train=6, n_test=3)
    exported, manifest = _csv_and_manifest(*hand_edited_training_set(images, remove=[1], labels={0: images.classes[-1]}))
    assert replay_manifest(images, manifest)[0].to_csv(index=False).encode() == exported


def test_a_manifest_for_other_data_or_hand_broken_is_refused_in_words(data):
    from tda_core._fix import read_manifest, replay_manifest

    _, manifest = _csv_and_manifest(*corrected_training_set(data, None, "remove", [1]))
    other = tabular_dataset(data.X_train.assign(label=list("abcab")).iloc[:4], data.X_test.assign(label=list("abc")), "label", name="other")
    with pytest.raises(UsageError, match=r"the manifest was made for other data \(toy\): its data fingerprint does not match other"):
        replay_manifest(other, manifest)
    with pytest.raises(UsageError, match="lacks data_fingerprint"):
        replay_manifest(data, {k: v for k, v in manifest.items() if k != "data_fingerprint"})
    with pytest.raises(UsageError, match="names row 99, but training row 1 is 11"):
        replay_manifest(data, manifest | {"changes": [{"train_index": 1, "row_id": 99, "removed": True}]})
    with pytest.raises(UsageError, match="weight 'x'"):
        replay_manifest(data, manifest | {"changes": [{"train_index": 1, "weight": "x"}]})
    with pytest.raises(UsageError, match="changes a training row twice"):
        replay_manifest(data, manifest | {"changes": [{"train_index": 1, "removed": True}] * 2})
    with pytest.raises(UsageError, match="not valid JSON"):
        read_manifest("{nope")


def test_a_replayed_manifest_gives_the_same_before_and_after(credit):
    from tda_core._analysis import Analysis
    from tda_core._engine import RunConfig
    from tda_core._fix import hand_edited_training_set, replay_effect
    from tda_core.recipes._registry import default_recipe

    exported = Analysis(credit, default_recipe(credit), RunConfig(ensemble=2, use_cache=False))
    group = exported.group("bad", "good")
    effect = exported.effect(group, "relabel", "gt_prob", [3, 5, 8])
    why = {"error_group": {"true": "bad", "pred": "good", "test_indices": list(group.test_indices)}, "metric": "gt_prob"}
    _, manifest = _csv_and_manifest(*corrected_training_set(credit, exported.baseline, "relabel", [3, 5, 8], context=why))
    again = replay_effect(Analysis(credit, default_recipe(credit), RunConfig(ensemble=2, use_cache=False)), manifest)
    assert (again.delta_mean, again.accuracy_after_mean, again.errors_fixed, again.errors_new) == (
        effect.delta_mean, effect.accuracy_after_mean, effect.errors_fixed, effect.errors_new)
    np.testing.assert_array_equal(again.confusion_after, effect.confusion_after)
    _, hand = _csv_and_manifest(*hand_edited_training_set(credit, remove=[1], context=why))
    with pytest.raises(UsageError, match="hand edits have no before/after comparison yet"):
        replay_effect(exported, hand)
    wrong = manifest | {"changes": [dict(c, new_label=c["label"]) for c in manifest["changes"]]}
    with pytest.raises(UsageError, match="change 1 of the manifest changes nothing on training row 3"):  # two classes: the schema says so first
        replay_effect(exported, wrong)


def test_verify_retrains_on_the_corrected_set_for_an_action_and_for_hand_edits():
    """Verify (issue 21, Compare → Fix → verify): the ensemble retrained on the corrected training
    set, through the engine, against a brute-force fit of the edited table; for an action it agrees
    with the group effect measured before the export, and hand edits that remove and relabel at once,
    which replay_effect cannot compare, are verified the same way."""
    from sklearn.base import clone
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tda_core._analysis import Analysis
    from tda_core._engine import RunConfig
    from tda_core._fix import edited_arrays, verify
    from tda_core.recipes import SklearnRecipe

    raw = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})
    train, test = train_test_split(raw, train_size=120, test_size=60, random_state=1, stratify=raw["label"])
    data = tabular_dataset(train, test, "label", name="cancer")
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    analysis = Analysis(data, SklearnRecipe(estimator), RunConfig(ensemble=2, use_cache=False))
    group = analysis.errors.groups[0]
    indices = [int(i) for i in analysis.ranking(group, "relabel", "loss").index[:10]]
    effect = analysis.effect(group, "relabel", "loss", indices)
    seen = []
    checked = verify(analysis, *edited_arrays(data, analysis.baseline, "relabel", indices), group.test_indices, seen.append)
    assert seen and checked.n_train_after == data.n_train
    assert (checked.errors_fixed, checked.errors_new) == (effect.errors_fixed, effect.errors_new)
    assert checked.accuracy_after == pytest.approx(effect.accuracy_after)
    assert checked.accuracy_before == pytest.approx(analysis.errors.accuracy)

    # Hand edits: two rows removed, one relabelled, at once; a brute-force fit of that table.
    other = data.classes[1 - data.y_train[5]]
    y, weight = edited_arrays(data, None, remove=[0, 1], labels={5: other})
    hand = verify(analysis, y, weight, group.test_indices)
    labels = data.y_train.copy()
    labels[5] = 1 - labels[5]
    kept = np.arange(data.n_train) >= 2
    brute = clone(estimator).fit(data.X_train[kept], labels[kept]).predict(data.X_test)
    assert hand.n_train_after == data.n_train - 2
    np.testing.assert_array_equal(hand.predicted_after, brute)
    assert hand.accuracy_after == pytest.approx(np.mean(brute == data.y_test))
    assert hand.errors_new == int(np.sum((analysis.baseline.predicted_test == data.y_test) & (brute != data.y_test)))
