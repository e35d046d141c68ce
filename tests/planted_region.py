"""A planted *missing region* for the ``add`` action (lacking data), on data the tool was never
tuned on: scikit-learn's handwritten digits (``load_digits``) as a 64-column table.

The choice, fixed before any result was looked at:

- data: ``load_digits`` (1797 rows, 64 pixel columns, target ``digit`` as "0".."9"), a
  stratified 70/30 train/test split with seed 0 (``split_table``);
- class c = "1"; region = one writing style of it: k-means (k=2, ``random_state=0``,
  ``n_init=10``) on the standardised pixels (scaler fitted on all training rows) of the
  class-1 TRAINING rows, region = the smaller of the two clusters; a test sample is in the
  region when it is a "1" whose nearest of the two centroids is the region's;
- every training "1" in the region leaves training for the pool; distractors: twice as many
  other training rows (any class, including "1"s of the other style), drawn with
  ``default_rng(seed)``, also leave training for the pool; the pool is shuffled; the test set is
  unchanged;
- the error group: the largest baseline error group of true class "1", narrowed to its test
  samples inside the region.

A second variant, with hard distractors (``distractors="near"``), its rule fixed before its first
run: the distractors are the 2 x region training rows whose class is NOT "1" that are nearest to
the region's centroid (the mean of the region's training rows in the same standardised pixel
space; Euclidean distance; ties by row order), the other classes' look-alikes of the missing
style. They too leave training for the pool; the pool is shuffled with ``default_rng(seed)``;
everything else is as above.

A ranking by ``add`` should put region samples first; precision@k is the fraction of region
samples among its first k pool samples. ``bench/planted_region.py`` rebuilds the same data
(benchmarks do not import tests) and compares with the pool samples nearest the errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from tda_core.data import Dataset, tabular_dataset
from tda_core.data._tables import split_table, table_pool

CLASS = "1"
DISTRACTORS_PER_REGION_SAMPLE = 2


@dataclass(frozen=True)
class PlantedRegion:
    data: Dataset  # training rows without the region and the distractors; the pool holds both
    region_pool: frozenset[int]  # pool indices of the region samples
    region_test: tuple[int, ...]  # test indices of class "1" inside the region
    region_ids: frozenset[int]  # original row ids (load_digits positions) of the region's training samples


def planted_region_digits(seed: int = 0, distractors: str = "random") -> PlantedRegion:
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
    n_distractors = DISTRACTORS_PER_REGION_SAMPLE * len(region)
    if distractors == "random":
        chosen = rng.choice(train.index.difference(region), size=n_distractors, replace=False)
    elif distractors == "near":
        centroid = scaler.transform(train.loc[region, features]).mean(axis=0)
        others = train.index[train["digit"] != CLASS]
        distance = np.linalg.norm(scaler.transform(train.loc[others, features]) - centroid, axis=1)
        chosen = others[np.argsort(distance, kind="stable")[:n_distractors]].to_numpy()
    else:
        raise ValueError(f"distractors must be 'random' or 'near', not {distractors!r}")
    pool_rows = rng.permutation(np.concatenate([region.to_numpy(), chosen]))
    pool = train.loc[pool_rows]
    kept = train.drop(index=pool_rows)
    test_ones = np.flatnonzero(test["digit"].to_numpy() == CLASS)
    in_region = kmeans.predict(scaler.transform(test.loc[test_ones, features])) == region_cluster
    data = table_pool(tabular_dataset(kept, test, "digit", name="planted-region-digits"), pool)
    region_ids = {int(i) for i in region}
    return PlantedRegion(
        data,
        frozenset(int(i) for i, row in enumerate(pool_rows) if int(row) in region_ids),
        tuple(int(t) for t in test_ones[in_region]),
        frozenset(region_ids),
    )
