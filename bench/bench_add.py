"""Benchmark: is adding a pool sample as fast as removing a training sample?

On the credit demo (700 train / 100 pool / 200 test, logistic-sgd, 3 members), in one run:

  add ranking        every pool sample added in turn (pool rows as weight 0 -> 1 in the batch)
  remove ranking     the same number of training samples removed in turn (weight 1 -> 0),
                     the first ``n_pool`` training rows, through the same engine
  naive add          what a user would do by hand: for each pool sample, the training rows
                     with that row appended, the recipe's SGD trained from scratch, one model per
                     call (preprocessing fitted once, as the engine does); timed on
                     ``--naive-samples`` pool samples and scaled. Its appended row takes part in
                     the permutation instead of joining a batch, so its numbers differ slightly:
                     the correlation of the effects is printed

Every run starts from an empty cache. BLAS is capped at one thread. Prints a table and one JSON line.

    python bench/bench_add.py [--naive-samples 30]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits

from tda_core import Edit, RunConfig, load_demo
from tda_core._actions import ACTIONS
from tda_core._engine import Engine
from tda_core.recipes._logistic import LogisticSGDRecipe, predict_proba
from tda_core.recipes._preprocessing import tabular_preprocessor

ENSEMBLE = 3


def engine_seconds(data, edits, members) -> tuple[float, np.ndarray]:
    recipe = LogisticSGDRecipe()
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        proba = Engine(RunConfig(ensemble=ENSEMBLE, cache_dir=cache)).predict(data, recipe, edits, members)
        return time.perf_counter() - start, proba


def naive_add(data, pool_indices, seeds) -> tuple[float, np.ndarray]:
    """Append each pool row to the training rows and train the recipe's SGD on them, one model
    per call (the preprocessing fitted once on the training features, as the engine does)."""
    recipe = LogisticSGDRecipe()
    prep = tabular_preprocessor().fit(data.X_train)
    X_train, X_pool = recipe._design(prep, data.X_train), recipe._design(prep, data.X_pool)
    X_test = recipe._design(prep, data.X_test)
    start = time.perf_counter()
    out = []
    for j in pool_indices:
        X = np.vstack([X_train, X_pool[j : j + 1]])
        y = np.append(data.y_train, data.y_pool[j])[None]
        w = np.ones((1, len(X)))
        thetas = [recipe._train(X, y, w, data.n_classes, s) for s in seeds]
        out.append([predict_proba(X_test, theta)[0] for theta in thetas])
    return time.perf_counter() - start, np.asarray(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--naive-samples", type=int, default=30)
    args = parser.parse_args()
    data = load_demo("credit")
    members = LogisticSGDRecipe().members(ENSEMBLE)
    seeds = [m.seed for m in members]
    with threadpool_limits(1):
        add_s, add_proba = engine_seconds(data, [ACTIONS["add"].edit([j]) for j in range(data.n_pool)], members)
        remove_s, _ = engine_seconds(data, [ACTIONS["remove"].edit([i]) for i in range(data.n_pool)], members)
        k = min(args.naive_samples, data.n_pool)
        naive_s, naive_proba = naive_add(data, range(k), seeds)
    naive_full = naive_s / k * data.n_pool
    # Appending a row to the permutation is another batch order than joining a batch: compare effects, not bits.
    baseline = LogisticSGDRecipe().fit_predict(data, [Edit.baseline()], seeds[0])[0, 0]
    engine_effect = add_proba[:k, 0] - baseline
    naive_effect = naive_proba[:, 0] - baseline
    agreement = float(np.corrcoef(engine_effect[..., 0].mean(axis=1), naive_effect[..., 0].mean(axis=1))[0, 1])
    rows = [
        (f"add ranking, engine ({data.n_pool} pool samples x {ENSEMBLE} members)", add_s, ""),
        (f"remove ranking, engine ({data.n_pool} training samples x {ENSEMBLE} members)", remove_s, f"add / remove = {add_s / remove_s:.2f}"),
        (f"naive add: append the row, train one model at a time (scaled from {k})", naive_full, f"{naive_full / add_s:.0f}x slower than the engine"),
    ]
    print(f"{'run':<80} {'seconds':>8}  note")
    for name, seconds, note in rows:
        print(f"{name:<80} {seconds:8.2f}  {note}")
    print(f"correlation of per-sample mean effect on P(bad), engine vs naive (first {k} pool samples, seed {seeds[0]}): {agreement:.3f}")
    print(json.dumps({"add_s": add_s, "remove_s": remove_s, "naive_add_s": naive_full, "naive_samples": k,
                      "effect_correlation": agreement}))


if __name__ == "__main__":
    main()
