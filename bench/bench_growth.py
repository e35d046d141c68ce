"""Benchmark: how the full exact ranking and candidate mode grow with the training set.

Synthetic tables (scikit-learn make_classification, 20 numeric features, 2 classes) of
1k, 2k, 5k and 10k training rows plus a quarter as many test rows. For each size, from a cold
cache: the full exact `remove` ranking (every row x 3 members) and candidate mode with N=200
(influence estimates for all rows, then 200 + a random 50 retrained). Each size runs in its
own process so that its peak memory (this process and its workers) is its own. Also reports
the cache size a full ranking writes (float32 differences from the baseline).

    python bench/bench_growth.py [--sizes 1000,2000,5000,10000] [--n-jobs 2]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def one_size(rows: int, n_jobs: int) -> dict:
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    from tda_core.analysis import Analysis
    from tda_core.data import tabular_dataset
    from tda_core.engine import RunConfig
    from tda_core.recipes import default_recipe

    n_test = rows // 4
    X, y = make_classification(n_samples=rows + n_test, n_features=20, n_informative=8, flip_y=0.05, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)]).assign(label=np.where(y == 1, "pos", "neg"))
    data = tabular_dataset(frame.iloc[:rows], frame.iloc[rows:], "label", name=f"synthetic-{rows}")
    result = {"rows": rows, "n_test": n_test}
    with tempfile.TemporaryDirectory() as cache:
        analysis = Analysis(data, default_recipe(data), RunConfig(cache_dir=cache, n_jobs=n_jobs))
        start = time.perf_counter()
        group = analysis.errors.groups[0]
        analysis.ranking(group, "remove", "loss")
        result["full_s"] = round(time.perf_counter() - start, 2)
        result["full_models"] = analysis.engine.stats.retrains
        result["cache_mb"] = round(directory_size(Path(cache)) / 2**20, 1)
    with tempfile.TemporaryDirectory() as cache:
        fast = Analysis(data, default_recipe(data), RunConfig(cache_dir=cache, n_jobs=n_jobs, candidates=200))
        start = time.perf_counter()
        ranking = fast.ranking(fast.errors.groups[0], "remove", "loss")
        result["candidates_s"] = round(time.perf_counter() - start, 2)
        result["candidates_models"] = fast.engine.stats.retrains
        result["spearman"] = round(ranking.estimates.spearman, 3)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result["peak_mb"] = round(peak_kb / 1024)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,2000,5000,10000")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.n_jobs)))
        return
    results = []
    print(f"{'rows':>6s} {'full s':>8s} {'models':>7s} {'cand. s':>8s} {'models':>7s} {'rho':>6s} {'cache MB':>9s} {'peak MB':>8s}")
    for rows in [int(s) for s in args.sizes.split(",")]:
        out = subprocess.run([sys.executable, __file__, "--one", str(rows), "--n-jobs", str(args.n_jobs)],
                             capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        results.append(r)
        print(f"{r['rows']:6d} {r['full_s']:8.2f} {r['full_models']:7d} {r['candidates_s']:8.2f} "
              f"{r['candidates_models']:7d} {r['spearman']:6.3f} {r['cache_mb']:9.1f} {r['peak_mb']:8d}")
    print(json.dumps({"bench": "growth", "n_jobs": args.n_jobs, "results": results}))


if __name__ == "__main__":
    main()
