"""Actions: each one's edit of labels and weights, the relabel targets, and choosing by name."""

from __future__ import annotations

import numpy as np
import pytest

from tda_core._actions import ACTIONS, UPWEIGHT_FACTOR, Action, Edit, available_actions, get_action, relabel_targets
from tda_core._exceptions import UsageError

Y = np.array([0, 1, 2, 1, 0], dtype=np.int64)
W = np.ones(5)


def test_remove_sets_weight_zero_and_keeps_labels():
    y, w = ACTIONS["remove"].edit([1, 3]).apply(Y, W)
    np.testing.assert_array_equal(y, Y)
    np.testing.assert_array_equal(w, [1.0, 0.0, 1.0, 0.0, 1.0])


def test_upweight_multiplies_the_weight_by_ten():
    assert UPWEIGHT_FACTOR == 10.0
    y, w = ACTIONS["upweight"].edit([4]).apply(Y, np.array([1.0, 1.0, 1.0, 1.0, 0.5]))
    np.testing.assert_array_equal(y, Y)
    np.testing.assert_array_equal(w, [1.0, 1.0, 1.0, 1.0, 5.0])


def test_relabel_takes_each_samples_target():
    targets = np.array([2, 0, 1, 2, 1])
    edit = ACTIONS["relabel"].edit([0, 3], targets)
    assert edit == Edit("relabel", (0, 3), (2, 2))
    y, w = edit.apply(Y, W)
    np.testing.assert_array_equal(y, [2, 1, 2, 2, 0])
    np.testing.assert_array_equal(w, W)
    with pytest.raises(ValueError, match="relabel needs the baseline's relabel targets"):
        ACTIONS["relabel"].edit([0])


def test_apply_returns_float64_copies_and_leaves_its_inputs_alone():
    y0, w0 = Y.copy(), np.ones(5, dtype=np.float32)
    y, w = ACTIONS["remove"].edit([0]).apply(y0, w0)
    assert w.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(y0, Y)
    np.testing.assert_array_equal(w0, np.ones(5))
    y[1] = 7
    assert y0[1] == 1


def test_the_baseline_edits_nothing():
    for edit in (Edit.baseline(), Edit("remove"), ACTIONS["upweight"].edit([])):
        assert edit.is_baseline
        y, w = edit.apply(Y, W)
        np.testing.assert_array_equal(y, Y)
        np.testing.assert_array_equal(w, W)
    assert not ACTIONS["remove"].edit([0]).is_baseline


def test_edits_are_values_usable_as_keys():
    a = ACTIONS["remove"].edit(np.array([3, 1]))
    b = Edit("remove", (3, 1))
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    assert all(type(i) is int for i in a.indices)  # numpy integers become plain ints
    assert ACTIONS["remove"].edit([1, 3]) != a  # order is part of the edit


def test_get_action_by_name_or_object():
    assert set(ACTIONS) == {"remove", "relabel", "upweight", "add"}
    for name, action in ACTIONS.items():
        assert get_action(name) is action and get_action(action) is action
        assert isinstance(action, Action) and action.name == name
    with pytest.raises(UsageError, match="unknown action 'delete': choose one of remove, relabel, upweight, add"):
        get_action("delete")


def test_descriptions_and_gradient_terms():
    assert ACTIONS["remove"].describe(1) == "remove 1 training sample"
    assert ACTIONS["relabel"].describe(3) == "relabel 3 training samples"
    assert ACTIONS["upweight"].describe(2) == "upweight 2 training samples x10"
    assert ACTIONS["upweight"].title == "Upweight ×10"
    assert ACTIONS["remove"].gradient_terms == (("old", -1.0),)
    assert ACTIONS["relabel"].gradient_terms == (("old", -1.0), ("new", 1.0))
    assert ACTIONS["upweight"].gradient_terms == (("old", 9.0),)
    assert [a.needs_targets for a in ACTIONS.values()] == [False, True, False, False]
    assert ACTIONS["add"].describe(2) == "add 2 pool samples to the training set"
    assert ACTIONS["add"].gradient_terms == (("old", 1.0),)
    assert [a.on_pool for a in ACTIONS.values()] == [False, False, False, True]


def test_add_edits_pool_rows_only():
    # Fit rows: 4 training rows, then 3 pool rows at weight 0 until added.
    y = np.array([0, 1, 0, 1, 1, 0, 1])
    w = np.array([1.0, 1, 1, 1, 0, 0, 0])
    y2, w2 = ACTIONS["add"].edit([0, 2]).apply(y, w, n_train=4)
    np.testing.assert_array_equal(w2, [1, 1, 1, 1, 1, 0, 1])
    np.testing.assert_array_equal(y2, y)
    _, w3 = ACTIONS["remove"].edit([0]).apply(y, w, n_train=4)
    np.testing.assert_array_equal(w3, [0, 1, 1, 1, 0, 0, 0])  # training row 0, not a pool row
    np.testing.assert_array_equal(w, [1, 1, 1, 1, 0, 0, 0])  # the inputs are copied
    with pytest.raises(IndexError, match="add indices \\[3\\] lie outside the pool of 3 rows"):
        ACTIONS["add"].edit([3]).apply(y, w, n_train=4)
    with pytest.raises(IndexError, match="lie outside the training set of 4 rows"):
        ACTIONS["remove"].edit([4]).apply(y, w, n_train=4)


def test_add_is_offered_only_with_a_pool():
    assert [a.name for a in available_actions(False)] == ["remove", "relabel", "upweight"]
    assert [a.name for a in available_actions(True)] == ["remove", "relabel", "upweight", "add"]


def test_relabel_targets_binary_is_the_other_class():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    np.testing.assert_array_equal(relabel_targets(proba, np.array([0, 0, 1])), [1, 1, 0])


def test_relabel_targets_multiclass():
    """A misclassified sample goes to the predicted class; a correct one to the second most likely."""
    proba = np.array([
        [0.6, 0.3, 0.1],  # label 0, correct: second most likely is 1
        [0.6, 0.1, 0.3],  # label 0, correct: second most likely is 2
        [0.2, 0.7, 0.1],  # label 2, wrong: predicted 1
        [0.1, 0.2, 0.7],  # label 0, wrong: predicted 2 (not the second most likely, 1)
        [0.2, 0.2, 0.6],  # label 2, correct: tie for second, the lower class wins
        [0.4, 0.4, 0.2],  # label 1, tied top: argmax is 0, so it counts as wrong -> 0
    ])
    y = np.array([0, 0, 2, 0, 2, 1])
    np.testing.assert_array_equal(relabel_targets(proba, y), [1, 2, 1, 2, 0, 0])
