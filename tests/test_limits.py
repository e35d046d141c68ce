"""The run budget (tda_core.limits): sizes from shapes before anything is allocated, and refusals
that name the number and the way out."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tda_core import limits
from tda_core._actions import POOL
from tda_core._exceptions import BudgetError, DataError, UsageError
from tda_core.data import tabular_dataset


def table(n_train: int, n_test: int, classes: int = 2, levels: int = 3):
    rng = np.random.default_rng(0)

    def frame(n):
        return pd.DataFrame({"x": rng.normal(size=n), "c": [f"l{i % levels}" for i in range(n)],
                             "y": [f"k{i % classes}" for i in range(n)]})

    return tabular_dataset(frame(n_train), frame(n_test), "y")


@pytest.mark.parametrize("text, expected", [("4G", 4 * 2**30), ("512M", 512 * 2**20), ("1.5GiB", int(1.5 * 2**30)),
                                            ("4096MB", 4 * 2**30), ("1t", 2**40), (2**27, 2**27)])
def test_parse_size(text, expected):
    assert limits.parse_size(text) == expected


@pytest.mark.parametrize("text, message", [("lots", "a memory size looks like 8G or 512M, not 'lots'"),
                                           ("1K", "the memory limit must be at least 64M, not 1K"),
                                           ("-4G", "a memory size looks like")])
def test_bad_sizes(text, message):
    with pytest.raises(UsageError, match=message):
        limits.parse_size(text)


def test_format_bytes():
    assert [limits.format_bytes(n) for n in (12, 2048, 5 * 2**20, 71.5 * 2**30, 300 * 2**30)] == [
        "12 bytes", "2.0 KiB", "5.0 MiB", "71.5 GiB", "300 GiB"]


def test_the_ranking_estimate_is_the_arithmetic_of_its_shapes():
    data = table(1000, 250, classes=4, levels=5)
    est = limits.estimate(data, ensemble=3, ranking=True, n_jobs=1, use_cache=True, chunk=400, kept_rows=60, in_use=10**8)
    kept = 1000 * 3 * (60 * 4 * 8 + (1 + 4) * 8)  # the kept rows' probabilities and the accuracy counts
    parts = dict(est.parts)
    assert parts["kept counterfactuals (1,000 training samples x 3 members x 60 test rows x 4 classes x 8 bytes)"] == 2 * kept
    assert parts["this process now (Python, its libraries, the data)"] == 10**8
    width = 1 + 5 + 1  # x, five levels of c, the bias column
    stacked = 400 * 1000 * (11 + 4) + 3 * 2048 * 400 * 4 * 8
    assert parts[f"design matrices and one unit's stacked models, 1 worker (1,250 rows x {width} columns, 400 models a unit)"] == (
        2 * 1250 * width * 8 + stacked)
    assert parts["baseline predictions"] == 2 * 4 * 1250 * 4 * 8
    assert est.memory == sum(size for _, size in est.parts) and est.plan == "exact"
    assert est.cache == 4 * 1250 * 4 * 8 + kept
    assert est.models == 4 + 1001 * 3
    # The ranking grows with the kept rows, not with the test set.
    assert limits.estimate(data, ensemble=3, ranking=True, kept_rows=6, in_use=0).memory < est.memory - 10**8
    baseline_only = limits.estimate(data, ensemble=3, ranking=False, use_cache=False)
    assert baseline_only.cache == 0 and baseline_only.plan == "baseline" and not any(w.startswith("kept") for w, _ in baseline_only.parts)
    candidates = limits.estimate(data, ensemble=3, ranking=True, candidates=50)
    # 50 candidates and their random check of 12 (estimates/candidates.random_extra).
    assert any(w.startswith("kept counterfactuals (62 candidates") for w, _ in candidates.parts) and candidates.plan == "candidates"
    assert any(w.startswith("influence Hessian (28 parameters)") for w, _ in candidates.parts)


def test_a_wide_sparse_table_is_sized_as_sparse():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"c{j}": [f"l{v}" for v in rng.integers(0, 40, 500)] for j in range(10)} | {"y": ["a", "b"] * 250})
    data = tabular_dataset(frame, frame.iloc[:100], "y")
    matrices, width, sparse = limits.design_bytes(data)
    assert sparse and width > 300 and matrices == 600 * 11 * 12 + 600 * 8


def test_the_budget_refuses_with_the_number_and_the_way_out():
    data = table(4000, 1000)
    est = limits.check_budget(data, ensemble=3, ranking=True, kept_rows=1000, in_use=0)  # 2 x 4000 x 3 x 1000 x 2 x 8 = 384 MB: fine
    assert est.memory < limits.DEFAULT_MAX_MEMORY
    with pytest.raises(BudgetError) as info:
        limits.check_budget(data, ensemble=3, ranking=True, max_memory=256 * 2**20, kept_rows=1000, in_use=0)
    message = str(info.value)
    assert message.startswith("this run needs about 370 MiB of memory (largest: kept counterfactuals") and "over the 256 MiB limit: use candidate mode" in message
    assert "(--candidates 200: about 757 models" in message  # 200 and a random check of 50, x 3, + the baseline and "or run the exact ranking on a Dask cluster" in message
    assert message.endswith("use fewer rows, or raise the memory limit to at least " + limits.format_bytes(est.memory * 1.1))
    assert limits.check_budget(data, ensemble=3, ranking=True, candidates=100, max_memory=256 * 2**20, kept_rows=1000, in_use=0).memory < 256 * 2**20


def test_the_plan_keeps_group_rows_where_every_error_does_not_fit(monkeypatch):
    from tda_core._engine import RunConfig
    from tda_core.recipes import LogisticSGDRecipe

    monkeypatch.setattr(limits, "current_rss", lambda: 0)
    data = table(4000, 1000)
    config = RunConfig(ensemble=3, use_cache=False, max_memory=256 * 2**20)
    assert limits.ranking_plan(data, LogisticSGDRecipe(), config, error_rows=100, group_rows=20)[0] == "exact"
    plan, est = limits.ranking_plan(data, LogisticSGDRecipe(), config, error_rows=1000, group_rows=20)
    assert plan == "exact, group rows" and est.plan == plan and est.memory < 256 * 2**20
    with pytest.raises(BudgetError, match="use candidate mode"):
        limits.ranking_plan(data, LogisticSGDRecipe(), config, error_rows=1000, group_rows=1000)


def test_with_a_cache_every_error_stays_on_disk_instead(monkeypatch, tmp_path):
    from tda_core._engine import RunConfig
    from tda_core.recipes import LogisticSGDRecipe

    monkeypatch.setattr(limits, "current_rss", lambda: 0)
    data = table(4000, 1000)
    config = RunConfig(ensemble=3, cache_dir=str(tmp_path), max_memory=256 * 2**20)
    plan, est = limits.ranking_plan(data, LogisticSGDRecipe(), config, error_rows=1000, group_rows=20)
    # The disk holds 4,000 samples x 3 members x 1,000 rows x 2 classes x 8 bytes beside the run's cache.
    assert plan == "exact, on disk" == est.plan and est.memory < 256 * 2**20 and est.cache >= 4000 * 3 * 1000 * 2 * 8
    monkeypatch.setattr(limits, "_free_space", lambda path: 10 * 2**20)  # a full disk: the group's rows only
    assert limits.ranking_plan(data, LogisticSGDRecipe(), config, error_rows=1000, group_rows=20)[0] == "exact, group rows"


def test_a_cache_larger_than_the_free_disk_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "_free_space", lambda path: 1000)
    with pytest.raises(BudgetError, match=r"this run would write about [\d.]+ [KM]iB to the cache in .*, which has 1000 bytes free"):
        limits.check_budget(table(400, 100), ensemble=3, ranking=True, cache_root=tmp_path)
    limits.check_budget(table(400, 100), ensemble=3, ranking=True, cache_root=tmp_path, use_cache=False)


def test_regression_like_targets_and_wide_text_columns():
    with pytest.raises(DataError, match=r"the target column 'y' has 2 classes with fewer than 2 training samples \(k3, k4\)"):
        limits.check_data(tabular_dataset(pd.DataFrame({"x": range(8), "y": ["k1", "k2"] * 3 + ["k3", "k4"]}),
                                          pd.DataFrame({"x": [1], "y": ["k1"]}), "y"))
    with pytest.raises(DataError, match=r"the column 'c' has 1,001 distinct text values \(at most 1,000\): one-hot encoding"):
        table(1002, 10, levels=1001)  # the loader refuses it already
    limits.check_data(table(1002, 10, levels=1000))
    with pytest.raises(DataError, match=r"the column 'c' has 1,000 distinct text values \(at most 999\)"):
        limits.check_levels(table(1002, 10, levels=1000).X_train, max_levels=999)


def test_run_numbers():
    limits.check_run_numbers(ensemble=100, seed=limits.MAX_SEED, n_jobs=-1, candidates=limits.MAX_CANDIDATES, epochs=limits.MAX_EPOCHS)
    with pytest.raises(UsageError, match="the number of epochs must lie between 1 and 10,000, not 0"):
        limits.check_run_numbers(ensemble=3, seed=0, n_jobs=1, epochs=0)


def test_check_run_takes_a_recipe_and_a_run_config(tmp_path, monkeypatch):
    from tda_core._engine import RunConfig
    from tda_core.recipes import LogisticSGDRecipe

    monkeypatch.setattr(limits, "current_rss", lambda: 0)
    data = table(4000, 1000)
    config = RunConfig(ensemble=3, cache_dir=str(tmp_path))
    est = limits.check_run(data, LogisticSGDRecipe(), config, ranking=True, kept_rows=1000)
    assert est == limits.estimate(data, ensemble=3, ranking=True, chunk=400, kept_rows=1000)
    with pytest.raises(BudgetError, match=r"over the 256 MiB limit: use candidate mode"):
        limits.check_run(data, LogisticSGDRecipe(), config, ranking=True, max_memory=256 * 2**20, kept_rows=1000)
    small = limits.check_run(data, LogisticSGDRecipe(), RunConfig(candidates=100, use_cache=False), ranking=True,
                             max_memory=256 * 2**20, kept_rows=1000)
    assert small.cache == 0


@pytest.mark.slow
def test_a_network_budget_counts_what_training_allocates(monkeypatch):
    """Parameters, gradients, AdamW state and the activations saved for backward, measured by one
    forward/backward pass, for every network a unit stacks; refused before training when over."""
    import torch

    from tda_core._engine import RunConfig
    from tda_core.data._demos import load_digits
    from tda_core.recipes.torch._recipe import default_image_recipe

    data = load_digits(train_per_class=2, test_per_class=1, pool_per_class=0)
    full, head = default_image_recipe(), default_image_recipe(mode="head")
    params = sum(p.numel() for p in full.build(10, data.X_train.shape[1:]).parameters()) * 4
    saved = []
    model = full.build(10, data.X_train.shape[1:])
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel() * 4) or t, lambda t: t):
        model(torch.zeros((20, *data.X_train.shape[1:]))).sum().backward()  # 20 training images: one batch
    assert full.training_bytes(data) == full.chunk_size * (4 * params + 2 * sum(saved))
    assert head.training_bytes(data) < full.training_bytes(data) / full.chunk_size
    monkeypatch.setattr(limits, "current_rss", lambda: 0)
    est = limits.check_run(data, full, RunConfig(use_cache=False), ranking=False)
    assert dict(est.parts)["network training of 1 worker (parameters, gradients, optimiser state, activations)"] == full.training_bytes(data)
    with pytest.raises(BudgetError, match=r"largest: network training .* use head mode \(--mode head\) or a smaller --image-size"):
        limits.check_run(data, full, RunConfig(use_cache=False), ranking=False, max_memory=64 * 2**20)


@pytest.mark.slow
def test_measuring_a_network_takes_not_the_memory_it_guards(tmp_path):
    """resnet18 on 640 px images: the estimate (over 4 GiB) comes from a forward pass on the meta
    device, so the measuring process stays small (it held several GB when it ran on the CPU)."""
    code = (
        "import resource, numpy as np\n"
        "from tda_core.data._dataset import Dataset\n"
        "from tda_core.recipes.torch._recipe import TorchRecipe\n"
        "X = np.zeros((32, 3, 640, 640), dtype=np.float32)\n"
        "d = Dataset(name='x', kind='images', X_train=X, y_train=np.arange(32) % 2, X_test=X[:2], y_test=np.array([0, 1]),\n"
        "            classes=('a', 'b'), train_ids=np.arange(32).astype(str), test_ids=np.arange(2).astype(str))\n"
        "print(TorchRecipe('resnet18').training_bytes(d), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    estimate, peak = map(int, done.stdout.split())
    # Measured: 0.85 GiB alone, 1.75 GiB once inside the whole suite (the same child, another heap
    # history); the CPU forward it replaced held several GB. The guard: an estimate of 16 GiB.
    assert estimate > 4 * 2**30 and peak < 2.5 * 2**30, (estimate, peak)


def test_an_exact_ranking_of_hours_needs_candidates_or_a_cluster_and_a_pool_is_counted_as_pool():
    data = table(200, 100)
    pool = table(40_000, 10)
    data = data.with_pool(pool.X_train, pool.y_train, np.arange(40_000))
    with pytest.raises(BudgetError) as info:
        limits.check_budget(data, ensemble=3, ranking=True, subject=POOL, in_use=0)
    assert str(info.value).startswith("an exact ranking of 120,000 models (40,000 pool samples x 3 members) would take hours")
    assert "--candidates 200: about 757 models" in str(info.value) and "Dask cluster" in str(info.value)
    est = limits.check_budget(data, ensemble=3, ranking=True, subject=POOL, cluster=True, in_use=0, kept_rows=10)
    assert any(w.startswith("kept counterfactuals (40,000 pool samples") for w, _ in est.parts)
    limits.check_budget(data, ensemble=3, ranking=True, in_use=0)  # ranking the 200 training rows: fine


def test_a_refusal_on_a_cluster_names_what_the_client_can_change():
    data = table(20_000, 5_000)
    with pytest.raises(BudgetError) as local:
        limits.check_budget(data, ensemble=3, ranking=True, in_use=0, kept_rows=5_000, max_memory=2**30)
    with pytest.raises(BudgetError) as remote:
        limits.check_budget(data, ensemble=3, ranking=True, in_use=0, kept_rows=5_000, max_memory=2**30, cluster=True)
    assert "run the exact ranking on a Dask cluster" in str(local.value)
    assert "Dask cluster" not in str(remote.value) and "keep fewer test rows (--tests)" in str(remote.value)


def test_a_seed_free_recipe_is_estimated_as_the_one_model_it_trains():
    """logistic-lbfgs trains each edit once whatever the ensemble: 200 candidates and a random
    check of 50 on census are 250 models (measured by bench/bench_census.py), not 750."""
    from tda_core._engine import RunConfig
    from tda_core.data._demos import load_census
    from tda_core.limits import check_run, trained_members
    from tda_core.recipes import LogisticSGDRecipe
    from tda_core.recipes._convex import LogisticLbfgsRecipe

    assert trained_members(LogisticLbfgsRecipe(), 3) == 1 and trained_members(LogisticSGDRecipe(), 3) == 3
    data = load_census(2000, 500)
    config = RunConfig(ensemble=3, candidates=200, use_cache=False)
    lbfgs = check_run(data, LogisticLbfgsRecipe(), config, ranking=True)
    sgd = check_run(data, LogisticSGDRecipe(), config, ranking=True)
    assert (lbfgs.models, sgd.models) == (2 + 251, 4 + 251 * 3)  # + 1: the baseline edit
