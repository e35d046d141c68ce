"""A planted missing region for the ``add`` action (lacking data): does ranking the pool by
retraining find the samples the model lacks, and does adding them fix the errors?

Data, fixed before any result was looked at (the same construction as the test suite's
``tests/planted_region.py``, rebuilt here because benchmarks do not import tests):
scikit-learn's ``load_digits`` as a 64-column table, stratified 70/30 split (seed 0). Class "1";
region = the smaller of two k-means clusters (k=2, random_state=0, n_init=10) of the class-1
training rows in standardised pixel space (a writing style); a test "1" is in the region when its
nearest centroid is the region's. Every training "1" of the region leaves training for the pool,
with twice as many distractors (other training rows of any class, also taken out of training);
the pool is shuffled; the test set is unchanged. The error group: the largest baseline group of
true class "1", narrowed to its test samples inside the region.

Two kinds of distractors (``--distractors``), each rule fixed before its first run:

- ``random`` (default, the first variant): 2 x region other training rows of any class
  (including "1"s of the other style), drawn with ``default_rng(seed).choice``;
- ``near`` (hard distractors, the second variant): the 2 x region training rows whose class is
  NOT "1" that are nearest to the region's centroid (the mean of the region's training rows in
  the same standardised pixel space, scaler fitted on all training rows; Euclidean distance; ties
  by row order). These are the look-alikes of the missing style from other classes, the samples a
  nearest-neighbour search around the errors is likely to return. They too leave training for
  the pool; the pool is shuffled with ``default_rng(seed).permutation``. Nothing else changes
  (split, region, error-group rule, recipe, metric, size, ensemble).

``Analysis.attribute(group, "add", "loss", size=10)`` with the default tabular recipe
(logistic-sgd) against the naive baseline measured in the same run: the pool samples nearest
the chosen errors (smallest Euclidean distance to any of them, pixels standardised with the
training rows' scaler), which is what an embedding-only tool would show. For both: precision@10
and @20 (region samples among the first k), and the effect of adding 10 of them at once (the
selected group for "add"; the 10 nearest for the baseline), retrained with the same members:
errors fixed / new, p-value, loss delta, accuracy delta. Chance precision = region / pool.
Prints a table and one JSON line.

    python bench/planted_region.py [--distractors random|near] [--ensemble 3] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from tda_core import Analysis, Dataset, RunConfig, tabular_dataset
from tda_core.data._tables import split_table, table_pool
from tda_core.recipes._registry import default_recipe

CLASS = "1"
SIZE = 10


def planted_region_digits(seed: int = 0, distractors: str = "random") -> tuple[Dataset, frozenset[int], tuple[int, ...]]:
    """The data (region and distractors moved to the pool), the region's pool indices, and the
    test "1"s inside the region."""
    frame = load_digits(as_frame=True).frame.rename(columns={"target": "digit"})
    frame["digit"] = frame["digit"].astype(str)
    train, test = split_table(frame, "digit", test_size=0.3, seed=seed)
    test = test.reset_index(drop=True)
    features = [c for c in frame.columns if c != "digit"]
    scaler = StandardScaler().fit(train[features])
    ones = train.index[train["digit"] == CLASS]
    kmeans = KMeans(n_clusters=2, random_state=0, n_init=10).fit(scaler.transform(train.loc[ones, features]))
    region_cluster = int(np.argmin(np.bincount(kmeans.labels_, minlength=2)))
    region = ones[kmeans.labels_ == region_cluster]
    rng = np.random.default_rng(seed)
    if distractors == "random":
        chosen = rng.choice(train.index.difference(region), size=2 * len(region), replace=False)
    elif distractors == "near":
        centroid = scaler.transform(train.loc[region, features]).mean(axis=0)
        others = train.index[train["digit"] != CLASS]
        distance = np.linalg.norm(scaler.transform(train.loc[others, features]) - centroid, axis=1)
        chosen = others[np.argsort(distance, kind="stable")[: 2 * len(region)]].to_numpy()
    else:
        raise ValueError(f"distractors must be 'random' or 'near', not {distractors!r}")
    pool_rows = rng.permutation(np.concatenate([region.to_numpy(), chosen]))
    data = table_pool(tabular_dataset(train.drop(index=pool_rows), test, "digit", name="planted-region-digits"), train.loc[pool_rows])
    test_ones = np.flatnonzero(test["digit"].to_numpy() == CLASS)
    in_region = kmeans.predict(scaler.transform(test.loc[test_ones, features])) == region_cluster
    region_ids = {int(i) for i in region}
    region_pool = frozenset(i for i, row in enumerate(pool_rows) if int(row) in region_ids)
    return data, region_pool, tuple(int(t) for t in test_ones[in_region])


def nearest_pool(data: Dataset, tests: tuple[int, ...]) -> np.ndarray:
    """Pool indices, nearest first: distance to the closest chosen test sample, standardised."""
    scaler = StandardScaler().fit(data.X_train)
    pool, chosen = scaler.transform(data.X_pool), scaler.transform(data.X_test.iloc[list(tests)])
    distance = np.linalg.norm(pool[:, None, :] - chosen[None, :, :], axis=2).min(axis=1)
    return np.argsort(distance, kind="stable")


def effect_row(effect, order: list[int], region: frozenset[int]) -> dict:
    return {
        "precision_at_10": len(set(order[:10]) & region) / 10,
        "precision_at_20": len(set(order[:20]) & region) / 20,
        "added": [int(i) for i in effect.train_indices],
        "added_from_region": len(set(effect.train_indices) & region),
        "errors_fixed": effect.errors_fixed,
        "errors_new": effect.errors_new,
        "p_value": effect.p_value,
        "loss_delta": effect.delta_mean,
        "accuracy_delta": effect.accuracy_delta_mean,
        "accuracy_delta_std": effect.accuracy_delta_std,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ensemble", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="split and distractor seed")
    parser.add_argument("--distractors", choices=("random", "near"), default="random",
                        help="random: other training rows of any class; near: the non-'1' rows nearest the region")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS/OpenMP threads in this process (0: as is)")
    args = parser.parse_args()
    if args.blas_threads:
        threadpool_limits(args.blas_threads)
    data, region, region_test = planted_region_digits(args.seed, args.distractors)
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        analysis = Analysis(data, default_recipe(data), RunConfig(ensemble=args.ensemble, n_jobs=args.n_jobs, cache_dir=cache))
        candidates = [g for g in analysis.errors.groups if g.true == CLASS and set(g.test_indices) & set(region_test)]
        if not candidates:
            raise SystemExit(f"no test '1' of the region ({len(region_test)}) is misclassified: nothing to attribute")
        group = max(candidates, key=lambda g: len(set(g.test_indices) & set(region_test)))
        group = group.narrowed([t for t in group.test_indices if t in region_test])
        result = analysis.attribute(group, "add", "loss", size=SIZE)
        seconds = time.perf_counter() - start
        ranked = [int(i) for i in result.ranking.index]
        nearest = [int(i) for i in nearest_pool(data, group.test_indices)]
        rows = {"add (retraining)": effect_row(result.effect, ranked, region) if result.effect else None}
        rows["nearest (baseline)"] = effect_row(analysis.effect(group, "add", "loss", nearest[:SIZE]), nearest, region)
    chance = len(region) / data.n_pool
    print(
        f"planted region: {len(region)} training '1's of one style moved to a pool of {data.n_pool} "
        f"({data.n_pool - len(region)} {args.distractors} distractors); {data.n_train} training rows; "
        f"chance precision {chance:.2f}"
    )
    print(
        f"error group {group.label}: {group.count} of the {len(region_test)} test '1's in the region; "
        f"ensemble {args.ensemble}; baseline accuracy {analysis.errors.accuracy_mean:.4f}; "
        f"{len(result.selected)} selected; add ranking {seconds:.1f} s"
    )
    print(f"{'ranking':20s} {'prec@10':>7s} {'prec@20':>7s} {'added':>5s} {'region':>6s} {'fixed':>5s} {'new':>4s} "
          f"{'p-value':>9s} {'loss delta':>10s} {'accuracy delta':>16s}")
    for label, row in rows.items():
        if row is None:
            print(f"{label:20s} nothing selected")
            continue
        p = "-" if row["p_value"] is None else f"{row['p_value']:.2g}"
        print(
            f"{label:20s} {row['precision_at_10']:7.2f} {row['precision_at_20']:7.2f} {len(row['added']):5d} "
            f"{row['added_from_region']:6d} {row['errors_fixed']:5d} {row['errors_new']:4d} {p:>9s} {row['loss_delta']:10.3f} "
            f"{row['accuracy_delta']:+9.4f}+-{row['accuracy_delta_std']:.4f}"
        )
    print(json.dumps({
        "bench": "planted_region", "distractors": args.distractors, "ensemble": args.ensemble, "n_train": data.n_train, "n_pool": data.n_pool,
        "region": len(region), "region_test": len(region_test), "group": group.label, "group_tests": list(group.test_indices),
        "chance_precision": round(chance, 3), "seconds": round(seconds, 2), "results": rows,
    }))


if __name__ == "__main__":
    main()
