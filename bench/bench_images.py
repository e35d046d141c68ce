"""Benchmark: the digits image demo (300 train / 300 test by default, small CNN).

Members of a network recipe are independent seeds by default (one run per member); the
study's scheme was 3 checkpoints (epochs 8, 9, 10) of ONE run. Measured in the same run:

  head ranking (cold)    `remove` / `loss` ranking of the largest error group in head mode
                         (last layer retrained on frozen features, members = 3 seeds) through
                         ``Analysis``, from an empty cache: per seed the start (a network
                         trained in full, whose features the heads use), then every head
  head ranking (warm)    the same request in a new Analysis, from that cache
  head, one at a time    the fair baseline: the 3 starts trained directly, then the head-mode
                         recipe with one edit per call (scaled)
  full, seeds, stacked   full fine-tuning, networks stacked per call as the engine cuts a ranking
                         (``recipe.chunk_for``, or ``--stack``), 3 seeds = 3 runs per removed image:
                         one call of each unit size the ranking has, scaled to its units
  --against REV          the same row with the stacked training of git revision REV
                         (tda_core/recipes/torch/_training.py there) at the engine's chunk of 32 of
                         that time, interleaved with the current code ``--rounds`` times: seconds
                         and the ratio old / new of each round (CPU seconds too)
  full, checkpoints      the old scheme, ``TorchRecipe(..., checkpoints=(8, 9, 10))``: 1 run per
                         removed image, its last 3 epochs as members, stacked the same way (scaled)
  full, one at a time    both schemes again with one network per call (``batched=False``, scaled)
  group of 10 (full)     baseline + 10 images removed at once, full fine-tuning, 3 seeds, cold
  head candidates        candidate mode (--candidates N) in head mode from an empty cache, with the
                         Spearman correlation of estimate and retrained effect, and how many of
                         the full head ranking's top 10 it finds
  full ranking, engine   (--full-engine) the real full-fine-tuning ranking through the engine,
                         3 seeds and 3 checkpoints, cold, as the dashboard runs it (n_jobs auto), with
                         the dashboard's time estimate for it (ui.cost: models over the rate the
                         engine's progress reports) against the stacked row above

Scaled rows run ``--naive-samples`` images (one at a time) or one chunk of ``--stack`` images
(stacked) and are scaled per image to the full ranking. Torch trains on ``--threads`` threads
(the recipe's parameter, default 1). Prints a table, the load average, and one JSON line.

    python bench/bench_images.py [--naive-samples 4] [--stack N] [--epochs 10] [--threads 1]
                                 [--candidates 30] [--train-per-class 30] [--full-engine]
                                 [--n-jobs auto|N] [--against REV [--rounds 3] [--only-stacked]]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from sklearn.base import clone

from tda_core import Analysis, Dataset, Edit, Engine, Ranking, RunConfig
from tda_core.data._demos import load_digits
from tda_core.recipes.torch import _recipe as recipe_module
from tda_core.recipes.torch._recipe import TorchRecipe, default_image_recipe

ENSEMBLE = 3
#: The engine's chunk for stacked networks before issue 22 (units of 32, the last one smaller).
OLD_STACK = 32


def ranking(data: Dataset, recipe: TorchRecipe, cache: str, candidates: int | None = None) -> tuple[float, Analysis, Ranking]:
    """The `remove` / `loss` ranking of the largest error group: seconds, the analysis, the ranking."""
    start = time.perf_counter()
    analysis = Analysis(data, recipe, RunConfig(ensemble=ENSEMBLE, cache_dir=cache, candidates=candidates))
    result = analysis.ranking(analysis.errors.groups[0], "remove", "loss")
    return time.perf_counter() - start, analysis, result


def clone_with(recipe: TorchRecipe, **params) -> TorchRecipe:
    return clone(recipe).set_params(**params)


def calls(recipe: TorchRecipe, data: Dataset, chunks: list[list[Edit]], seeds: range, starts: dict | None = None) -> float:
    """Seconds for ``fit_predict`` of every chunk with every seed (after one warm-up call)."""
    first = starts[seeds[0]] if starts else None
    recipe.fit_predict(data, chunks[0][:1], seeds[0], start=first)  # warm-up: first-call costs of torch
    start = time.perf_counter()
    for chunk in chunks:
        for seed in seeds:
            recipe.fit_predict(data, chunk, seed, start=starts[seed] if starts else None)
    return time.perf_counter() - start


def unit_sizes(n: int, size: int) -> dict[int, int]:
    """How many units of each size the engine cuts ``n`` edits into at ``size`` a unit."""
    sizes = [min(size, n - i) for i in range(0, n, size)]
    return {k: sizes.count(k) for k in sorted(set(sizes), reverse=True)}


def stacked_seconds(recipe: TorchRecipe, data: Dataset, edits: list[Edit], size: int, seeds: range) -> tuple[float, float]:
    """Wall and CPU seconds of the full ranking's stacked training, scaled from one call per unit
    size (each with every seed; a warm-up call first)."""
    recipe.fit_predict(data, edits[:1], seeds[0])  # warm-up: first-call costs of torch
    wall = cpu = 0.0
    for k, count in unit_sizes(len(edits), size).items():
        w, c = time.perf_counter(), time.process_time()
        for seed in seeds:
            recipe.fit_predict(data, edits[:k], seed)
        wall += (time.perf_counter() - w) * count
        cpu += (time.process_time() - c) * count
    return wall, cpu


def training_at(rev: str) -> object:
    """``tda_core/recipes/torch/_training.py`` as it was at git revision ``rev``, as a module."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(["git", "show", f"{rev}:tda_core/recipes/torch/_training.py"], cwd=root,
                            capture_output=True, text=True, check=True).stdout
    name = f"tda_core.recipes.torch._training_{rev.replace('~', '_').replace('^', '_')}"
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "tda_core.recipes.torch"
    sys.modules[name] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:training.py", "exec"), module.__dict__)
    return module


@contextlib.contextmanager
def trained_by(module: object) -> Iterator[None]:
    """The recipe trains with ``module``'s ``fit_stacked`` and ``fit_network`` inside the block."""
    saved = recipe_module.fit_stacked, recipe_module.fit_network
    recipe_module.fit_stacked, recipe_module.fit_network = module.fit_stacked, module.fit_network
    try:
        yield
    finally:
        recipe_module.fit_stacked, recipe_module.fit_network = saved


def against(rev: str, recipe: TorchRecipe, data: Dataset, edits: list[Edit], stack: int, rounds: int) -> dict:
    """The stacked row with revision ``rev``'s training (units of :data:`OLD_STACK`) and with the
    current code (units of ``stack``), interleaved ``rounds`` times: seconds and ratios."""
    old = training_at(rev)
    seeds = range(ENSEMBLE)
    runs: list[dict] = []
    for _ in range(rounds):
        with trained_by(old):
            old_wall, old_cpu = stacked_seconds(recipe, data, edits, OLD_STACK, seeds)
        new_wall, new_cpu = stacked_seconds(recipe, data, edits, stack, seeds)
        runs.append({"old_s": round(old_wall, 2), "new_s": round(new_wall, 2), "old_cpu_s": round(old_cpu, 2),
                     "new_cpu_s": round(new_cpu, 2), "ratio": round(old_wall / new_wall, 3),
                     "ratio_cpu": round(old_cpu / new_cpu, 3), "load": round(os.getloadavg()[0], 2)})
        print(f"  against {rev}: old {old_wall:.1f} s ({old_cpu:.1f} s CPU), new {new_wall:.1f} s ({new_cpu:.1f} s CPU), "
              f"old/new {old_wall / new_wall:.2f}x wall, {old_cpu / new_cpu:.2f}x CPU, load {os.getloadavg()[0]:.2f}", flush=True)
    med = lambda key: float(np.median([r[key] for r in runs]))  # noqa: E731
    return {"against": rev, "against_rounds": runs, "against_ratio_median": round(med("ratio"), 3),
            "against_ratio_cpu_median": round(med("ratio_cpu"), 3), "against_new_s_median": round(med("new_s"), 2),
            "against_old_s_median": round(med("old_s"), 2), "against_new_cpu_s_median": round(med("new_cpu_s"), 2),
            "against_old_cpu_s_median": round(med("old_cpu_s"), 2)}


def accuracy(proba: np.ndarray, y: np.ndarray) -> float:
    return float((proba.mean(axis=0).argmax(-1) == y).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--naive-samples", type=int, default=4, help="images the one-at-a-time rows run on, scaled")
    parser.add_argument("--stack", type=int, default=None, help="networks per stacked call (default: the engine's, recipe.chunk_for)")
    parser.add_argument("--epochs", type=int, default=None, help="full fine-tuning epochs (default 10; at least 3)")
    parser.add_argument("--head-epochs", type=int, default=None, help="head-mode epochs (default 50)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads while training (the recipe's threads)")
    parser.add_argument("--candidates", type=int, default=30, help="N for the head candidate-mode row (0: skip)")
    parser.add_argument("--train-per-class", type=int, default=30, help="training images per digit (quick runs: fewer)")
    parser.add_argument("--test-per-class", type=int, default=30)
    parser.add_argument("--full-engine", action="store_true", help="also run the full-fine-tuning ranking through the engine")
    parser.add_argument("--against", default=None, metavar="REV", help="also time the stacked row with git revision REV's training")
    parser.add_argument("--n-jobs", type=lambda t: 0 if t == "auto" else int(t), default=0,
                        help="engine jobs of the --full-engine rankings: auto (0, the dashboard's default) or a number")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of old and new code for --against")
    parser.add_argument("--only-stacked", action="store_true", help="with --against: only that comparison (and --full-engine)")
    args = parser.parse_args()
    data = load_digits(args.train_per_class, args.test_per_class)
    n = data.n_train
    full = default_image_recipe(args.epochs).set_params(threads=args.threads)
    epochs = int(full.epochs)
    if epochs < 3:
        raise SystemExit("--epochs must be at least 3 (the old scheme records the last 3 epochs)")
    checkpoints = (epochs - 2, epochs - 1, epochs)
    head = default_image_recipe(args.epochs, mode="head").set_params(threads=args.threads)
    if args.head_epochs:
        head.set_params(head_epochs=args.head_epochs)
    old = TorchRecipe(full.arch, epochs=epochs, checkpoints=checkpoints, threads=args.threads)
    edits = [Edit("remove", (i,)) for i in range(n)]
    naive = min(n, args.naive_samples)
    stack = min(n, args.stack or full.chunk_for(data))
    seeds = range(ENSEMBLE)
    rows: list[tuple[str, float, str]] = []
    result: dict = {"bench": "images", "n_train": n, "n_test": data.n_test, "epochs": epochs, "checkpoints": list(checkpoints),
                    "load_before": [round(x, 2) for x in os.getloadavg()]}
    if args.against:
        result |= against(args.against, full, data, edits, stack, args.rounds)
    if args.against and args.only_stacked:
        if args.full_engine:
            result |= full_engine(data, full, old, rows, result["against_new_s_median"], args.n_jobs)
        report(rows, result, args, naive, stack, short=True)
        return

    with tempfile.TemporaryDirectory() as cache:
        # head mode: engine cold / warm, against the starts + one head at a time
        head_cold, head_analysis, exact = ranking(data, head, cache)
        head_warm, head_again, _ = ranking(data, head, cache)
        starts_s = time.perf_counter()
        starts = {s: head.fit_start(data, s) for s in seeds}
        starts_s = time.perf_counter() - starts_s
        head_single = starts_s + calls(head, data, [[e] for e in edits[:naive]], seeds, starts) * n / naive
        rows += [
            ("head ranking, engine, cold cache", head_cold, f"{head_analysis.engine.stats.retrains} models (3 starts)"),
            ("head ranking, engine, warm cache", head_warm, f"{head_again.engine.stats.retrains} models"),
            ("head, 3 starts + one head at a time (scaled)", head_single, f"{n * ENSEMBLE} heads, starts {starts_s:.1f} s"),
        ]
        result |= {
            "head_epochs": int(head.head_epochs),
            "baseline_accuracy_head": round(accuracy(head_analysis.baseline.proba_test, data.y_test), 4),
            "head_cold_s": round(head_cold, 3),
            "head_warm_s": round(head_warm, 3),
            "head_one_at_a_time_s": round(head_single, 2),
            "head_one_at_a_time_over_cold": round(head_single / head_cold, 1),
            "head_cold_retrains": head_analysis.engine.stats.retrains,
        }

        # full fine-tuning: 3 seeds vs the old 3 checkpoints of 1 run, stacked and one at a time
        seeds_stacked, seeds_stacked_cpu = stacked_seconds(full, data, edits, stack, seeds)
        ckpt_stacked, _ = stacked_seconds(old, data, edits, stack, range(1))
        single = [[e] for e in edits[:naive]]
        seeds_single = calls(clone_with(full, batched=False), data, single, seeds) * n / naive
        ckpt_single = calls(clone_with(old, batched=False), data, single, range(1)) * n / naive
        rows += [
            (f"full, 3 seeds, {stack} stacked (scaled)", seeds_stacked, f"{n * ENSEMBLE} networks, {seeds_stacked_cpu:.1f} s CPU"),
            (f"full, checkpoints {list(checkpoints)} of 1 run, stacked (scaled)", ckpt_stacked, f"{n} networks"),
            ("full, 3 seeds, one at a time (scaled)", seeds_single, f"{n * ENSEMBLE} networks"),
            ("full, checkpoints of 1 run, one at a time (scaled)", ckpt_single, f"{n} networks"),
        ]
        result |= {
            "full_seeds_stacked_s": round(seeds_stacked, 2),
            "full_seeds_stacked_cpu_s": round(seeds_stacked_cpu, 2),
            "full_checkpoints_stacked_s": round(ckpt_stacked, 2),
            "full_seeds_over_checkpoints_stacked": round(seeds_stacked / ckpt_stacked, 2),
            "full_seeds_one_at_a_time_s": round(seeds_single, 2),
            "full_checkpoints_one_at_a_time_s": round(ckpt_single, 2),
            "full_one_at_a_time_over_stacked_seeds": round(seeds_single / seeds_stacked, 2),
            "full_one_at_a_time_over_stacked_checkpoints": round(ckpt_single / ckpt_stacked, 2),
            "head_cold_vs_full_seeds_stacked": round(seeds_stacked / head_cold, 1),
        }

        # a group of 10 removed at once, full fine-tuning, 3 seeds, cold cache
        with tempfile.TemporaryDirectory() as cold:
            engine = Engine(RunConfig(ensemble=ENSEMBLE, cache_dir=cold))
            start = time.perf_counter()
            group = [Edit.baseline(), Edit("remove", tuple(range(0, min(n, 100), max(1, min(n, 100) // 10))))]
            group_proba = engine.predict(data, full, group, full.members(ENSEMBLE))
            group_s = time.perf_counter() - start
        rows.append(("group of 10, full fine-tuning, 3 seeds, cold", group_s, f"{engine.stats.retrains} networks"))
        result |= {"group_full_s": round(group_s, 3), "baseline_accuracy_full": round(accuracy(group_proba[0], data.y_test), 4)}

        # head candidate mode, from an empty cache, against the exact head ranking above
        if args.candidates:
            with tempfile.TemporaryDirectory() as cold:
                cand_s, fast, ranked = ranking(data, head, cold, candidates=args.candidates)
            top = set(exact.index[:10].tolist())
            found = len(top & set(ranked.estimates.retrained))
            rows.append((f"head candidates N={args.candidates}, cold", cand_s, f"{fast.engine.stats.retrains} models"))
            result |= {
                "candidates": args.candidates,
                "head_candidates_s": round(cand_s, 3),
                "head_candidates_retrains": fast.engine.stats.retrains,
                "head_candidates_spearman": round(ranked.estimates.spearman, 3),
                "head_candidates_top10_found": found,
                "head_candidates_method": ranked.estimates.method,
            }

    if args.full_engine:
        result |= full_engine(data, full, old, rows, result["full_seeds_stacked_s"], args.n_jobs)
    report(rows, result, args, naive, stack)


def full_engine(data: Dataset, full: TorchRecipe, old: TorchRecipe, rows: list, stacked_s: float, n_jobs: int = 0) -> dict:
    """The full-fine-tuning rankings through the engine as the dashboard runs them (``n_jobs``,
    the dashboard's default 0: auto; cold cache), and the dashboard's estimate of the 3-seed one (ui.cost: the models of a ranking
    over the rate of the engine's last progress report) against ``stacked_s``."""
    out: dict = {"full_engine_n_jobs": n_jobs}
    checkpoints = list(old.checkpoint_epochs)
    for label, recipe in (("3 seeds", full), (f"checkpoints {checkpoints}", old)):
        reports: list = []
        with tempfile.TemporaryDirectory() as cold:
            start = time.perf_counter()
            analysis = Analysis(data, recipe, RunConfig(ensemble=ENSEMBLE, cache_dir=cold, n_jobs=n_jobs))
            trained: list = []
            analysis.compute_baseline(trained.append)  # its pace was the page's estimate before the probe
            group = analysis.errors.groups[0]
            pace = analysis.ranking_pace("remove", group) if recipe is full else None  # the dashboard's probe (ui.cost.probe_pace)
            after_probe = time.perf_counter()
            ranked = analysis.ranking(group, "remove", "loss", reports.append)
            seconds = time.perf_counter() - start
            waited = time.perf_counter() - after_probe  # what the user waits once the estimate is shown
        key = "seeds" if recipe is full else "checkpoints"
        jobs = f"auto: {analysis.engine.stats.workers} worker(s)" if n_jobs == 0 else f"{n_jobs} job{'s' if n_jobs > 1 else ''}"
        rows.append((f"full ranking, engine, {label}, cold, {jobs}", seconds, f"{analysis.engine.stats.retrains} networks"))
        out[f"full_engine_{'seeds' if recipe is full else 'checkpoints'}_workers"] = analysis.engine.stats.workers
        out[f"full_engine_{key}_s"] = round(seconds, 2)
        out[f"full_engine_{key}_retrains"] = analysis.engine.stats.retrains
        out[f"full_engine_{key}_reliability"] = ranked.reliability
        if recipe is full:
            last = [p for p in reports if p.phase == "retraining" and p.unit == "models"][-1]
            eta = data.n_train * ENSEMBLE / ((last.done - last.cached) / last.elapsed)  # ui.cost.seconds(ranking_models(..), rate)
            rows.append(("dashboard estimate (ui.cost) for the 3-seed ranking", eta, f"{eta / stacked_s:.2f}x the stacked row"))
            out |= {"dashboard_eta_s": round(eta, 2), "dashboard_eta_over_stacked": round(eta / stacked_s, 3)}
            if pace is not None:  # before the run: the ranking's first unit's pace, with the workers it will use
                before = pace.seconds(data.n_train * ENSEMBLE)  # what the page shows: every model of the ranking
                rows.append(("ranking after the estimate was shown (the wait)", waited, ""))
                rows.append(("dashboard estimate before the run (first unit's pace)", before,
                             f"{before / waited:.2f}x the wait, {pace.workers} worker(s)"))
                out |= {"ranking_after_probe_s": round(waited, 2), "dashboard_eta_before_s": round(before, 2),
                        "dashboard_eta_before_over_wait": round(before / waited, 3)}
            done = [p for p in trained if p.unit == "models"][-1]  # ui.cost.record_baseline_rate
            old_eta = data.n_train * ENSEMBLE / ((done.done - done.cached) / done.elapsed)
            rows.append(("former estimate before the run (the baseline's pace)", old_eta, f"{old_eta / waited:.2f}x the wait"))
            out |= {"former_eta_before_s": round(old_eta, 2), "former_eta_before_over_wait": round(old_eta / waited, 3)}
    return out


def report(rows: list, result: dict, args: argparse.Namespace, naive: int, stack: int, short: bool = False) -> None:
    """The table and the JSON line."""
    print(
        f"digits demo, {result['n_train']} train / {result['n_test']} test, small_cnn, {result['epochs']} epochs "
        f"(head: {result.get('head_epochs', '-')}), members: 3 seeds (old scheme: checkpoints {result['checkpoints']} of seed 0), "
        f"torch threads {args.threads}, {stack} networks stacked a unit"
    )
    print(f"{'run':56s} {'seconds':>9s}  notes")
    for name, seconds, note in rows:
        print(f"{name:56s} {seconds:9.2f}  {note}")
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average (1, 5, 15 min) before {result['load_before']}, after {result['load_after']} on {os.cpu_count()} CPUs")
    if "against" in result:
        print(f"stacked training, {result['against']} / now (units of {OLD_STACK} / {stack}): {result['against_ratio_median']}x wall, "
              f"{result['against_ratio_cpu_median']}x CPU (median of {len(result['against_rounds'])} interleaved rounds)")
    if short:
        result |= {"naive_samples": naive, "stack": stack, "threads": args.threads}
        print(json.dumps(result))
        return
    print(
        f"full ranking, 3 seeds / 3 checkpoints of 1 run (stacked): {result['full_seeds_over_checkpoints_stacked']}x; "
        f"one at a time / stacked: {result['full_one_at_a_time_over_stacked_seeds']}x (seeds), "
        f"{result['full_one_at_a_time_over_stacked_checkpoints']}x (checkpoints); "
        f"head one at a time / engine: {result['head_one_at_a_time_over_cold']}x"
    )
    if "head_candidates_s" in result:
        print(
            f"head candidates ({result['head_candidates_method']}): Spearman {result['head_candidates_spearman']:.3f}, "
            f"{result['head_candidates_top10_found']}/10 of the exact head ranking's top 10 retrained"
        )
    result |= {"naive_samples": naive, "stack": stack, "threads": args.threads}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
