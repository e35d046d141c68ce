"""Error groups of the baseline ensemble: confusion, grouping, order, narrowing."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tda_core._errors import ErrorGroup, error_report
from tda_core._exceptions import UsageError
from tda_core.data import tabular_dataset


@pytest.fixture()
def data():
    """Six test rows of classes a, b, c (no features matter here)."""
    train = pd.DataFrame({"x": range(6), "label": list("abcabc")})
    test = pd.DataFrame({"x": range(6), "label": list("aabbcc")})
    return tabular_dataset(train, test, "label")


def one_hot(classes, confidence=0.8):
    out = np.full((len(classes), 3), (1 - confidence) / 2)
    out[np.arange(len(classes)), classes] = confidence
    return out


def test_groups_confusion_and_order(data):
    # Mean prediction: a a | c c | c a  ->  b->c twice, c->a once.
    members = np.stack([one_hot([0, 0, 2, 2, 2, 0], 0.8), one_hot([0, 0, 2, 2, 2, 1], 0.7)])
    report = error_report(data, members)
    np.testing.assert_array_equal(report.predicted, [0, 0, 2, 2, 2, 0])
    np.testing.assert_array_equal(report.confusion, [[2, 0, 0], [0, 0, 2], [1, 0, 1]])
    assert [(g.label, g.test_indices) for g in report.groups] == [("b -> c", (2, 3)), ("c -> a", (5,))]
    assert [(g.true_code, g.pred_code, g.count) for g in report.groups] == [(1, 2, 2), (2, 0, 1)]
    assert report.accuracies == (0.5, 0.5)
    assert report.accuracy_mean == 0.5 and report.accuracy_std == 0.0
    np.testing.assert_allclose(report.proba_mean, members.mean(axis=0))
    # Loss of the true class, mean over members: row 0 has 0.8 and 0.7.
    assert report.loss[0] == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2)
    assert report.loss[2] == pytest.approx(-(math.log(0.1) + math.log(0.15)) / 2)


def test_ties_in_size_are_ordered_by_class_codes(data):
    report = error_report(data, one_hot([1, 0, 0, 1, 0, 1])[None])  # a->b, b->a, c->a, c->b: one each
    assert [g.label for g in report.groups] == ["a -> b", "b -> a", "c -> a", "c -> b"]
    assert report.accuracy_std == 0.0  # one member: no spread


def test_accuracy_spread_over_members(data):
    members = np.stack([one_hot([0, 0, 1, 1, 2, 2]), one_hot([0, 0, 1, 1, 2, 0]), one_hot([1, 1, 1, 1, 2, 0])])
    report = error_report(data, members)
    assert report.accuracies == pytest.approx((1.0, 5 / 6, 0.5))
    assert report.accuracy_std == pytest.approx(np.std([1.0, 5 / 6, 0.5], ddof=1))


def test_the_accuracy_shown_is_the_ensembles_and_agrees_with_the_error_count(data):
    """One accuracy: that of the mean prediction, which decides the errors (issue 21, item 2). The
    members' mean (0.75 here) differs from it (5/6: one error of six) and stays as accuracy_mean."""
    members = np.stack([one_hot([0, 0, 1, 1, 2, 2], 0.5), one_hot([0, 0, 1, 1, 2, 0], 0.6),
                        one_hot([1, 1, 1, 1, 2, 0], 0.6)])
    report = error_report(data, members)
    np.testing.assert_array_equal(report.predicted, [0, 0, 1, 1, 2, 0])
    assert (report.n_test, report.n_errors) == (6, 1)
    assert report.accuracy == pytest.approx(5 / 6) == 1 - report.n_errors / report.n_test
    assert report.accuracy_mean == pytest.approx((1.0 + 5 / 6 + 0.5) / 3)
    assert report.accuracy != pytest.approx(report.accuracy_mean)


def test_find_and_narrow(data):
    report = error_report(data, one_hot([0, 0, 2, 2, 2, 0])[None])
    group = report.find("b", "c")
    assert group.test_indices == (2, 3)
    assert group.narrowed([3]) == ErrorGroup("b", "c", 1, 2, (3,))
    with pytest.raises(UsageError, match=r"test samples \[0\] are not in the error group b -> c"):
        group.narrowed([0, 3])
    with pytest.raises(UsageError, match="choose at least one test sample of the group b -> c"):
        group.narrowed([])
    with pytest.raises(UsageError, match="no test errors a -> b; the error groups are: b -> c, c -> a"):
        report.find("a", "b")


def test_a_perfect_model_has_no_groups(data):
    report = error_report(data, one_hot([0, 0, 1, 1, 2, 2])[None])
    assert report.groups == () and report.accuracy_mean == 1.0
    with pytest.raises(UsageError, match="the error groups are: none"):
        report.find("a", "b")
