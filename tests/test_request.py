"""One attribution request, validated once where it is made (issue 20): the command line, the
pages and the API build the same Request, and Analysis answers it."""

from __future__ import annotations

import dataclasses

import pytest

from tda_core import ACTIONS, METRICS, Request, UsageError, check_alpha


def test_names_resolve_to_the_registered_action_and_metric():
    request = Request.of("relabel", "loss", 5, 0.1, "group")
    assert request.action is ACTIONS["relabel"] and request.metric is METRICS["loss"]
    assert (request.size, request.alpha, request.unit) == (5, 0.1, "group")
    assert Request(ACTIONS["remove"], METRICS["gt_prob"]) == Request.of("remove", "gt_prob", 10, 0.05, "sample")
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.size = 3  # type: ignore[misc]


@pytest.mark.parametrize("fields, message", [
    (("remove", "loss", 0), "the group size must be at least 1, not 0"),
    (("remove", "loss", 2.5), "the group size must be a whole number, not 2.5"),
    (("remove", "loss", True), "the group size must be a whole number, not True"),
    (("remove", "loss", 3, 1.0), "the significance level alpha must lie between 0 and 1, not 1.0"),
    (("remove", "loss", 3, 0.05, "cluster"), "unknown unit 'cluster': choose sample or group"),
])
def test_a_bad_request_is_one_usage_error(fields, message):
    with pytest.raises(UsageError) as caught:
        Request.of(*fields)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_unknown_names_and_a_non_number_alpha_keep_their_cause():
    with pytest.raises(UsageError, match="delete") as caught:
        Request.of("delete", "loss")
    assert caught.value.__cause__ is not None
    with pytest.raises(UsageError) as caught:
        check_alpha("five percent")
    assert str(caught.value) == "the significance level alpha must be a number between 0 and 1, not 'five percent'"
    assert isinstance(caught.value.__cause__, ValueError)
    assert check_alpha("0.01") == 0.01


def test_attribute_is_answer_of_its_request(cancer):
    from helpers import lbfgs

    from tda_core import Analysis, RunConfig
    from tda_core.recipes import SklearnRecipe

    analysis = Analysis(cancer, SklearnRecipe(lbfgs()), RunConfig(ensemble=2, use_cache=False))
    group = analysis.errors.groups[0]
    by_parts = analysis.attribute(group, "remove", "loss", 3, 0.05)
    by_request = analysis.answer(group, Request.of("remove", "loss", 3, 0.05))
    assert by_request.selected == by_parts.selected and by_request.size == 3
    assert (by_request.ranking.delta_mean == by_parts.ranking.delta_mean).all()
