"""Benchmark: full `remove` ranking of the credit demo (800 training rows x 3 members).

The engine answers ``Analysis(data, default_recipe(data)).ranking(group, "remove", "loss")``
for the largest error group: the baseline (3 seeds of logistic-sgd) and every training row
removed in turn, 3 members each. Compared, in the same run:

  engine (cold)        from an empty cache (a fresh temporary folder)
  engine (warm)        the same request in a new Analysis, from that cache (0 models trained)
  study's procedure    what the study did by hand: per removed row ONE SGDClassifier(log_loss)
                       run of 50 epochs (``partial_fit``), whose epochs 30, 40 and 50 are the
                       3 members: 1 run per training row
  one model at a time  the engine's own recipe (LogisticSGDRecipe, same parameters, same
                       numbers) trained with one edit per call, 3 seeds per row

Both naive loops fit the tabular preprocessing ONCE on the training features (so they pay
only for the models, as the engine does) and run on ``--naive-samples`` rows, scaled per row
to the full ranking. ``--paper-recipe`` adds the engine running the study's model itself
(``registry.paper_sgd()``, checkpoints 30/40/50 of one run). BLAS threads are capped at
``--blas-threads`` (default 1) for everything. Prints a table and one JSON line.

    python bench/bench_credit_ranking.py [--naive-samples 100] [--n-train N] [--n-jobs 1] [--paper-recipe]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time

import numpy as np
from sklearn.linear_model import SGDClassifier
from threadpoolctl import threadpool_limits

from tda_core import Analysis, Dataset, Edit, RunConfig, default_recipe, load_demo
from tda_core.recipes._logistic import LogisticSGDRecipe, predict_proba, train_averaged_sgd
from tda_core.recipes._preprocessing import tabular_preprocessor
from tda_core.recipes._registry import PAPER_CHECKPOINTS, paper_sgd

ENSEMBLE = 3


def first_rows(data: Dataset, n: int | None) -> Dataset:
    """The demo with only its first ``n`` training rows (quick runs)."""
    if n is None or n >= data.n_train:
        return data
    return dataclasses.replace(
        data, X_train=data.X_train.iloc[:n].reset_index(drop=True), y_train=data.y_train[:n],
        train_ids=data.train_ids[:n], fingerprint="",
    )


def engine_ranking(data: Dataset, recipe, cache: str, n_jobs: int) -> tuple[float, Analysis]:
    start = time.perf_counter()
    analysis = Analysis(data, recipe, RunConfig(ensemble=ENSEMBLE, n_jobs=n_jobs, cache_dir=cache))
    analysis.ranking(analysis.errors.groups[0], "remove", "loss")
    return time.perf_counter() - start, analysis


def design(prep, X) -> np.ndarray:
    """Features with a bias column, as LogisticSGDRecipe builds them."""
    Xt = np.asarray(prep.transform(X), dtype=np.float64)
    return np.hstack([Xt, np.ones((len(Xt), 1))])


def study_procedure(data: Dataset, rows: int) -> float:
    """Per removed row, one 50-epoch SGDClassifier run; its epochs 30/40/50 are the 3 members."""
    prep = tabular_preprocessor().fit(data.X_train)
    X, X_test = prep.transform(data.X_train), prep.transform(data.X_test)
    classes = np.arange(data.n_classes)
    start = time.perf_counter()
    for i in range(rows):
        keep = np.arange(data.n_train) != i
        model = SGDClassifier(loss="log_loss", penalty="l2", random_state=0)
        for epoch in range(1, PAPER_CHECKPOINTS[-1] + 1):
            model.partial_fit(X[keep], data.y_train[keep], classes=classes)
            if epoch in PAPER_CHECKPOINTS:
                model.predict_proba(X_test)
    return time.perf_counter() - start


def one_at_a_time(data: Dataset, recipe: LogisticSGDRecipe, rows: int) -> tuple[float, np.ndarray]:
    """The engine's recipe, one edit per call and 3 seeds per row, preprocessing fitted once."""
    prep = tabular_preprocessor().fit(data.X_train)
    X, X_test = design(prep, data.X_train), design(prep, data.X_test)
    p = recipe.get_params()
    out = np.empty((rows, ENSEMBLE, data.n_test, data.n_classes))
    start = time.perf_counter()
    for i in range(rows):
        y, w = Edit("remove", (i,)).apply(data.y_train, np.ones(data.n_train))
        for seed in range(ENSEMBLE):
            theta = train_averaged_sgd(
                X, y[None], w[None], data.n_classes, seed, p["epochs"], p["batch_size"], p["learning_rate"], p["alpha"]
            )
            out[i, seed] = predict_proba(X_test, theta)[0]
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--naive-samples", type=int, default=100, help="rows the naive loops run on, scaled per row")
    parser.add_argument("--n-train", type=int, default=None, help="use only the first N training rows (quick runs)")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--paper-recipe", action="store_true", help="also run the engine with the study's model (paper-sgd)")
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS/OpenMP threads in this process (0: as is)")
    args = parser.parse_args()
    if args.blas_threads:
        threadpool_limits(args.blas_threads)
    data = first_rows(load_demo("credit"), args.n_train)
    recipe = default_recipe(data)
    n = data.n_train
    naive = min(n, args.naive_samples)
    scale = n / naive
    with tempfile.TemporaryDirectory() as cache:
        cold, analysis = engine_ranking(data, recipe, cache, args.n_jobs)
        warm, again = engine_ranking(data, recipe, cache, args.n_jobs)
    with tempfile.TemporaryDirectory() as cache:
        paper = engine_ranking(data, paper_sgd(), cache, args.n_jobs) if args.paper_recipe else None
    study = study_procedure(data, naive) * scale
    single, single_proba = one_at_a_time(data, recipe, naive)
    single *= scale
    kept = analysis.counterfactuals("remove")  # the test errors' rows, which a ranking keeps
    same = float(np.abs(kept.proba[:naive] - single_proba[:, :, kept.rows]).max())
    rows = [
        ("engine, cold cache", cold, f"{analysis.engine.stats.retrains} models"),
        ("engine, warm cache", warm, f"{again.engine.stats.retrains} models, {again.engine.stats.cache_hits} from the cache"),
        ("study's procedure, 1 SGD run/row (scaled)", study, f"{n} runs x 50 epochs, members = epochs 30/40/50"),
        ("our recipe, one model at a time (scaled)", single, f"{n * ENSEMBLE} models"),
    ]
    if paper is not None:
        rows.append(("engine, paper-sgd recipe, cold cache", paper[0], f"{paper[1].engine.stats.retrains} models"))
    print(f"credit demo, remove/loss ranking, {n} rows x {ENSEMBLE} members (+ baseline), naive loops on {naive} rows")
    print(f"{'run':44s} {'seconds':>9s}  notes")
    for name, seconds, note in rows:
        print(f"{name:44s} {seconds:9.2f}  {note}")
    result = {
        "bench": "credit_ranking",
        "n_train": n,
        "cold_s": round(cold, 3),
        "warm_s": round(warm, 3),
        "cold_retrains": analysis.engine.stats.retrains,
        "warm_retrains": again.engine.stats.retrains,
        "study_procedure_s": round(study, 2),
        "one_at_a_time_s": round(single, 2),
        "study_over_cold": round(study / cold, 1),
        "one_at_a_time_over_cold": round(single / cold, 1),
        "cold_over_warm": round(cold / warm, 1),
        "max_abs_proba_diff_engine_vs_one_at_a_time": same,
        "paper_recipe_engine_s": None if paper is None else round(paper[0], 2),
        "study_over_paper_recipe_engine": None if paper is None else round(study / paper[0], 2),
        "naive_samples": naive,
        "n_jobs": args.n_jobs,
        "blas_threads": args.blas_threads,
    }
    print(
        f"engine (cold) is {result['study_over_cold']}x faster than the study's procedure and "
        f"{result['one_at_a_time_over_cold']}x faster than one model at a time; warm cache {result['cold_over_warm']}x faster "
        f"than cold; max |engine - one at a time| probability {same:.2g}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
