"""The study's image scenario on a GPU: a full fine-tuning ranking of a ResNet-18 (issue 22).

Appendix C of the study: a ResNet-18 fine-tuned on 300 images of 10 classes for 10 epochs,
AdamW (lr 1e-3, weight decay 0.005), batch 32. Here the network is a seeded
``torchvision.models.resnet18()`` (the recipe's own initialisation; nothing is downloaded) and
the pictures are generated (``bench_resnet_head.write_photos``: 10 hues with noise, every fifth
test picture with the next class's hue) and read through ``load_images`` at ``--size`` pixels.
Everything goes through the product: ``TorchRecipe("resnet18", stack=S)`` and the ``Engine``
as ``Analysis`` drives it (``predict`` for the baseline, ``error_report`` for the error group,
``summaries`` for the counterfactuals, ``rank`` for the ranking), training one seed's baseline
and its ``--images`` counterfactuals (one removed image each) from an empty cache; ``Analysis``
itself asks for 2 members at least of a seed-dependent network.

``--stack auto`` stacks as many networks per unit (``torch.func.vmap``, batch norm's running
statistics stacked beside the parameters) as half the free GPU memory holds, at most 32, from the
recipe's own measure of a network's training memory; then a probe of one epoch trains that stack
once stacked and once one network at a time, and the ranking uses the faster. On the CPU, auto
is 2, stacked whatever the probe says (the tiny check exercises the stacked path; it sizes
nothing).

Prints, then one JSON line: models per second (the counterfactuals over the ranking's time),
peak GPU memory (``torch.cuda.max_memory_allocated``; on the CPU the peak RSS), the ranking's
time for one seed, and the time of a full ranking with 3 seeds at that rate (3 baselines and
3 x ``--images`` counterfactuals; extrapolated, not run).

    python bench/gpu_ranking.py [--images 300] [--test 100] [--size 224] [--epochs 10]
                                [--device cuda] [--stack auto|N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_resnet_head import CLASSES, write_photos

from tda_core import Edit, Engine, RunConfig
from tda_core._actions import get_action
from tda_core._attribution import make_baseline, rank
from tda_core._errors import error_report
from tda_core._metrics import get_metric
from tda_core.data._images import load_images
from tda_core.recipes.torch._networks import image_input
from tda_core.recipes.torch._recipe import TorchRecipe

SEEDS = 3  # the full ranking the time is given for
MAX_STACK = 32


def recipe_for(args: argparse.Namespace, stack: int) -> TorchRecipe:
    """Appendix C's fine-tuning: AdamW lr 1e-3, weight decay 0.005, batch 32, ``--epochs``."""
    return TorchRecipe("resnet18", epochs=args.epochs, batch_size=32, lr=1e-3, weight_decay=0.005, device=args.device,
                       threads=args.threads, stack=stack)


def auto_stack(args: argparse.Namespace, data) -> int:
    """Networks per unit: as many as half the free GPU memory holds (the recipe's measure of one
    network's training memory), at most :data:`MAX_STACK`; 2 on the CPU."""
    device = recipe_for(args, 1).torch_device
    if device.type != "cuda":
        return 2
    free, _ = torch.cuda.mem_get_info(device)
    per_network = recipe_for(args, 1).training_bytes(data)
    return int(max(1, min(MAX_STACK, free // 2 // max(1, per_network), data.n_train)))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def probe(args: argparse.Namespace, data, stack: int) -> dict:
    """One epoch of ``stack`` removals, stacked and one at a time (after a warm-up of each):
    networks per second of both."""
    edits = [Edit("remove", (i,)) for i in range(stack)]
    out = {}
    for label, recipe in (("stacked", recipe_for(args, stack)), ("one_at_a_time", recipe_for(args, stack).set_params(batched=False))):
        recipe.set_params(epochs=1)
        recipe.fit_predict(data, edits[:min(2, stack)] if label == "stacked" else edits[:1], 0)  # warm-up: kernels, allocator
        synchronize(recipe.torch_device)
        start = time.perf_counter()
        recipe.fit_predict(data, edits, 0)
        synchronize(recipe.torch_device)
        out[label] = stack / (time.perf_counter() - start)
    return out


def peak_memory(device: torch.device) -> tuple[str, int]:
    if device.type == "cuda":
        return "peak GPU memory", int(torch.cuda.max_memory_allocated(device))
    return "peak RSS (CPU run)", int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=300, help="training images (10 classes); one counterfactual each")
    parser.add_argument("--test", type=int, default=100, help="test images")
    parser.add_argument("--size", type=int, default=224, help="pixels a side the network sees (resnet18: 224)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--device", default="cuda", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--stack", default="auto", help="networks per unit: auto (memory, then the faster of a probe) or N")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the recipe's threads)")
    parser.add_argument("--out", default=None, help="also write the JSON line to this file")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_ranking: --device cuda, but torch sees no CUDA GPU (use --device cpu for the tiny check)")
    started = time.perf_counter()
    result: dict = {"bench": "gpu_ranking", "images": args.images, "test": args.test, "size": args.size, "epochs": args.epochs,
                    "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        write_photos(Path(tmp) / "photos", args.images, args.test, max(args.size, 32))
        data = load_images(Path(tmp) / "photos", image_input=image_input("resnet18", args.size))
        device = recipe_for(args, 1).torch_device
        result["device"] = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
        print(f"{data.n_train} train / {data.n_test} test pictures of {CLASSES} classes at {args.size} px on {result['device']}, "
              f"resnet18 (seeded, no downloaded weights), {args.epochs} epochs, torch {torch.__version__}", flush=True)

        stack = auto_stack(args, data) if args.stack == "auto" else int(args.stack)
        batched = True
        if stack > 1:
            rates = probe(args, data, stack)
            batched = rates["stacked"] >= rates["one_at_a_time"] or device.type != "cuda"
            result |= {"probe_stacked_models_per_s": round(rates["stacked"], 3),
                       "probe_one_at_a_time_models_per_s": round(rates["one_at_a_time"], 3)}
            print(f"probe, 1 epoch of {stack} networks: stacked {rates['stacked']:.2f} networks/s (x{args.epochs} epochs), "
                  f"one at a time {rates['one_at_a_time']:.2f}: the ranking trains {'stacked' if batched else 'one at a time'}",
                  flush=True)
        recipe = recipe_for(args, stack).set_params(batched=batched)
        result |= {"stack": stack, "stacked": bool(recipe._batchable), "chunk": recipe.chunk_for(data)}
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

        last = [0.0]

        def progress(p) -> None:
            if p.done >= p.total or time.perf_counter() - last[0] > 30:
                last[0] = time.perf_counter()
                print(f"  {p.describe()}", flush=True)

        with tempfile.TemporaryDirectory() as cache:
            engine = Engine(RunConfig(ensemble=1, cache_dir=cache))
            members = recipe.members(1)
            t0 = time.perf_counter()
            baseline = make_baseline(data, engine.predict(data, recipe, [Edit.baseline()], members, "train+test", progress)[0], members)
            synchronize(device)
            baseline_s = time.perf_counter() - t0
            group = error_report(data, baseline.proba_test).groups[0]
            edits = [Edit("remove", (i,)) for i in range(data.n_train)]
            t0 = time.perf_counter()
            kept = engine.summaries(data, recipe, edits, members, group.test_indices, progress)
            synchronize(device)
            ranking_s = time.perf_counter() - t0
            ranked = rank(data, baseline, kept, get_action("remove"), get_metric("loss"), group.test_indices)
        memory_label, peak = peak_memory(device)
        per_second = data.n_train / ranking_s
        three = SEEDS * (baseline_s + ranking_s)
        accuracy = float((baseline.proba_test.mean(0).argmax(-1) == data.y_test).mean())
        result |= {
            "baseline_s": round(baseline_s, 2), "ranking_one_seed_s": round(ranking_s, 2),
            "models_per_s": round(per_second, 3), "peak_memory_bytes": peak, "peak_memory_what": memory_label,
            "full_ranking_3_seeds_s": round(three, 1), "baseline_accuracy": round(accuracy, 3),
            "group": f"{group.true}->{group.pred}", "ranked": len(ranked.index), "retrains": engine.stats.retrains,
            "top5": [int(i) for i in ranked.index[:5]], "finite": bool(np.isfinite(ranked.delta_mean).all()),
            "total_s": round(time.perf_counter() - started, 1), "load": [round(x, 2) for x in os.getloadavg()],
        }
    print(f"baseline (1 network): {baseline_s:.1f} s, test accuracy {accuracy:.3f}")
    print(f"ranking, one seed: {data.n_train} counterfactuals in {ranking_s:.1f} s: {per_second:.2f} models per second "
          f"({'stacked ' + str(result['chunk']) + ' a unit' if result['stacked'] else 'one at a time'})")
    print(f"{memory_label}: {peak / 2**30:.2f} GiB")
    print(f"full ranking with {SEEDS} seeds ({SEEDS} baselines + {SEEDS * data.n_train} counterfactuals), at this rate: "
          f"{three:.0f} s ({three / 60:.1f} min)")
    line = json.dumps(result)
    print(line)
    if args.out:
        Path(args.out).write_text(line + "\n")


if __name__ == "__main__":
    main()
