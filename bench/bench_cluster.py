"""Benchmark of the Dask backend: an exact ranking of a census income sample on 1 vs 2 workers.

The same exact ranking (``remove``, every training row of the first ``--rows`` rows, ``--members``
members, the default recipe) runs on a LocalCluster of 1 and of 2 worker processes of one thread
each, through ``--backend dask --scheduler`` as a real cluster would, each from an empty cache.
Reported per cluster: the wall time of the ranking (the baseline apart), models per second in all
and per worker, the speed-up of 2 workers over 1 measured in the same run, and the peak RSS of
the workers (each worker's ``ru_maxrss``, read with ``client.run`` after the ranking) and of
this process. The rankings of both clusters must be equal.

Units hold ``--chunk`` models each, by default what the recipe gives the full census (a unit's
stacked arrays under 256 MiB: 122 models of 199,523 rows), so the per-model rate is measured at
the full census's unit size. ``--full-unit`` also runs one such unit of the full census (199,523
rows) on a one-worker cluster: its per-model rate and the worker's peak RSS at full size.

From the per-model rate, the exhaustive exact ranking of the full census (199,523 rows x 3
members = 598,569 models, each trained on 199,523 rows) is extrapolated to N workers: the
sample's seconds per model scaled by rows (199,523 / --rows; the test rows are kept at the same
ratio to the training rows as the full census's, so they scale alike), divided among N workers: linearly at the one-worker
rate (units are independent; a worker of a real cluster has its core to itself), and at the
per-worker rate measured with 2 workers (this machine's parallel efficiency, with the client,
the scheduler and other work on the same 2 cores, included).

    python bench/bench_cluster.py [--rows 4000 --test-rows 2000 --members 2] [--full-unit]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from types import SimpleNamespace

import numpy as np

CENSUS_ROWS, CENSUS_TEST_ROWS, CENSUS_MEMBERS = 199_523, 99_762, 3
GiB = 2**30


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def worker_peak_rss() -> int:
    """In a worker: its peak resident memory (bytes)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def chunked(recipe_cls, chunk: int):
    """The recipe with units of ``chunk`` models (defined here, shipped to the workers by value)."""

    class Chunked(recipe_cls):
        def chunk_for(self, data) -> int:
            return chunk

    Chunked.__name__ = Chunked.__qualname__ = f"{recipe_cls.__name__}Chunk{chunk}"
    return Chunked


def cluster(workers: int, memory: int):
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory,
                        dashboard_address=":0", scheduler_kwargs={"dashboard": False})


def run_ranking(data, recipe, members: int, workers: int, memory: int) -> dict:
    from distributed import Client

    from tda_core import Analysis, RunConfig

    with cluster(workers, memory) as c, tempfile.TemporaryDirectory() as cache:
        config = RunConfig(ensemble=members, backend="dask", scheduler=c.scheduler_address, cache_dir=cache)
        analysis = Analysis(data, recipe, config)
        start = time.perf_counter()
        analysis.compute_baseline()
        baseline_s = time.perf_counter() - start
        group = analysis.errors.groups[0]
        before = analysis.engine.stats.retrains
        start = time.perf_counter()
        ranking = analysis.ranking(group, "remove", "loss")
        seconds = time.perf_counter() - start
        models = analysis.engine.stats.retrains - before
        with Client(c.scheduler_address) as client:
            rss = client.run(worker_peak_rss)
    return {"workers": workers, "seconds": seconds, "baseline_s": baseline_s, "models": models, "rate": models / seconds,
            "rate_per_worker": models / seconds / workers, "worker_peak_rss_gib": max(rss.values()) / GiB,
            "memory_limit_gib": memory / GiB, "ranking": ranking, "plan": analysis.plan, "kept_rows": len(analysis._kept["remove"].rows)}


def run_full_unit(recipe_cls, chunk: int, memory: int) -> dict:
    """One unit (``chunk`` models, one seed) of the full census on a one-worker cluster."""
    from distributed import Client

    from tda_core import RunConfig, default_recipe
    from tda_core._actions import ACTIONS
    from tda_core._engine import Engine
    from tda_core.data._demos import load_census
    from tda_core.recipes._base import Member

    data = load_census()
    recipe = chunked(type(default_recipe(data)), chunk)()
    edits = [ACTIONS["remove"].edit([i]) for i in range(chunk)]
    rows = np.arange(0, data.n_test, 20)  # about the census's test errors: what the exact plan keeps
    with cluster(1, memory) as c, tempfile.TemporaryDirectory() as cache:
        engine = Engine(RunConfig(backend="dask", scheduler=c.scheduler_address, cache_dir=cache))
        # The worker's first unit also builds the design matrices once: time a second unit apart.
        start = time.perf_counter()
        engine.summaries(data, recipe, edits, [Member(0)], rows)
        first = time.perf_counter() - start
        start = time.perf_counter()
        engine.summaries(data, recipe, edits, [Member(1)], rows)
        second = time.perf_counter() - start
        with Client(c.scheduler_address) as client:
            rss = max(client.run(worker_peak_rss).values())
    return {"models": chunk, "first_unit_s": first, "unit_s": second, "seconds_per_model": second / chunk,
            "worker_peak_rss_gib": rss / GiB, "memory_limit_gib": memory / GiB}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000, help="training rows of the sample (4000)")
    parser.add_argument("--test-rows", type=int, default=None, help="test rows (default: rows / 2, the census's ratio)")
    parser.add_argument("--members", type=int, default=2, help="ensemble members (2)")
    parser.add_argument("--chunk", type=int, default=None, help="models a unit (default: the full census's)")
    parser.add_argument("--worker-memory", default="2G", help="each worker's Dask memory limit (2G)")
    parser.add_argument("--full-unit", action="store_true", help="also one unit of the full census on one worker")
    parser.add_argument("--workers", default="16,64,256", help="cluster sizes of the extrapolation")
    args = parser.parse_args()

    from tda_core import default_recipe
    from tda_core.data._demos import load_census
    from tda_core.limits import parse_size

    memory = parse_size(args.worker_memory)
    test_rows = args.test_rows or args.rows * CENSUS_TEST_ROWS // CENSUS_ROWS
    data = load_census(args.rows, test_rows)
    recipe_cls = type(default_recipe(data))
    chunk = args.chunk or int(recipe_cls().chunk_for(SimpleNamespace(n_fit=CENSUS_ROWS, n_classes=2)))
    recipe = chunked(recipe_cls, chunk)()
    print(f"census income sample: {data.n_train:,} train / {data.n_test:,} test rows, {args.members} members, "
          f"{recipe.display_name}, {chunk} models a unit, workers of 1 thread and {args.worker_memory} each")

    runs = [run_ranking(data, recipe, args.members, w, memory) for w in (1, 2)]
    one, two = runs
    for name in ("train_index", "delta_mean", "delta_std", "p_value", "accuracy_delta_mean"):
        np.testing.assert_array_equal(getattr(one["ranking"], name), getattr(two["ranking"], name), err_msg=name)
    speedup = one["seconds"] / two["seconds"]
    print(f"  plan {one['plan']}, {one['kept_rows']} test rows kept; the rankings of 1 and 2 workers are equal")
    print(f"  {'workers':>7} {'ranking s':>10} {'models':>8} {'models/s':>9} {'/s a worker':>11} {'worker peak RSS':>16}")
    for r in runs:
        print(f"  {r['workers']:>7} {r['seconds']:>10.1f} {r['models']:>8,} {r['rate']:>9.1f} {r['rate_per_worker']:>11.1f} "
              f"{r['worker_peak_rss_gib']:>12.2f} GiB")
    print(f"  speed-up of 2 workers over 1: {speedup:.2f}x (parallel efficiency {speedup / 2:.0%}); "
          f"this process's peak RSS {peak_rss_gib():.2f} GiB")

    scale = CENSUS_ROWS / data.n_train
    per_model_1 = scale / one["rate_per_worker"]  # seconds a model at full size, one worker alone
    per_model_2 = scale / two["rate_per_worker"]  # the same, per worker of the 2-worker cluster
    full = {}
    if args.full_unit:
        full = run_full_unit(recipe_cls, chunk, memory * 2)
        print(f"  one unit of the full census ({chunk} models x {CENSUS_ROWS:,} rows) on one worker: {full['unit_s']:.1f} s "
              f"({full['seconds_per_model']:.3f} s a model; the worker's first unit {full['first_unit_s']:.1f} s with its "
              f"design matrices), worker peak RSS {full['worker_peak_rss_gib']:.2f} GiB; scaled from the sample: "
              f"{per_model_1:.3f} s a model")
    models = CENSUS_ROWS * CENSUS_MEMBERS
    print(f"  the full census, exact: {models:,} models ({CENSUS_ROWS:,} rows x {CENSUS_MEMBERS} members), "
          f"{per_model_1:.3f} s a model on one worker, {per_model_2:.3f} s a model a worker of 2 (the sample's rates x{scale:.1f} rows)")
    print(f"  {'workers':>7} {'hours, linear':>14} {'hours at the 2-worker efficiency':>33}")
    table = []
    for n in [1, *(int(w) for w in args.workers.split(",") if w.strip())]:
        linear = models * per_model_1 / n / 3600
        measured = models * (per_model_1 if n == 1 else per_model_2) / n / 3600
        table.append({"workers": n, "hours_linear": round(linear, 2), "hours_at_2_worker_efficiency": round(measured, 2)})
        print(f"  {n:>7} {linear:>14.1f} {measured:>33.1f}")
    out = {"rows": data.n_train, "test_rows": data.n_test, "members": args.members, "chunk": chunk,
           "runs": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items() if k != "ranking"} for r in runs],
           "speedup": round(speedup, 2), "client_peak_rss_gib": round(peak_rss_gib(), 2),
           "full_census_seconds_per_model": round(per_model_1, 4),
           "full_census_seconds_per_model_2_workers": round(per_model_2, 4), "full_census_hours": table}
    if full:
        out["full_unit"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in full.items()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
