"""Benchmark: bring your own scikit-learn model (a ``.skops`` file), full `remove` ranking.

Breast cancer (scikit-learn's ``load_breast_cancer``), a stratified split with ``--n-train``
training rows (default 300) and the rest as test rows (or ``--n-test`` of them). Every model is
saved with skops to a temporary ``.skops`` file and loaded through
``tda_core.recipes._files.load_model``, as the user's upload is. Each engine run starts from an
empty cache (a fresh temporary folder) and includes everything the ranking needs: the baseline
(3 members, from which the analysis decides whether the model is deterministic), the error
groups and every counterfactual of the largest error group's `remove` / `loss` ranking.

  (a/b) deterministic model, Pipeline(StandardScaler, LogisticRegression(lbfgs)):
        engine vs a plain loop written by hand -- for each training row i,
        ``clone(pipeline).fit(X without row i, y without row i)`` then ``predict_proba(X_test)``:
        the counterfactual outputs the engine needs. The engine trains the 3 baseline members
        on top (to detect determinism) and then one model per row. Ratio engine / loop (target
        <= 1.3), the engine's model count (``analysis.engine.stats.retrains``), and the largest
        difference between the engine's and the loop's probabilities (should be 0).
  (c)   seed-dependent model, Pipeline(StandardScaler, SGDClassifier(log_loss)), ensemble 3:
        the full ranking with n_jobs=1 against n_jobs=2 (loky), the second from a cold worker
        pool and again with the pool already started; ratio 1 job / 2 jobs. The fair naive
        baseline here is the same loop as (b) over 3 seeds (``random_state``), one fit at a time.
  (d)   warm start: ``tda_core.recipes._registry.lbfgs_pipeline()`` (a user's pipeline) with warm_start=True
        (each counterfactual starts from the baseline's solution) against the recipe as it is (cold): time of the same
        ranking and the largest |delta_mean| difference between the two; and each against a
        reference solved to tol=1e-10 (largest difference, Spearman over all rows), since both
        stop at lbfgs's default tolerance.

The loops run on ``--naive-samples`` rows (default: all) and are scaled per row. Prints a table
and one JSON line (ratios, no timed assertions).

BLAS threads are capped at ``--blas-threads`` (default 1) for the engine and the loops alike.

    python bench/bench_byom.py [--n-train 300] [--n-test N] [--naive-samples N] [--skip-seeded] [--skip-warm]
                               [--blas-threads 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import skops.io as sio
from joblib import Parallel, delayed
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from tda_core import Analysis, Dataset, Ranking, RunConfig, tabular_dataset
from tda_core.recipes._base import Recipe
from tda_core.recipes._files import load_model
from tda_core.recipes._registry import lbfgs_pipeline

ENSEMBLE = 3


def breast_cancer(n_train: int, n_test: int | None, seed: int = 0) -> Dataset:
    """A stratified split: ``n_train`` training rows, the rest (or ``n_test`` of it) as test."""
    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})
    frame["label"] = np.where(frame["label"] == 1, "benign", "malignant")
    train, test = train_test_split(frame, train_size=n_train, random_state=seed, stratify=frame["label"])
    if n_test is not None and n_test < len(test):
        test, _ = train_test_split(test, train_size=n_test, random_state=seed, stratify=test["label"])
    return tabular_dataset(train, test, "label", name=f"breast-cancer-{n_train}")


def saved_and_loaded(pipeline: Pipeline, data: Dataset, folder: Path, name: str) -> tuple[Recipe, float]:
    """Fit the pipeline as its owner would, save it with skops and load it as the user's upload."""
    path = folder / f"{name}.skops"
    sio.dump(clone(pipeline).fit(data.X_train, data.y_train), path)
    start = time.perf_counter()
    recipe = load_model(path, data)
    return recipe, time.perf_counter() - start


def engine_ranking(data: Dataset, recipe: Recipe, n_jobs: int = 1) -> tuple[float, Analysis, Ranking]:
    """The full `remove` / `loss` ranking of the largest error group, from an empty cache."""
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        analysis = Analysis(data, recipe, RunConfig(ensemble=ENSEMBLE, n_jobs=n_jobs, cache_dir=cache))
        if not analysis.errors.groups:
            raise SystemExit("the baseline makes no test error: no error group to rank (change --n-train/--n-test)")
        ranking = analysis.ranking(analysis.errors.groups[0], "remove", "loss")
        return time.perf_counter() - start, analysis, ranking


def plain_loop(pipeline: Pipeline, data: Dataset, rows: int, seeds: tuple[int | None, ...] = (None,)) -> tuple[float, np.ndarray]:
    """For each of the first ``rows`` training rows (and each seed): refit without it, predict the test set."""
    X, y, X_test = data.X_train, data.y_train, data.X_test
    out = np.empty((rows, len(seeds), data.n_test, data.n_classes))
    start = time.perf_counter()
    for i in range(rows):
        keep = np.arange(data.n_train) != i
        for s, seed in enumerate(seeds):
            model = clone(pipeline)
            if seed is not None:
                model.set_params(sgd__random_state=seed)
            model.fit(X[keep], y[keep])
            out[i, s] = model.predict_proba(X_test)
    return time.perf_counter() - start, out


def by_train_index(ranking: Ranking) -> np.ndarray:
    delta = np.empty(len(ranking.index))
    delta[ranking.index] = ranking.delta_mean
    return delta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=300)
    parser.add_argument("--n-test", type=int, default=None, help="test rows (default: all the others)")
    parser.add_argument("--naive-samples", type=int, default=None, help="rows the loops run on, scaled (default: all)")
    parser.add_argument("--skip-seeded", action="store_true", help="skip (c), the seed-dependent model")
    parser.add_argument("--skip-warm", action="store_true", help="skip (d), warm start")
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS/OpenMP threads in this process (0: as is)")
    args = parser.parse_args()
    if args.blas_threads:
        # Tiny matrices gain nothing from more threads, and on a busy machine spinning BLAS
        # threads slow every fit several-fold; loky workers get cpu_count // n_jobs threads.
        threadpool_limits(args.blas_threads)
    data = breast_cancer(args.n_train, args.n_test)
    n = data.n_train
    naive = min(n, args.naive_samples or n)
    scale = n / naive
    rows: list[tuple[str, float, str]] = []
    result: dict = {"bench": "byom", "n_train": n, "n_test": data.n_test, "naive_samples": naive, "blas_threads": args.blas_threads}

    lbfgs = Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression(max_iter=1000))])
    sgd = Pipeline([("scale", StandardScaler()), ("sgd", SGDClassifier(loss="log_loss", random_state=0))])
    with tempfile.TemporaryDirectory() as folder:
        # (a/b) deterministic model: engine vs the plain loop
        recipe, load_s = saved_and_loaded(lbfgs, data, Path(folder), "lbfgs")
        engine_s, analysis, _ = engine_ranking(data, recipe)
        retrains = analysis.engine.stats.retrains
        loop_s, loop_proba = plain_loop(lbfgs, data, naive)
        kept = analysis.counterfactuals("remove")  # in memory: no retraining; the test errors' rows
        engine_proba = kept.proba[:naive, 0]
        loop_s *= scale
        rows += [
            ("(b) lbfgs .skops, engine, cold cache", engine_s, f"{retrains} models, deterministic={analysis.baseline.deterministic}"),
            ("(b) lbfgs, plain clone/fit loop" + (" (scaled)" if scale > 1 else ""), loop_s, f"{n} models"),
            ("    load_model(.skops)", load_s, ""),
        ]
        result |= {
            "lbfgs_engine_s": round(engine_s, 3),
            "lbfgs_loop_s": round(loop_s, 3),
            "lbfgs_engine_over_loop": round(engine_s / loop_s, 3),
            "lbfgs_target_ratio": 1.3,
            "lbfgs_retrains": retrains,
            "lbfgs_deterministic": bool(analysis.baseline.deterministic),
            "lbfgs_max_abs_proba_diff_vs_loop": float(np.abs(engine_proba - loop_proba[:, 0][:, kept.rows]).max()),
            "load_model_s": round(load_s, 4),
        }

        # (c) seed-dependent model: 1 job vs 2 jobs (loky)
        if not args.skip_seeded:
            recipe, _ = saved_and_loaded(sgd, data, Path(folder), "sgd")
            one_s, one, _ = engine_ranking(data, recipe, n_jobs=1)
            two_cold_s, two, _ = engine_ranking(data, recipe, n_jobs=2)
            Parallel(n_jobs=2)(delayed(abs)(i) for i in range(2))  # the reusable loky pool is up already
            two_warm_s, _, _ = engine_ranking(data, recipe, n_jobs=2)
            seeded_loop_s, _ = plain_loop(sgd, data, naive, seeds=tuple(range(ENSEMBLE)))
            seeded_loop_s *= scale
            same = float(np.abs(one.counterfactuals("remove").proba - two.counterfactuals("remove").proba).max())
            rows += [
                (f"(c) SGD .skops, ensemble {ENSEMBLE}, engine n_jobs=1", one_s, f"{one.engine.stats.retrains} models"),
                ("(c) same, n_jobs=2 loky, cold pool", two_cold_s, f"{two.engine.stats.retrains} models"),
                ("(c) same, n_jobs=2 loky, pool started", two_warm_s, ""),
                ("(c) SGD, plain loop x 3 seeds" + (" (scaled)" if scale > 1 else ""), seeded_loop_s, f"{n * ENSEMBLE} models"),
            ]
            result |= {
                "sgd_deterministic": bool(one.baseline.deterministic),
                "sgd_retrains": one.engine.stats.retrains,
                "sgd_1job_s": round(one_s, 3),
                "sgd_2jobs_cold_pool_s": round(two_cold_s, 3),
                "sgd_2jobs_warm_pool_s": round(two_warm_s, 3),
                "sgd_1job_over_2jobs_cold_pool": round(one_s / two_cold_s, 3),
                "sgd_1job_over_2jobs_warm_pool": round(one_s / two_warm_s, 3),
                "sgd_loop_s": round(seeded_loop_s, 3),
                "sgd_engine_1job_over_loop": round(one_s / seeded_loop_s, 3),
                "sgd_max_abs_proba_diff_1_vs_2_jobs": same,
            }

    # (d) warm start vs cold start of a user's lbfgs pipeline; both against a
    # reference solved to a tight tolerance, which tells solver noise from real effects
    if not args.skip_warm:
        cold = lbfgs_pipeline()  # refit cold per edit, as a user's model file
        warm = clone(cold).set_params(warm_start=True)
        tight = clone(cold).set_params(estimator__logisticregression__tol=1e-10, estimator__logisticregression__max_iter=10000)
        warm_s, warm_analysis, warm_ranking = engine_ranking(data, warm)
        cold_s, cold_analysis, cold_ranking = engine_ranking(data, cold)
        _, _, tight_ranking = engine_ranking(data, tight)
        d_warm, d_cold, d_tight = by_train_index(warm_ranking), by_train_index(cold_ranking), by_train_index(tight_ranking)
        top_same = len(set(warm_ranking.index[:10].tolist()) & set(cold_ranking.index[:10].tolist()))
        rows += [
            ("(d) logistic-lbfgs, warm_start=True", warm_s, f"{warm_analysis.engine.stats.retrains} models"),
            ("(d) logistic-lbfgs, cold (as shipped)", cold_s, f"{cold_analysis.engine.stats.retrains} models"),
        ]
        result |= {
            "warm_start_s": round(warm_s, 3),
            "cold_start_s": round(cold_s, 3),
            "cold_over_warm": round(cold_s / warm_s, 3),
            "warm_vs_cold_max_abs_delta_mean_diff": float(np.abs(d_warm - d_cold).max()),
            "max_abs_delta_mean": float(np.abs(d_cold).max()),
            "warm_vs_cold_top10_shared": top_same,
            "warm_vs_tight_max_abs_diff": float(np.abs(d_warm - d_tight).max()),
            "cold_vs_tight_max_abs_diff": float(np.abs(d_cold - d_tight).max()),
            "warm_vs_tight_spearman": round(float(spearmanr(d_warm, d_tight).statistic), 4),
            "cold_vs_tight_spearman": round(float(spearmanr(d_cold, d_tight).statistic), 4),
        }

    print(f"breast cancer, {n} train / {data.n_test} test, remove/loss ranking of the largest error group, cold cache")
    print(f"{'run':46s} {'seconds':>9s}  notes")
    for name, seconds, note in rows:
        print(f"{name:46s} {seconds:9.2f}  {note}")
    print(
        f"(b) engine / loop = {result['lbfgs_engine_over_loop']:.2f} (target <= 1.3); "
        f"max |engine - loop| probability {result['lbfgs_max_abs_proba_diff_vs_loop']:.2g}"
    )
    if "sgd_1job_s" in result:
        print(
            f"(c) 1 job / 2 jobs = {result['sgd_1job_over_2jobs_cold_pool']:.2f} (cold pool), "
            f"{result['sgd_1job_over_2jobs_warm_pool']:.2f} (pool started); engine 1 job / loop = "
            f"{result['sgd_engine_1job_over_loop']:.2f}; max |1 job - 2 jobs| probability {result['sgd_max_abs_proba_diff_1_vs_2_jobs']:.2g}"
        )
    if "warm_start_s" in result:
        print(
            f"(d) cold / warm start = {result['cold_over_warm']:.2f}; max |delta_mean warm - cold| "
            f"{result['warm_vs_cold_max_abs_delta_mean_diff']:.2g} (largest |delta_mean| {result['max_abs_delta_mean']:.2g}), "
            f"top 10 shared {result['warm_vs_cold_top10_shared']}/10; against tol=1e-10: warm max |diff| "
            f"{result['warm_vs_tight_max_abs_diff']:.2g}, Spearman {result['warm_vs_tight_spearman']:.3f}; cold max |diff| "
            f"{result['cold_vs_tight_max_abs_diff']:.2g}, Spearman {result['cold_vs_tight_spearman']:.3f}"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
