"""An ensemble that grows until its ranking holds (shared/DESIGN.md, "Growing ensembles"): it
stops at the target where the ranking holds, at the budget where it does not, trains only the new
seed at each step, and says in its JSON how many members it used and why it stopped."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_run import run

from tda_core import Analysis, LogisticSGDRecipe, RunConfig
from tda_core._ensemble_growth import START_SEEDS, EnsembleGrowth, grow_ensemble
from tda_core._exceptions import UsageError

AUTO = ["attribute", "--demo", "credit", "--group", "good:bad", "--action", "remove", "--metric", "loss", "--size", "5",
        "--ensemble", "auto", "--json"]


def test_a_converged_recipe_reaches_the_target_with_three_seeds(tmp_path, capsys):
    code, out, err = run(*AUTO, cache=tmp_path, capsys=capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["model"]["ensemble"] == START_SEEDS and doc["model"]["requested_ensemble"] == "auto"
    assert doc["growth_stopped"] == "target" and doc["target_reliability"] == 0.8 and doc["max_ensemble"] == 10
    (step,) = doc["growth"]
    assert step["members"] == 3 and step["reliability"] == doc["reliability"]
    low, high = doc["reliability_interval"]
    assert step["reliability_interval"] == [low, high] and 0.8 <= low <= doc["reliability"] <= high <= 1.0
    assert doc["reliability_verdict"].startswith("high") and doc["alternatives"] == []
    assert "ensemble of 3: reliability" in err and "stopped (target)" in err
    code, out, err = run(*AUTO[:-1], cache=tmp_path, capsys=capsys)  # the same, as text: nothing retrained
    assert code == 0 and "ensemble grown to 3 members (reliability by members 3: " in out and "stopped at the target" in out
    assert out.splitlines()[-1].endswith(f" 0 models trained, {3 + 700 * 3 + 3} from the cache")  # baseline, ranking, effect


def test_a_noisy_recipe_stops_at_the_budget_training_only_each_new_seed(tmp_path, capsys, credit):
    """One epoch of SGD cannot give an interval whose low end reaches 0.999 within four seeds: the
    ensemble grows 3 -> 4, the fourth step trains one seed (its baseline and one model per
    training sample), and the output points to candidate groups with their measured reliability."""
    args = [*AUTO, "--epochs", "1", "--target-reliability", "0.999", "--max-ensemble", "4"]
    code, out, err = run(*args, cache=tmp_path, capsys=capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["model"]["ensemble"] == 4 and doc["growth_stopped"] == "budget" and doc["growth_limit"] == "seeds"
    assert doc["growth_reason"] == "the most seeds (4) before the target 0.999"  # no flag: the CLI adds its own
    assert "stopped (budget): the most seeds (4) before the target 0.999 (raise it with --max-ensemble)" in err
    assert [s["members"] for s in doc["growth"]] == [3, 4]
    assert doc["growth"][1]["retrains"] == credit.n_train + 1  # the new seed only: nothing else retrained
    assert all(s["reliability_interval"][0] < 0.999 for s in doc["growth"])
    assert doc["growth"][-1]["reliability"] == doc["reliability"]
    (groups,) = doc["alternatives"]
    assert groups == dict(groups, kind="groups", advice="rank candidate groups of 5 samples instead of single samples")
    assert 0 < groups["reliability"] <= 1 and len(groups["reliability_interval"]) == 2
    # A rerun trains nothing: every member of every step is in the cache.
    code, out, err = run(*args, cache=tmp_path, capsys=capsys)
    again = json.loads(out)
    assert code == 0 and again["timing"]["retrains"] == 0 and again["growth"] == [dict(s, retrains=0, seconds=a["seconds"])
                                                                                   for s, a in zip(doc["growth"], again["growth"])]
    code, out, err = run(*(a for a in args if a != "--json"), cache=tmp_path, capsys=capsys)  # as text: the CLI's flags
    assert code == 0 and "stopped at the budget: the most seeds (4) before the target 0.999 (raise it with --max-ensemble)" in out
    measured = f"reliability {groups['reliability']:.2f}"
    assert f"instead: rank candidate groups of 5 samples instead of single samples (--unit group; {measured})" in out


def test_the_grown_ranking_is_the_ranking_of_that_many_seeds(tmp_path, credit):
    """The engine API the dashboard drives: a step per seed; breaking out stops it; the result is
    the ranking a fixed ensemble of as many seeds gives on the same kept rows, from the cache."""
    recipe = LogisticSGDRecipe(epochs=1, learning_rate=1.0)
    config = RunConfig(cache_dir=str(tmp_path))
    growth = EnsembleGrowth(credit, recipe, config, ("class", "good", "bad"), "remove", "loss", size=5, target=0.999, max_ensemble=10)
    seen = []
    for step in growth.steps():
        seen.append(step.members)
        if step.members == 4:
            break  # the dashboard's Stop
    assert seen == [3, 4] and growth.stopped == "stopped"
    result = growth.result()
    assert result.stopped == "stopped" and [s.members for s in result.steps] == [3, 4]
    fixed = Analysis(credit, recipe, RunConfig(ensemble=4, cache_dir=str(tmp_path)), kept_rows=result.analysis.kept_rows)
    ranking = fixed.ranking(result.attribution.group, "remove", "loss")
    assert fixed.engine.stats.retrains == 0  # every member came from the cache
    np.testing.assert_array_equal(ranking.index, result.attribution.ranking.index)
    np.testing.assert_allclose(ranking.delta_mean, result.attribution.ranking.delta_mean)
    assert fixed.reliability_of(ranking) == result.steps[-1].reliability == result.attribution.reliability_estimate


def test_groups_grow_the_same_way(tmp_path, credit):
    recipe = LogisticSGDRecipe(epochs=1, learning_rate=1.0)
    result = grow_ensemble(credit, recipe, RunConfig(cache_dir=str(tmp_path)), ("class", "good", "bad"), "remove", "loss",
                           size=10, unit="group", target=0.999, max_ensemble=4)
    assert result.attribution.unit == "group" and [s.members for s in result.steps] == [3, 4]
    assert result.stopped == "budget" and result.steps[1].retrains == len(result.attribution.ranking.groups) + 1
    assert result.attribution.reliability_interval == result.steps[-1].reliability.interval
    assert all(a.kind != "groups" for a in result.alternatives)  # already ranking groups


def test_bad_growth_settings_are_refused_before_training(tmp_path, capsys, credit):
    with pytest.raises(UsageError, match="target reliability"):
        EnsembleGrowth(credit, LogisticSGDRecipe(), RunConfig(), ("class", "good", "bad"), "remove", "loss", target=1.5)
    code, _, err = run(*AUTO, "--max-ensemble", "2", cache=tmp_path, capsys=capsys)
    assert code == 2 and "at least 3" in err and "Traceback" not in err
    code, _, err = run("errors", "--demo", "credit", "--ensemble", "auto", cache=tmp_path, capsys=capsys)
    assert code == 2 and err.startswith("error: --ensemble auto grows the ensemble of a ranking")


@pytest.mark.slow
def test_a_network_from_scratch_stops_at_the_budget_and_points_to_groups_and_head_mode(tmp_path):
    """Digits, full retraining of one epoch on 100 images: single samples are training noise, so
    four seeds do not bring the interval's low end to 0.8. It stops at the budget and measures, on
    the same seeds, candidate groups and head mode, which hold better."""
    from tda_core.data._demos import load_digits
    from tda_core.recipes import default_recipe

    data = load_digits(train_per_class=10, test_per_class=10, pool_per_class=0)
    recipe = default_recipe(data, epochs=1)
    baseline = Analysis(data, recipe, RunConfig(cache_dir=str(tmp_path)))
    label = baseline.errors.groups[0]
    result = grow_ensemble(data, recipe, RunConfig(cache_dir=str(tmp_path)), ("class", label.true, label.pred), "remove", "loss",
                           size=10, max_ensemble=4)
    assert result.stopped == "budget" and [s.members for s in result.steps] == [3, 4]
    assert result.steps[-1].reliability.low < 0.8
    assert result.steps[1].retrains == data.n_train + 1  # the fourth seed only
    kinds = {a.kind: a for a in result.alternatives}
    assert set(kinds) == {"groups", "head"}
    for alternative in kinds.values():
        assert alternative.reliability is not None and alternative.reliability.members == 4
    assert kinds["head"].reliability.value > result.steps[-1].reliability.value  # frozen features hold better


def test_a_deterministic_model_stops_at_once(tmp_path, capsys):
    """A converged solver ignores the seed: trained once per edit, its ranking is exact, and the
    growth stops at its first step with the reason in words."""
    code, out, err = run(*AUTO, "--recipe", "logistic-lbfgs", cache=tmp_path, capsys=capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["deterministic"] and doc["model"]["ensemble"] == 1 and doc["growth_stopped"] == "target"
    assert doc["growth"] == [dict(doc["growth"][0], members=1, reliability=1.0, reliability_interval=[1.0, 1.0])]
    assert "deterministic" in doc["growth_reason"]
