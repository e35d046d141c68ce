"""One analysis end to end: deterministic models, member schemes, warnings, checks before training."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import lbfgs
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tda_core._analysis import Analysis, check_request
from tda_core._engine import RunConfig
from tda_core._exceptions import ModelError, UsageError
from tda_core.data import load_demo, tabular_dataset
from tda_core.recipes import LogisticSGDRecipe, SklearnRecipe
from tda_core.recipes._registry import paper_sgd


def recipe() -> SklearnRecipe:
    return SklearnRecipe(lbfgs(max_iter=2000, tol=1e-4))


def test_a_seed_independent_model_is_trained_once_per_edit(cancer):
    analysis = Analysis(cancer, recipe(), RunConfig(ensemble=3, use_cache=False))
    assert analysis.baseline.deterministic
    assert len(analysis.members) == 1
    assert analysis.engine.stats.retrains == 3  # the baseline of each seed, to see that they agree
    group = analysis.errors.groups[0]
    result = analysis.attribute(group, "remove", "loss", size=5)
    # One model per training sample and one for the group: not three of each.
    assert analysis.engine.stats.retrains == 3 + cancer.n_train + 1
    assert result.deterministic and result.reliability == 1.0
    assert all(row["p_value"] is None for row in result.ranking.records())
    assert np.all(result.ranking.delta_std == 0)
    assert result.selected == tuple(int(i) for i in result.ranking.index[result.ranking.improvement > 0][:5])
    assert any(w.startswith("Deterministic model") for w in result.warnings)


def test_one_member_is_enough_for_a_deterministic_model(cancer):
    analysis = Analysis(cancer, recipe(), RunConfig(ensemble=1, use_cache=False))
    assert analysis.baseline.deterministic  # a second seed was trained to tell
    assert analysis.engine.stats.retrains == 2


def test_one_member_is_refused_for_a_seed_dependent_model(cancer):
    sgd = SklearnRecipe(make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", max_iter=5, tol=None)))
    analysis = Analysis(cancer, sgd, RunConfig(ensemble=1, use_cache=False))
    with pytest.raises(UsageError, match="at least 2 members"):
        analysis.compute_baseline()


def test_seed_dependent_members_give_p_values_and_reliability(cancer):
    analysis = Analysis(cancer, LogisticSGDRecipe(), RunConfig(ensemble=3, use_cache=False))
    assert not analysis.baseline.deterministic and len(analysis.members) == 3
    result = analysis.attribute(analysis.errors.groups[0], "remove", "loss", size=5)
    p = np.array([r["p_value"] for r in result.ranking.records()], dtype=float)
    assert np.isfinite(p).all() and (p < 1).any()
    assert 0 < result.reliability <= 1
    # The interval comes from the same members' deltas as the point, and the candidate groups have theirs.
    estimate = result.reliability_estimate
    assert estimate.members == 3 and estimate.value == result.reliability
    assert result.reliability_interval == (estimate.low, estimate.high) and estimate.low <= estimate.value <= estimate.high
    deltas = analysis.member_deltas(result.ranking)
    assert deltas.shape == (3, cancer.n_train)
    np.testing.assert_allclose(np.sort(deltas.mean(axis=0)), np.sort(result.ranking.delta_mean))
    groups = analysis.attribute(analysis.errors.groups[0], "remove", "loss", size=5, unit="group")
    assert groups.reliability_estimate.value == groups.ranking.reliability and groups.reliability_interval is not None


def test_an_uncertain_reliability_is_said_in_the_warnings(cancer):
    """A point above one half whose interval reaches below it: the warning says so and how to fix it."""
    analysis = Analysis(cancer, LogisticSGDRecipe(), RunConfig(ensemble=3, use_cache=False))
    result = analysis.attribute(analysis.errors.groups[0], "remove", "loss", size=5)
    wide = type(result.reliability_estimate)(0.7, 0.3, 0.95, 3)
    notes = analysis.warnings(result.ranking, result.effect, 0.05, wide)
    assert any(n.startswith(f"Uncertain reliability ({result.reliability:.2f}, interval 0.30 to 0.95)") and "--ensemble auto" in n
               for n in notes), notes


def test_checkpoints_of_one_run_give_no_p_values(cancer):
    cancer = tabular_dataset(
        cancer.X_train.iloc[:60].assign(label=cancer.y_train[:60]), cancer.X_test.assign(label=cancer.y_test), "label"
    )
    analysis = Analysis(cancer, paper_sgd(), RunConfig(ensemble=3, use_cache=False))
    assert analysis.baseline.independent_runs == 1
    result = analysis.attribute(analysis.errors.groups[0], "remove", "loss", size=5)
    assert result.reliability is None and result.selected == ()
    assert any("checkpoints of a single run" in w for w in result.warnings)
    # Six members over two runs: p-values over the two run means.
    two_runs = Analysis(cancer, paper_sgd(), RunConfig(ensemble=6, use_cache=False))
    assert two_runs.baseline.independent_runs == 2
    ranking = two_runs.ranking(two_runs.errors.groups[0], "remove", "loss")
    assert np.isfinite(ranking.p_value).all()


def test_a_harmful_group_effect_is_flagged(cancer):
    analysis = Analysis(cancer, recipe(), RunConfig(ensemble=1, use_cache=False))
    group = analysis.errors.groups[0]
    # Relabelling 40 random training rows breaks the model elsewhere.
    indices = list(range(0, 80, 2))
    effect = analysis.effect(group, "relabel", "loss", indices)
    notes = analysis.warnings(analysis.ranking(group, "relabel", "loss"), effect, 0.05)
    assert effect.errors_new > effect.errors_fixed and effect.accuracy_delta_mean < 0
    assert any(f"creates {effect.errors_new} new error" in n and f"net benefit {effect.net_benefit:+d}" in n for n in notes)
    # The ensemble's accuracy (its mean prediction, which decides the error counts), not the members' mean.
    assert effect.accuracy_change == pytest.approx(effect.accuracy_after - effect.accuracy_before) and effect.accuracy_change < 0
    assert any(f"lowers global test accuracy by {-effect.accuracy_change:.3f}" in n for n in notes)


def test_bad_requests_fail_before_anything_is_trained(cancer):
    for size, alpha, unit, words in ((0, 0.05, "sample", "group size"), (5, 2.0, "sample", "alpha"), (5, 0.05, "pixel", "unit")):
        with pytest.raises(UsageError, match=words) as info:
            check_request(size, alpha, unit)
        assert "--" not in str(info.value)  # the engine speaks the user's words, not CLI flags
    analysis = Analysis(cancer, LogisticSGDRecipe(), RunConfig(use_cache=False))
    with pytest.raises(UsageError):
        analysis.attribute(None, "remove", "loss", size=0)  # type: ignore[arg-type]
    assert analysis.engine.stats.retrains == 0
    with pytest.raises(ModelError, match="epochs"):
        Analysis(cancer, LogisticSGDRecipe(epochs=0), RunConfig(use_cache=False))


def test_unknown_action_and_metric_are_refused_in_words():
    data = load_demo("credit")
    analysis = Analysis(data, LogisticSGDRecipe(), RunConfig(use_cache=False))
    group = analysis.errors.groups[0]
    with pytest.raises(UsageError, match="unknown action 'delete'"):
        analysis.attribute(group, "delete", "loss")
    with pytest.raises(UsageError, match="unknown metric"):
        analysis.attribute(group, "remove", "accuracy")
