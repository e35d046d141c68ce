"""Benchmark: head-mode attribution with a standard torchvision ResNet-18 at 224x224.

The study's image scenario: a ResNet-18 fine-tuned elsewhere, uploaded as a state dict, and
its last layer retrained here for every removed training image. The weights are
``torchvision.models.resnet18(num_classes=10)`` built locally with random initialisation and
saved as ``.safetensors`` (nothing is downloaded; pretrained weights cost exactly the same time).
The data are 10 classes of synthetic colour photos (``--source-size`` pixels, JPEG, hue and
noise), ``--n-train`` training and ``--n-test`` test pictures, loaded for resnet18 (224x224 RGB,
ImageNet mean/std) through ``load_images``. Measured in one process:

  load images             decoding and resizing every picture to 224x224
  load_model              reading the state dict, checking it against resnet18
  features, one seed      the cold feature extraction of one member (the engine's start unit):
                          the backbone over every training and test picture, on the device
  attribution, cold       ``Analysis(...).attribute(group, "remove", "loss")`` for the largest
                          error group from an empty cache, 3 seeds: the starts (features once per
                          member; uploaded weights make them seed-independent, so they are
                          extracted once), the baseline heads, then one stacked head per removed
                          image and seed
  attribution, warm       the same request in a new Analysis, from that cache
  naive                   the fair baseline in the same process: features extracted for each of
                          the 3 seeds, then one head per removed image trained alone
                          (``--naive-samples`` images, scaled)
  full fine-tuning        (``--full-models N``, for a GPU) N models of the whole ResNet-18 trained
                          one at a time on the unedited data (``--epochs``), seconds per model,
                          scaled to the 3-seed baseline and to a full ranking

Torch runs on ``--threads`` threads (the recipe's parameter, default 1) and on ``--device``.
Prints a table and one JSON line.

    python bench/bench_resnet_head.py [--n-train 300] [--n-test 100] [--threads 1] [--device auto]
                                      [--naive-samples 10] [--full-models 0] [--epochs 5]
"""

from __future__ import annotations

import argparse
import colorsys
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file

from tda_core import Analysis, Edit, RunConfig
from tda_core.data._images import load_images
from tda_core.recipes._files import load_model
from tda_core.recipes.torch._networks import image_input, network_input_shape
from tda_core.recipes.torch._recipe import TorchRecipe
from tda_core.recipes.torch._training import deterministic, fit_network

ENSEMBLE = 3
CLASSES = 10


def write_photos(root: Path, n_train: int, n_test: int, size: int, seed: int = 0) -> Path:
    """``CLASSES`` hues with noise and a random bright square, as JPEG files in the ImageFolder
    layout; every fifth test picture has the next class's hue (errors to attribute)."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", n_train), ("test", n_test)):
        for i in range(count):
            c = i % CLASSES
            hue = (c + (split == "test" and i % 5 == 0)) / CLASSES
            rgb = np.array(colorsys.hsv_to_rgb(hue % 1.0, 0.7, 0.8)) * 255
            pixels = rgb + rng.normal(0, 40, size=(size, size, 3))
            x, y = rng.integers(0, size // 2, size=2)
            pixels[y : y + size // 3, x : x + size // 3] += 60
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(folder / f"{i:04d}.jpg", quality=90)
    return root


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=300)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--source-size", type=int, default=256, help="side of the synthetic JPEG photos")
    parser.add_argument("--image-size", type=int, default=None, help="the network's input (default: resnet18's 224)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the recipe's threads)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--head-epochs", type=int, default=50)
    parser.add_argument("--naive-samples", type=int, default=10, help="removals the naive row trains, scaled")
    parser.add_argument("--full-models", type=int, default=0, help="full fine-tuning models to time (GPU: 3 or more)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the full fine-tuning row")
    args = parser.parse_args()
    rows: list[tuple[str, float, str]] = []
    result: dict = {"bench": "resnet_head", "n_train": args.n_train, "n_test": args.n_test, "threads": args.threads}

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        write_photos(tmp_path / "photos", args.n_train, args.n_test, args.source_size)
        load_s, data = timed(lambda: load_images(tmp_path / "photos", image_input=image_input("resnet18", args.image_size)))
        torch.manual_seed(0)
        save_file(torchvision.models.resnet18(weights=None, num_classes=CLASSES).state_dict(), str(tmp_path / "resnet18.safetensors"))
        params = {"mode": "head", "threads": args.threads, "device": args.device, "head_epochs": args.head_epochs}
        model_s, recipe = timed(lambda: load_model(tmp_path / "resnet18.safetensors", data, arch="resnet18", network_params=params))
        assert isinstance(recipe, TorchRecipe)
        device = recipe.torch_device
        size = data.X_train.shape[-1]
        rows += [
            (f"load images ({data.n_train + data.n_test} pictures, {size}x{size})", load_s, data.description),
            ("load_model (resnet18 .safetensors)", model_s, f"device {device}"),
        ]

        # The cold feature extraction of one member, alone (the start unit, not through the cache).
        features_s, start = timed(lambda: TorchRecipe(**recipe.get_params()).fit_start(data, 0))
        rows.append(("features, one seed (cold start unit)", features_s, f"{start['F_train'].shape[1]} features"))

        cache = str(tmp_path / "cache")
        config = RunConfig(ensemble=ENSEMBLE, cache_dir=cache)

        def attribution() -> tuple[Analysis, object]:
            analysis = Analysis(data, recipe, config)
            group = analysis.errors.groups[0]
            return analysis, analysis.attribute(group, "remove", "loss", size=10)

        from tda_core.recipes.torch import _recipe as recipe_module

        recipe_module._SEEDLESS_STARTS.clear()  # cold: nothing in memory from the row above
        cold_s, (cold, cold_result) = timed(attribution)
        warm_s, (warm, _) = timed(attribution)
        group = cold.errors.groups[0]
        rows += [
            ("attribution, cold cache, 3 seeds", cold_s,
             f"group {group.true}->{group.pred} ({len(group.test_indices)} tests), "
             f"{cold.engine.stats.retrains} heads, {len(cold_result.selected)} selected"),
            ("attribution, warm cache", warm_s, f"{warm.engine.stats.retrains} models trained"),
        ]

        # Naive: features per seed, then one head per removal alone (scaled).
        naive = min(args.naive_samples, data.n_train)
        fresh = TorchRecipe(**recipe.get_params())

        def extract_per_seed() -> dict[int, dict[str, np.ndarray]]:
            starts = {}
            for s in range(ENSEMBLE):
                recipe_module._SEEDLESS_STARTS.clear()  # naive: no reuse between seeds
                starts[s] = fresh.fit_start(data, s)
            return starts

        naive_extract_s, starts = timed(extract_per_seed)
        naive_heads_s, _ = timed(lambda: [
            fresh.fit_predict(data, [Edit("remove", (i,))], s, start=starts[s]) for s in range(ENSEMBLE) for i in range(naive)
        ])
        naive_s = naive_extract_s + naive_heads_s * data.n_train / naive
        rows.append(("naive: 3 extractions + one head at a time (scaled)", naive_s,
                     f"{data.n_train * ENSEMBLE} heads; extractions {naive_extract_s:.1f} s"))
        result |= {
            "image_size": int(size),
            "device": str(device),
            "torch_device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
            "load_images_s": round(load_s, 2),
            "load_model_s": round(model_s, 2),
            "features_one_seed_s": round(features_s, 2),
            "attribution_cold_s": round(cold_s, 2),
            "attribution_warm_s": round(warm_s, 2),
            "attribution_cold_retrains": cold.engine.stats.retrains,
            "naive_s": round(naive_s, 1),
            "naive_over_cold": round(naive_s / cold_s, 1),
            "baseline_accuracy": round(float((cold.baseline.proba_test.mean(0).argmax(-1) == data.y_test).mean()), 3),
            "head_epochs": args.head_epochs,
            "naive_samples": naive,
        }

        if args.full_models:
            full = TorchRecipe("resnet18", epochs=args.epochs, device=args.device, threads=args.threads)
            X = torch.from_numpy(data.X_train).to(device)
            y = torch.from_numpy(data.y_train).to(device)

            def train(seed: int) -> None:
                model = full.build(data.n_classes, network_input_shape(data), seed).to(device)
                with deterministic(args.threads, device):
                    fit_network(model, X, y, torch.ones(len(y), device=device), X[:0], seed, full._optimisation, ())
                if device.type == "cuda":
                    torch.cuda.synchronize()

            train(99)  # warm-up: kernels, allocator
            full_s, _ = timed(lambda: [train(s) for s in range(args.full_models)])
            per_model = full_s / args.full_models
            rows += [
                (f"full fine-tuning, {args.epochs} epochs, per model", per_model, f"{args.full_models} models timed"),
                ("full fine-tuning, 3-seed baseline", per_model * ENSEMBLE, "3 models"),
                ("full fine-tuning, full ranking (scaled)", per_model * ENSEMBLE * (data.n_train + 1), f"{ENSEMBLE * (data.n_train + 1)} models"),
            ]
            result |= {"full_epochs": args.epochs, "full_per_model_s": round(per_model, 2),
                       "full_ranking_scaled_s": round(per_model * ENSEMBLE * (data.n_train + 1), 0)}

    print(f"resnet18 (torchvision, uploaded weights), head mode, {data.n_train} train / {data.n_test} test, "
          f"{size}x{size}, members: 3 seeds, device {result['device']} ({result['torch_device_name']}), torch threads {args.threads}")
    print(f"{'run':56s} {'seconds':>9s}  notes")
    for name, seconds, note in rows:
        print(f"{name:56s} {seconds:9.2f}  {note}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
