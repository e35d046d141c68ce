"""The add action end to end: pool rankings, group effects, the CLI's --pool, exports and replays."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from cli_run import run

from tda_core._actions import ACTIONS, POOL, Edit
from tda_core._analysis import Analysis
from tda_core._engine import RunConfig
from tda_core._exceptions import UsageError
from tda_core._fix import corrected_training_set, replay_manifest
from tda_core.recipes._registry import named_recipe


def test_adding_pool_samples_is_measured_like_removing_training_samples(credit, tmp_path):
    analysis = Analysis(credit, named_recipe("default", credit), RunConfig(ensemble=3, cache_dir=str(tmp_path)))
    group = analysis.errors.find("bad", "good")
    result = analysis.attribute(group, "add", "loss", 10)
    ranking = result.ranking
    assert ranking.subject is POOL and ranking.subject.index_key == "pool_index" and sorted(ranking.index) == list(range(credit.n_pool))
    assert analysis.engine.stats.retrains == 3 + 3 * credit.n_pool + 3  # baseline, every pool sample, the group
    # The selection: the first 10 significant, improving pool samples; the group is retrained as a whole.
    assert len(result.selected) == 10 and set(result.selected) <= set(ranking.index[:20].tolist())
    effect = result.effect
    assert effect.action == "add" and effect.delta_mean < 0 and effect.p_value < 0.05
    assert effect.to_json()["pool_indices"] == sorted(result.selected) and "train_indices" not in effect.to_json()
    # Brute force: each member trained by hand with those pool rows added gives the same loss.
    edit = ACTIONS["add"].edit(sorted(result.selected))
    t = group.test_indices[0]
    losses = [-np.log(analysis.recipe.fit_predict(credit, [edit], m.seed)[0, m.checkpoint, t, credit.y_test[t]])
              for m in analysis.members]
    assert effect.per_test[0].after_mean == pytest.approx(np.mean(losses), rel=1e-9)
    # Without a pool, add is refused in words.
    bare = replace(credit, X_pool=None, y_pool=None, pool_ids=None, fingerprint="")
    with pytest.raises(UsageError, match="add needs a pool"):
        Analysis(bare, named_recipe("default", bare), RunConfig(use_cache=False)).attribute(group, "add", "loss", 3)


def test_add_refuses_candidate_groups_in_words(credit):
    analysis = Analysis(credit, named_recipe("default", credit), RunConfig(use_cache=False))
    group = analysis.errors.find("bad", "good")
    with pytest.raises(UsageError, match="candidate training groups apply to remove, relabel and upweight"):
        analysis.attribute(group, "add", "loss", 5, unit="group")


def test_candidate_mode_estimates_every_pool_sample_and_retrains_the_best(credit, tmp_path):
    """Influence estimates of adding each pool sample (its gradient terms, the training rows'
    Hessian) choose which pool samples to retrain; they agree with the exact ranking."""
    from scipy import stats

    from tda_core._output import attribution_json

    exact = Analysis(credit, named_recipe("default", credit), RunConfig(ensemble=3, cache_dir=str(tmp_path)))
    group = exact.errors.find("bad", "good")
    full = exact.ranking(group, "add", "loss")
    estimate = exact.estimates(group, "add", "loss")
    assert estimate.shape == (credit.n_pool,)
    retrained = dict(zip(full.index.tolist(), full.delta_mean.tolist()))
    assert stats.spearmanr(estimate, [retrained[j] for j in range(credit.n_pool)]).statistic > 0.9
    candidates = Analysis(credit, named_recipe("default", credit), RunConfig(ensemble=3, cache_dir=str(tmp_path), candidates=20))
    result = candidates.attribute(candidates.group("bad", "good"), "add", "loss", 10)
    assert len(result.ranking.index) == 20 + 10  # the top 20 and a random check of 10
    assert set(full.index[:10].tolist()) <= set(result.ranking.index.tolist())
    # Retrained numbers are the exact ranking's, read from the same cache.
    assert all(d == pytest.approx(retrained[j], abs=1e-15) for j, d in zip(result.ranking.index, result.ranking.delta_mean))
    doc = attribution_json(candidates, result, 0.0)
    assert {"pool_index", "estimate", "retrained"} == set(doc["estimates"]["values"][0])
    assert doc["estimates"]["spearman"] > 0.9


def test_cli_attribute_add_with_a_pool_file(credit, tmp_path, capsys):
    """--pool replaces the demo's pool: here a table of 40 pool rows written in another column order."""
    pool = credit.X_pool.iloc[:40].copy()
    pool["credit_risk"] = np.array(credit.classes)[credit.y_pool[:40]]
    path = tmp_path / "pool.csv"
    pool[list(reversed(pool.columns))].to_csv(path, index=False)
    args = ["attribute", "--demo", "credit", "--pool", str(path), "--group", "bad:good", "--action", "add", "--metric", "loss",
            "--size", "5"]
    code, out, err = run(*args, "--json", cache=tmp_path / "cache", capsys=capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["data"]["n_pool"] == 40 and doc["action"] == "add" and len(doc["ranking"]) == 40
    assert {"pool_index", "pool_id", "delta_mean", "p_value"} <= set(doc["ranking"][0])
    assert doc["group_effect"]["pool_indices"] == sorted(doc["selected"]) and len(doc["selected"]) == 5
    assert doc["timing"]["retrains"] == 3 + 40 * 3 + 3
    # The readable form names pool samples, and everything comes from the cache.
    code, out, err = run(*args, cache=tmp_path / "cache", capsys=capsys)
    assert code == 0 and "pool_index" in out and "group effect of add on 5 samples" in out and "0 models trained" in out


def test_export_appends_added_pool_rows_and_replays(credit):
    table, manifest = corrected_training_set(credit, None, "add", [3, 1], reason="missing cases")
    assert len(table) == credit.n_train + 2 and manifest["n_train_after"] == credit.n_train + 2
    added = table.iloc[-2:]
    assert list(added["row_id"]) == [f"pool:{credit.pool_id(1)}", f"pool:{credit.pool_id(3)}"]
    pd.testing.assert_frame_equal(
        added[list(credit.X_pool.columns)].reset_index(drop=True), credit.X_pool.iloc[[1, 3]].reset_index(drop=True)
    )
    assert list(added["credit_risk"]) == [credit.classes[credit.y_pool[1]], credit.classes[credit.y_pool[3]]]
    assert [c["pool_index"] for c in manifest["changes"]] == [1, 3] and all(c["added"] for c in manifest["changes"])
    again, replayed = replay_manifest(credit, json.loads(json.dumps(manifest)))
    assert again.to_csv(index=False) == table.to_csv(index=False)
    assert {k: v for k, v in replayed.items() if k != "created"} == {k: v for k, v in manifest.items() if k != "created"}
    with pytest.raises(UsageError, match="pool indices \\[100\\] are out of range"):
        corrected_training_set(credit, None, "add", [100])


def test_a_pool_leaves_every_other_action_unchanged(credit):
    """Rankings of remove with and without a pool are the same numbers: pool rows train only when added."""
    bare = replace(credit, X_pool=None, y_pool=None, pool_ids=None, fingerprint="")
    recipe = named_recipe("default", credit)
    edits = [Edit.baseline()] + [ACTIONS["remove"].edit([i]) for i in range(0, 700, 70)]
    np.testing.assert_array_equal(recipe.fit_predict(credit, edits, 0), recipe.fit_predict(bare, edits, 0))


def test_similar_pool_samples_beside_the_add_ranking(credit, tmp_path):
    """Beside a ranking of pool samples: the nearest pool samples to the errors, with their
    measured effect of being added (distances standardised on the training rows, checked by hand)."""
    from tda_core import similar_to_errors
    from tda_core._output import similar_json
    from tda_core.recipes._preprocessing import tabular_preprocessor

    analysis = Analysis(credit, named_recipe("default", credit), RunConfig(ensemble=3, cache_dir=str(tmp_path)))
    group = analysis.errors.find("bad", "good")
    result = analysis.attribute(group, "add", "loss", 5)
    doc = similar_json(analysis, similar_to_errors(analysis, result))
    rows = doc["similar"]
    prep = tabular_preprocessor().fit(credit.X_train)
    F_train, F_pool, F_test = (np.asarray(prep.transform(X)) for X in (credit.X_train, credit.X_pool, credit.X_test))
    mean, std = F_train.mean(axis=0), F_train.std(axis=0)
    std[std == 0] = 1.0
    Z_pool, Z_err = (F_pool - mean) / std, (F_test[list(group.test_indices)] - mean) / std
    nearest = np.sqrt(((Z_pool[:, None] - Z_err[None]) ** 2).sum(-1)).min(axis=1)
    assert [r["pool_index"] for r in rows] == np.argsort(nearest, kind="stable")[:10].tolist()
    np.testing.assert_allclose([r["distance"] for r in rows], np.sort(nearest)[:10], rtol=1e-9)
    effects = dict(zip(result.ranking.index.tolist(), result.ranking.delta_mean.tolist()))
    assert all(r["delta_mean"] == effects[r["pool_index"]] for r in rows)
    assert all(r["label"] == credit.classes[credit.y_pool[r["pool_index"]]] and r["pool_id"] == credit.pool_id(r["pool_index"])
               for r in rows)
    assert -1 <= doc["similar_vs_influential_spearman"] <= 1


def test_cli_add_with_an_image_pool_folder(tmp_path, capsys):
    """--images with a separate --pool folder of <class>/* images: the pool is ranked and added,
    head mode, and the errors it names are the training run's."""
    from PIL import Image

    rng = np.random.default_rng(0)

    def write(root, n):
        for c, name in enumerate(("dark", "light")):
            folder = root / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(rng.normal(115 + 20 * c, 70, size=(12, 12)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")

    write(tmp_path / "images" / "train", 10)
    write(tmp_path / "images" / "test", 10)
    write(tmp_path / "more", 4)
    base = ["--images", str(tmp_path / "images"), "--epochs", "2", "--mode", "head"]
    code, out, err = run("errors", *base, "--json", cache=tmp_path / "c", capsys=capsys)
    assert code == 0, err
    groups = json.loads(out)["groups"]
    assert groups, "the tiny task must have errors to attribute"
    group = f"{groups[0]['true']}:{groups[0]['pred']}"
    code, out, err = run("attribute", *base, "--pool", str(tmp_path / "more"), "--group", group, "--action", "add",
                         "--metric", "loss", "--size", "2", "--json", cache=tmp_path / "c", capsys=capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["data"]["n_pool"] == 8 and len(doc["ranking"]) == 8
    assert {r["pool_id"] for r in doc["ranking"]} == {f"{c}/{i}.png" for c in ("dark", "light") for i in range(4)}
    assert all(r["label"] == r["pool_id"].split("/")[0] for r in doc["ranking"])
    assert doc["similar"] and all("pool_index" in r for r in doc["similar"])
