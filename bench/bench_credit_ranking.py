"""Benchmark: full `remove` ranking of the credit demo (800 training samples x 3 members).

Compares, in the same run:
  engine (cold)  our engine from an empty cache (batched default recipe, joblib, cache writes)
  engine (warm)  the same request again from the cache, in a new Engine
  naive SGD      the study's procedure: one SGDClassifier fit per (sample, member), in a loop
  one-at-a-time  our default recipe, but one model per call (no batching, no cache)

The naive baselines run on --naive-samples training samples and are scaled per model to the
full ranking, so the ratio compares time per model. Prints a table and one JSON line.

    python bench/bench_credit_ranking.py [--naive-samples 200] [--n-jobs 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import SGDClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from tda_core.actions import make_edit  # noqa: E402
from tda_core.attribution import compute_baseline, single_edits  # noqa: E402
from tda_core.demos import load_demo  # noqa: E402
from tda_core.engine import Engine, RunConfig  # noqa: E402
from tda_core.models import tabular_preprocessor  # noqa: E402
from tda_core.recipes import default_recipe  # noqa: E402


def engine_ranking(data, recipe, cache: str, n_jobs: int) -> tuple[float, int]:
    engine = Engine(RunConfig(cache_dir=cache, n_jobs=n_jobs))
    start = time.perf_counter()
    baseline = compute_baseline(engine, data, recipe)
    engine.predict(data, recipe, single_edits("remove", data, baseline))
    return time.perf_counter() - start, engine.stats.retrains


def naive_sgd(data, n_samples: int) -> float:
    """One SGDClassifier fit per (removed sample, seed), as the study did."""
    pipeline = make_pipeline(tabular_preprocessor(), SGDClassifier(loss="log_loss", penalty="l2", max_iter=50, tol=None))
    start = time.perf_counter()
    for i in range(n_samples):
        keep = np.arange(data.n_train) != i
        for seed in range(3):
            model = clone(pipeline).set_params(sgdclassifier__random_state=seed)
            model.fit(data.X_train[keep], data.y_train[keep])
            model.predict_proba(data.X_test)
    return time.perf_counter() - start


def one_at_a_time(data, recipe, n_samples: int) -> float:
    start = time.perf_counter()
    for i in range(n_samples):
        for seed in range(3):
            recipe.fit_predict(data, [make_edit("remove", [i])], seed)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--naive-samples", type=int, default=200)
    parser.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args()
    data = load_demo("credit")
    recipe = default_recipe(data)
    n_models = data.n_train * 3
    with tempfile.TemporaryDirectory() as cache:
        cold, retrains = engine_ranking(data, recipe, cache, args.n_jobs)
        warm, warm_retrains = engine_ranking(data, recipe, cache, args.n_jobs)
    assert warm_retrains == 0
    scale = data.n_train / args.naive_samples
    naive = naive_sgd(data, args.naive_samples) * scale
    single = one_at_a_time(data, recipe, args.naive_samples) * scale
    rows = [
        ("engine, cold cache", cold, retrains),
        ("engine, warm cache", warm, 0),
        ("naive SGDClassifier loop (scaled)", naive, n_models),
        ("our recipe one at a time (scaled)", single, n_models),
    ]
    print(f"credit demo, remove ranking, {data.n_train} samples x 3 members = {n_models} models (+3 baseline)")
    print(f"{'run':38s} {'seconds':>9s} {'models':>7s}")
    for name, seconds, models in rows:
        print(f"{name:38s} {seconds:9.2f} {models:7d}")
    result = {
        "bench": "credit_ranking",
        "cold_s": round(cold, 3),
        "warm_s": round(warm, 3),
        "naive_sgd_s": round(naive, 2),
        "one_at_a_time_s": round(single, 2),
        "speedup_vs_naive_sgd": round(naive / cold, 1),
        "speedup_vs_one_at_a_time": round(single / cold, 1),
        "naive_samples": args.naive_samples,
        "n_jobs": args.n_jobs,
    }
    print(f"speed-up vs naive SGD loop: {result['speedup_vs_naive_sgd']}x; vs one at a time: {result['speedup_vs_one_at_a_time']}x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
