"""Benchmark: the digits image demo (300 train / 300 test, small CNN).

Measures, in the same run:
  head ranking (cold)     `remove` ranking of every training sample x 3 members in head mode
                          (last layer retrained on frozen features; members are 3 seeds),
                          through the engine, from an empty cache: per seed the baseline
                          network that gives the features, then all 300 heads stacked and
                          trained at once
  head ranking (warm)     the same request again, from the cache, in a new Engine
  head one at a time      the head-mode recipe, one model per call (scaled to 300 samples)
  full one at a time      full fine-tuning, one network per call, no batching (scaled): the
                          naive cost of a full-retraining ranking
  full stacked            full fine-tuning, 32 networks per call with torch.func (scaled)
  group retrain (full)    baseline + one group of 10 removed samples, full fine-tuning, 3 members
  head candidates         candidate mode in head mode (--candidates N, default 30), `remove` /
                          `loss` on the largest error group, from an empty cache: baseline,
                          last-layer influence estimates of every sample, N + max(10, N/4)
                          retrains; with the Spearman correlation of estimate and retrained
                          effect it reports, and how many of the full ranking's top 10 (by
                          retrained effect) it finds

Scaled rows run --naive-samples samples and are scaled per model to the full ranking.
Prints a table and one JSON line.

    python bench/bench_images.py [--naive-samples 8] [--epochs N] [--threads T] [--candidates N]
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
import torch  # noqa: E402

from tda_core.actions import Edit  # noqa: E402
from tda_core.images import load_image_demo  # noqa: E402
from tda_core.torch_recipes import TorchRecipe, default_image_recipe  # noqa: E402

try:
    from tda_core.analysis import Analysis
    from tda_core.engine import Engine, RunConfig
except ImportError:  # the engine is optional: fall back to calling the recipe
    Engine = None  # type: ignore[assignment,misc]


def predict(recipe: TorchRecipe, data, edits: list[Edit], cache: str) -> tuple[np.ndarray, float, int]:
    """Probabilities (edits, 3 members, n_test, C), seconds, and models trained."""
    start = time.perf_counter()
    if Engine is not None:
        engine = Engine(RunConfig(ensemble=3, cache_dir=cache))
        proba = engine.predict(data, recipe, edits, eval_on="test")
        return proba, time.perf_counter() - start, engine.stats.retrains
    seeds = range(3 // recipe.members_per_run)
    proba = np.concatenate([recipe.fit_predict(data, edits, seed=s) for s in seeds], axis=1)
    return proba, time.perf_counter() - start, len(edits) * len(seeds)


def per_model(recipe: TorchRecipe, data, n: int, batch: int = 1) -> float:
    """Seconds per removal (all 3 members) when training ``batch`` edits per call (features
    already cached); head mode trains one seed per call, so it counts 3 calls."""
    edits = [Edit("remove", (i,)) for i in range(n)]
    recipe.fit_predict(data, edits[:1], seed=0)  # warm-up (and the feature cache in head mode)
    start = time.perf_counter()
    for i in range(0, n, batch):
        recipe.fit_predict(data, edits[i : i + batch], seed=0)
    calls = 3 // recipe.members_per_run
    return (time.perf_counter() - start) / n * calls


def candidates(recipe: TorchRecipe, data, n: int, cache: str) -> dict:
    """Candidate mode (head) from an empty cache, against the full head ranking (warm cache)."""
    full = Analysis(data, recipe, RunConfig(ensemble=3, cache_dir=cache))
    group = full.errors.groups[0]
    exact = full.ranking(group, "remove", "loss")
    with tempfile.TemporaryDirectory() as cold:
        recipe = recipe.with_options(cache_dir=cold)
        start = time.perf_counter()
        fast = Analysis(data, recipe, RunConfig(ensemble=3, cache_dir=cold, candidates=n))
        ranked = fast.ranking(fast.errors.groups[0], "remove", "loss")
        seconds = time.perf_counter() - start
    top = set(exact.train_index[:10].tolist())
    return {
        "seconds": seconds, "retrains": fast.engine.stats.retrains, "spearman": ranked.estimates.spearman,
        "top10_found": len(top & set(ranked.estimates.retrained)), "group": f"{group.true}:{group.pred}",
        "method": ranked.estimates.method, "retrained": len(ranked.estimates.retrained),
    }


def accuracy(proba: np.ndarray, y: np.ndarray) -> float:
    return float((proba.argmax(-1) == y).mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--naive-samples", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: as is)")
    parser.add_argument("--candidates", type=int, default=30, help="N for the head candidate-mode row")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_image_demo()
    n = data.n_train
    ranking = [Edit.none()] + [Edit("remove", (i,)) for i in range(n)]
    group = [Edit.none(), Edit("remove", tuple(range(0, 100, 10)))]
    with tempfile.TemporaryDirectory() as cache:
        head = default_image_recipe(data, epochs=args.epochs, mode="head").with_options(cache_dir=cache)
        full = default_image_recipe(data, epochs=args.epochs).with_options(cache_dir=cache)
        head_proba, head_cold, head_models = predict(head, data, ranking, cache)
        _, head_warm, warm_models = predict(head, data, ranking, cache)
        group_proba, group_s, group_models = predict(full, data, group, cache)
        head_single = per_model(head, data, args.naive_samples) * n  # each call gives the 3 members
        full_single = per_model(full.with_options(batched=False), data, args.naive_samples) * n
        full_stacked = per_model(full, data, 32, batch=32) * n
        cand = candidates(head, data, args.candidates, cache) if Engine is not None else None
    rows = [
        ("head ranking, engine, cold cache", head_cold, head_models),
        ("head ranking, engine, warm cache", head_warm, warm_models),
        ("head ranking, one at a time (scaled)", head_single, n),
        ("full ranking, one at a time (scaled)", full_single, n),
        ("full ranking, 32 stacked (scaled)", full_stacked, n),
        ("group of 10, full fine-tuning, cold", group_s, group_models),
    ]
    if cand is not None:
        rows.append((f"head candidates N={args.candidates}, cold", cand["seconds"], cand["retrains"]))
    print(
        f"digits demo, {n} train / {data.n_test} test, {full.arch}, {full.epochs} epochs "
        f"(head: {head.head_epochs} epochs, members = seeds 0-2), full: members = checkpoints "
        f"{list(full.checkpoints)} of seed 0, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"{'run':40s} {'seconds':>9s} {'runs':>6s}")
    for name, seconds, models in rows:
        print(f"{name:40s} {seconds:9.2f} {models:6d}")
    result = {
        "bench": "images",
        "n_train": n,
        "epochs": full.epochs,
        "head_epochs": head.head_epochs,
        "baseline_accuracy_full": round(accuracy(group_proba[0], data.y_test), 4),  # over the 3 members
        "baseline_accuracy_head": round(accuracy(head_proba[0], data.y_test), 4),
        "head_ranking_cold_s": round(head_cold, 3),
        "head_ranking_warm_s": round(head_warm, 3),
        "head_one_at_a_time_s": round(head_single, 2),
        "full_one_at_a_time_s": round(full_single, 2),
        "full_stacked_s": round(full_stacked, 2),
        "group_full_s": round(group_s, 3),
        "speedup_head_vs_full_one_at_a_time": round(full_single / head_cold, 1),
        "speedup_head_batched_vs_one_at_a_time": round(head_single / head_cold, 1),
        "speedup_full_stacked_vs_one_at_a_time": round(full_single / full_stacked, 1),
        "candidates": args.candidates,
        "head_candidates_s": None if cand is None else round(cand["seconds"], 3),
        "head_candidates_retrains": None if cand is None else cand["retrains"],
        "head_candidates_spearman": None if cand is None else round(cand["spearman"], 3),
        "head_candidates_top10_found": None if cand is None else cand["top10_found"],
        "head_candidates_group": None if cand is None else cand["group"],
        "naive_samples": args.naive_samples,
        "threads": torch.get_num_threads(),
        "engine": Engine is not None,
    }
    print(
        f"head ranking vs full retraining one at a time: {result['speedup_head_vs_full_one_at_a_time']}x; "
        f"stacked heads vs heads one at a time: {result['speedup_head_batched_vs_one_at_a_time']}x; "
        f"stacked full vs one at a time: {result['speedup_full_stacked_vs_one_at_a_time']}x"
    )
    if cand is not None:
        print(
            f"head candidates (group {cand['group']}, remove/loss, {cand['method']}): "
            f"Spearman {cand['spearman']:.3f} on {cand['retrained']} retrained samples, "
            f"{cand['top10_found']}/10 of the full ranking's top 10 among them"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
