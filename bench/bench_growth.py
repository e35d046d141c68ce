"""Benchmark: how the full exact ranking and candidate mode grow with the training set.

Synthetic tables (scikit-learn make_classification, 20 numeric features, 2 classes) of
1k, 2k, 5k and 10k training rows plus a quarter as many test rows. For each size, from a cold
cache, with the default recipe (logistic-sgd, 3 seeds):

  full ranking   the exact `remove` / `loss` ranking of the largest error group (every row x 3
                 members, + the baseline)
  candidates     candidate mode with N=200 (influence estimates for all rows, then 200 + a
                 random 50 retrained x 3 members), with the Spearman correlation of estimate
                 and retrained effect
  naive          the fair baseline: the same recipe trained one model at a time (preprocessing
                 fitted once), on ``--naive-samples`` rows x 3 seeds, scaled per model to the
                 full ranking

Each size runs in its own process so that its peak memory (this process and its workers) is
its own. Both modes run with joblib's worker pool already started (its start-up, reported as
pool s, is paid once per process). Also reports the cache size a full ranking writes. BLAS
threads are capped at ``--blas-threads`` (default 1) in the main process; loky workers get
cpu_count // n_jobs.
Prints a table and one JSON line.

    python bench/bench_growth.py [--sizes 1000,2000,5000,10000] [--n-jobs 2] [--candidates 200] [--naive-samples 20]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENSEMBLE = 3


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def one_at_a_time(data, recipe, rows: int) -> float:
    """Seconds for ``rows`` removals x 3 seeds, one model per call, preprocessing fitted once."""
    import numpy as np

    from tda_core import Edit
    from tda_core.recipes._logistic import predict_proba as logistic_proba
    from tda_core.recipes._logistic import train_averaged_sgd
    from tda_core.recipes._preprocessing import tabular_preprocessor

    prep = tabular_preprocessor().fit(data.X_train)

    def design(X) -> np.ndarray:
        Xt = np.asarray(prep.transform(X), dtype=np.float64)
        return np.hstack([Xt, np.ones((len(Xt), 1))])

    X, X_test = design(data.X_train), design(data.X_test)
    p = recipe.get_params()
    start = time.perf_counter()
    for i in range(rows):
        y, w = Edit("remove", (i,)).apply(data.y_train, np.ones(data.n_train))
        for seed in range(ENSEMBLE):
            theta = train_averaged_sgd(X, y[None], w[None], data.n_classes, seed, p["epochs"], p["batch_size"], p["learning_rate"], p["alpha"])
            logistic_proba(X_test, theta)
    return time.perf_counter() - start


def _import_engine() -> int:
    import tda_core._analysis  # noqa: F401  (what a worker imports for its first unit)

    return 0


def start_pool(n_jobs: int) -> float:
    """Start joblib's reusable loky pool and import the engine in its workers; seconds taken."""
    from joblib import Parallel, delayed

    start = time.perf_counter()
    if n_jobs != 1:
        Parallel(n_jobs=n_jobs)(delayed(_import_engine)() for _ in range(2 * max(1, n_jobs)))
    return time.perf_counter() - start


def one_size(rows: int, n_jobs: int, candidates: int, naive_samples: int) -> dict:
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    from tda_core import Analysis, RunConfig, default_recipe, tabular_dataset

    n_test = rows // 4
    X, y = make_classification(n_samples=rows + n_test, n_features=20, n_informative=8, flip_y=0.05, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)]).assign(label=np.where(y == 1, "pos", "neg"))
    data = tabular_dataset(frame.iloc[:rows], frame.iloc[rows:], "label", name=f"synthetic-{rows}")
    # Both modes run with the worker pool started, which a long-lived process (the dashboard)
    # pays once; a one-off command pays it on top (pool_s).
    result: dict = {"rows": rows, "n_test": n_test, "pool_s": round(start_pool(n_jobs), 2)}
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        analysis = Analysis(data, default_recipe(data), RunConfig(ensemble=ENSEMBLE, cache_dir=cache, n_jobs=n_jobs))
        analysis.ranking(analysis.errors.groups[0], "remove", "loss")
        result["full_s"] = round(time.perf_counter() - start, 2)
        result["full_models"] = analysis.engine.stats.retrains
        result["cache_mb"] = round(directory_size(Path(cache)) / 2**20, 1)
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        config = RunConfig(ensemble=ENSEMBLE, cache_dir=cache, n_jobs=n_jobs, candidates=candidates)
        fast = Analysis(data, default_recipe(data), config)
        ranking = fast.ranking(fast.errors.groups[0], "remove", "loss")
        result["candidates_s"] = round(time.perf_counter() - start, 2)
        result["candidates_models"] = fast.engine.stats.retrains
        result["spearman"] = round(ranking.estimates.spearman, 3)
    naive = min(rows, naive_samples)
    result["naive_s"] = round(one_at_a_time(data, default_recipe(data), naive) * rows / naive, 2)
    result["naive_over_full"] = round(result["naive_s"] / result["full_s"], 1)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result["peak_mb"] = round(peak_kb / 1024)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,2000,5000,10000")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=200, help="N of candidate mode")
    parser.add_argument("--naive-samples", type=int, default=20, help="rows the one-at-a-time baseline runs on, scaled")
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS/OpenMP threads in the main process (0: as is)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size
    args = parser.parse_args()
    if args.one:
        if args.blas_threads:
            from threadpoolctl import threadpool_limits

            threadpool_limits(args.blas_threads)
        print(json.dumps(one_size(args.one, args.n_jobs, args.candidates, args.naive_samples)))
        return
    results = []
    print(f"remove/loss ranking, {ENSEMBLE} members, n_jobs={args.n_jobs}, candidates N={args.candidates}, cold cache")
    print(
        f"{'rows':>6s} {'full s':>8s} {'models':>7s} {'cand. s':>8s} {'models':>7s} {'rho':>6s} "
        f"{'naive s':>8s} {'naive/full':>10s} {'cache MB':>9s} {'peak MB':>8s} {'pool s':>7s}"
    )
    for rows in [int(s) for s in args.sizes.split(",")]:
        command = [
            sys.executable, __file__, "--one", str(rows), "--n-jobs", str(args.n_jobs), "--candidates", str(args.candidates),
            "--naive-samples", str(args.naive_samples), "--blas-threads", str(args.blas_threads),
        ]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        results.append(r)
        print(
            f"{r['rows']:6d} {r['full_s']:8.2f} {r['full_models']:7d} {r['candidates_s']:8.2f} {r['candidates_models']:7d} "
            f"{r['spearman']:6.3f} {r['naive_s']:8.2f} {r['naive_over_full']:10.1f} {r['cache_mb']:9.1f} {r['peak_mb']:8d} {r['pool_s']:7.2f}"
        )
    print(json.dumps({"bench": "growth", "n_jobs": args.n_jobs, "candidates": args.candidates, "naive_samples": args.naive_samples,
                      "blas_threads": args.blas_threads, "results": results}))


if __name__ == "__main__":
    main()
