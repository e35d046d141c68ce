"""The command line: ``python -m tda_core {demos,errors,attribute,apply,compare,report}`` (see shared/DESIGN.md).

Arguments are checked here, before anything is trained; the engine then speaks in the user's
words, and every error ends as one ``error:`` line with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import limits
from .actions import ACTIONS
from .exceptions import BudgetError, TDAError, UsageError, describe, names, one_line
from .metrics import METRICS
from .recipes.registry import RECIPE_NAMES

PROG = "python -m tda_core"


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one ``error:`` line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix(PROG).strip()
        sys.stderr.write(f"error: {one_line(message)} (see {PROG}{' ' + command if command else ''} --help)\n")
        raise SystemExit(2)


def _int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _add_data(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data (one of)")
    g.add_argument("--demo", help="an embedded demo (python -m tda_core demos)")
    g.add_argument("--train", help="training table (.csv or .parquet)")
    g.add_argument("--test", help="test table (.csv or .parquet)")
    g.add_argument("--data", help="one table to split into train and test")
    g.add_argument("--images", help="image folder or .zip with train/<class>/ and test/<class>/")
    g.add_argument("--target", help="target column of a table")
    g.add_argument("--pool", help="samples that the add action may add: a table with the target column, or an image folder "
                   "or .zip laid out as <class>/* (an --images archive may hold pool/<class>/* instead; demos have their own)")
    g.add_argument("--test-size", type=float, default=0.2, help="test fraction for --data (0.2)")
    g.add_argument("--split-seed", type=int, default=0, help="seed of the --data split (0)")


def _add_model(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (default: the recipe for the data kind)")
    g.add_argument("--model", help=".skops estimator, or .safetensors/.pt weights with --arch")
    g.add_argument("--arch", help="network architecture: of the PyTorch weights given with --model, or of the default "
                   "image recipe (resnet18, resnet34, resnet50, mobilenet_v3_small, efficientnet_b0: torchvision's, "
                   "224x224 RGB; small_cnn, mlp, resnet18_small: 28x28)")
    g.add_argument("--image-size", type=int, help="images: the side in pixels the network sees "
                   "(default: the architecture's, 224 for torchvision's classifiers, 28 for the small networks)")
    g.add_argument("--recipe", default="default", choices=RECIPE_NAMES, help="named recipe (default: the one for the data kind)")
    g.add_argument("--trust-code", action="store_true", help="allow model files that run code when loaded (.pkl, .joblib, .py)")
    g.add_argument("--epochs", type=int, help="override the recipe's epochs")
    g.add_argument("--mode", choices=("full", "head"), default="full", help="networks: retrain all layers, or the last on frozen features")
    g.add_argument("--members", choices=("seeds", "checkpoints"), default="seeds",
                   help="networks: members are independent seeds (default), or the last three epochs of one run "
                        "(the study's scheme; p-values then average them per run)")


def _add_run(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run")
    g.add_argument("--ensemble", type=int, default=3, help="ensemble members (3)")
    g.add_argument("--seed", type=int, default=0, help="first seed (0)")
    g.add_argument("--n-jobs", type=int, default=1, help="parallel workers (1; -1 for all cores)")
    g.add_argument("--backend", default="loky", help="joblib backend: loky, threading, dask, ray")
    g.add_argument("--scheduler", help="dask scheduler address, e.g. tcp://10.0.0.5:8786")
    g.add_argument("--cache-dir", help="cache folder (default $TDA_CACHE_DIR or ./cache)")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    g.add_argument("--candidates", type=int, help="estimate every sample, retrain only the top N (plus a random check)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="networks: where to train and extract features (auto: the GPU when torch sees one)")
    g.add_argument("--max-memory", default="4G",
                   help="refuse a run whose large arrays would need more memory than this, before it starts (4G)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Which training data is behind a model's errors, by retraining.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    parser.commands = sub.choices  # type: ignore[attr-defined]  # for errors in the words of one command
    sub.add_parser("demos", help="list the embedded demos")
    errors = sub.add_parser("errors", help="test accuracy and the error groups of the baseline ensemble")
    attribute = sub.add_parser("attribute", help="rank training samples for an error group and measure the group effect")
    apply = sub.add_parser("apply", help="write the training set with an action applied, and a manifest")
    report = sub.add_parser("report", help="write a self-contained HTML triage report of an attribution (opens offline)")
    compare = sub.add_parser("compare", help="measure every action at each group size side by side, and name the best")
    for p in (errors, attribute, apply, report, compare):
        _add_data(p)
        _add_model(p)
        _add_run(p)
    for p in (errors, attribute, compare):
        p.add_argument("--json", action="store_true", help="print one JSON document")
    for p in (attribute, report, compare):
        p.add_argument("--group", required=True, help="error group TRUE:PRED, class names as in the data")
        p.add_argument("--tests", type=_int_list, help="only these test samples of the group (test row positions)")
        p.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    for p in (attribute, report):
        p.add_argument("--action", required=True, choices=tuple(ACTIONS))
        p.add_argument("--metric", required=True, choices=tuple(METRICS))
        p.add_argument("--size", type=int, required=True, help="group size K")
        p.add_argument("--unit", choices=("sample", "group"), default="sample",
                       help="rank single training samples, or candidate groups of --size samples")
    report.add_argument("--out", dest="html", required=True, help="the HTML file to write (e.g. triage.html)")
    compare.add_argument("--metric", default="loss", choices=tuple(METRICS), help="the metric (loss)")
    compare.add_argument("--sizes", type=_int_list, default=[1, 5, 10], help="group sizes to compare (1,5,10)")
    apply.add_argument("--action", choices=tuple(ACTIONS), help="the action (with --indices)")
    apply.add_argument("--indices", type=_int_list, help="training indices I,J,... (with --action; pool indices for add)")
    apply.add_argument("--manifest", help="replay an exported manifest.json instead of --action/--indices")
    apply.add_argument("--out", required=True, help="output folder")
    apply.add_argument("--reason", default="", help="why, recorded in the manifest")
    return parser


def load_data(args: argparse.Namespace):
    """The data of the request, with the pool of ``--pool`` where given."""
    data = _load_data(args)
    if getattr(args, "pool", None):
        from .data.pools import attach_pool
        from .recipes.torch.networks import image_input  # imports no torch

        prepared = image_input(args.arch, args.image_size) if data.kind == "images" else None
        data = attach_pool(data, args.pool, image_input=prepared)
    return data


def _load_data(args: argparse.Namespace):
    from .data import load_demo, load_tabular

    given = [n for n in ("demo", "images", "data", "train") if getattr(args, n)]
    if len(given) != 1:
        raise UsageError("give exactly one data source: --demo NAME, --train/--test, --data, or --images")
    from .data.demos import DEMOS

    image_demo = bool(args.demo) and args.demo in DEMOS and DEMOS[args.demo].kind == "images"
    if args.image_size is not None and not (args.images or image_demo):
        raise UsageError("--image-size applies to images (--images or an image demo)")
    if args.demo or args.images:
        from .recipes.torch.networks import image_input  # imports no torch

        prepared = image_input(args.arch, args.image_size)  # a bad size is one DataError line
        if args.demo:
            return load_demo(args.demo, image_input=prepared)  # tabular demos ignore it
        from .data.images import load_images

        return load_images(args.images, image_input=prepared)
    if not args.target:
        raise UsageError("tables need --target COLUMN")
    return load_tabular(args.target, train=args.train, test=args.test, data=args.data, test_size=args.test_size, split_seed=args.split_seed)


def load_recipe(args: argparse.Namespace, data):
    from .recipes.files import load_model
    from .recipes.registry import named_recipe, network_params

    checkpoints = args.members == "checkpoints"
    if args.model:
        params = network_params(args.epochs, args.mode, checkpoints, args.device)
        return load_model(args.model, data, arch=args.arch, trust_code=args.trust_code, network_params=params)
    device = args.device if data.kind == "images" else None
    return named_recipe(args.recipe, data, epochs=args.epochs, mode=args.mode, checkpoints=checkpoints, device=device, arch=args.arch)


def check_args(args: argparse.Namespace) -> None:
    """Argument checks that need no data, before anything is loaded or trained."""
    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs must be at least 1, not {args.epochs}")
    if args.epochs is not None and args.epochs > limits.MAX_EPOCHS:
        raise UsageError(f"--epochs can be at most {limits.MAX_EPOCHS:,}, not {args.epochs}")
    if args.ensemble < 1:
        raise UsageError(f"--ensemble must be at least 1, not {args.ensemble}")
    if args.ensemble > limits.MAX_ENSEMBLE:
        raise UsageError(f"--ensemble can be at most {limits.MAX_ENSEMBLE}, not {args.ensemble}")
    if not 0 <= args.seed <= limits.MAX_SEED:
        raise UsageError(f"--seed must lie between 0 and {limits.MAX_SEED}, not {args.seed}")
    if not 0 <= args.split_seed < 2**32:
        raise UsageError(f"--split-seed must lie between 0 and {2**32 - 1}, not {args.split_seed}")
    if args.n_jobs != -1 and not 1 <= args.n_jobs <= limits.cores():
        raise UsageError(f"--n-jobs must lie between 1 and the {limits.cores()} cores of this machine, or be -1 for all of them, not {args.n_jobs}")
    if args.candidates is not None and not 1 <= args.candidates <= limits.MAX_CANDIDATES:
        raise UsageError(f"--candidates must lie between 1 and {limits.MAX_CANDIDATES:,}, not {args.candidates}")
    args.max_memory_bytes = limits.parse_size(args.max_memory)
    if getattr(args, "size", None) is not None:
        if args.size < 1:
            raise UsageError(f"--size must be at least 1, not {args.size}")
        if not 0 < args.alpha < 1:
            raise UsageError(f"--alpha must lie between 0 and 1, not {args.alpha}")
    if not args.no_cache:
        check_cache_dir(args.cache_dir)
    if getattr(args, "out", None) is not None:
        check_out_dir(args)


def check_cache_dir(path: str | None) -> None:
    """A cache folder that is a file, or cannot be written, is one line here (the cache itself
    would only stop caching). Nothing is created."""
    from .cache import cache_dir

    root = cache_dir(path)
    for folder in (root, *root.absolute().parents):
        if folder.exists() or folder.is_symlink():
            break
    if not folder.is_dir():
        raise UsageError(f"the cache folder {one_line(root, 200)} cannot be made: {one_line(folder, 200)} is a file "
                         "(give another folder with --cache-dir, or --no-cache)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"the cache folder {one_line(root, 200)} cannot be written (read-only); give another folder "
                         "with --cache-dir, or --no-cache")


def check_out_dir(args: argparse.Namespace) -> None:
    """--out is a folder that can be made, and writing it never overwrites an input table."""
    if not str(args.out).strip():
        raise UsageError("--out needs a folder name (it receives train.csv and manifest.json)")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {one_line(out, 200)} is a file; give a folder (it receives train.csv and manifest.json)")
    written = {(out / "train.csv").absolute(), (out / "manifest.json").absolute()}
    for source in (args.train, args.test, args.data):
        if source and Path(source).absolute() in written:
            raise UsageError(f"--out {one_line(out, 200)} would overwrite the input {one_line(source, 200)}; give another folder")


def check_budget(args: argparse.Namespace, data, recipe, ranking: bool):
    """The memory budget (tda_core.limits) before anything is trained; the way out in flags."""
    from .cache import cache_dir

    try:
        return limits.check_budget(
            data, ensemble=args.ensemble, ranking=ranking, candidates=args.candidates,
            unit=getattr(args, "unit", "sample"), n_jobs=args.n_jobs, use_cache=not args.no_cache,
            cache_root=None if args.no_cache else cache_dir(args.cache_dir), chunk=getattr(recipe, "chunk_size", 16),
            max_memory=args.max_memory_bytes,
        )
    except BudgetError as exc:
        message = re.sub(r"raise the memory limit to at least ([\d.,]+ \w+)", r"raise the limit with --max-memory \1", str(exc))
        for words, flag in (("use candidate mode", "--candidates N"), ("choose another cache folder", "--cache-dir DIR"),
                            ("run without the cache", "--no-cache")):
            message = message.replace(words, f"{words} ({flag})")
        raise BudgetError(message) from None


def run_config(args: argparse.Namespace):
    from .engine import RunConfig

    return RunConfig(
        ensemble=args.ensemble, seed=args.seed, n_jobs=args.n_jobs, backend=args.backend,
        scheduler=args.scheduler, cache_dir=args.cache_dir, use_cache=not args.no_cache, candidates=args.candidates,
    )


class ProgressPrinter:
    """Engine progress on stderr: a bar on a terminal, a line every few seconds otherwise."""

    def __init__(self, label: str):
        self.label = label
        self.tty = sys.stderr.isatty()
        self._last = time.monotonic()

    def __call__(self, progress) -> None:
        if progress.total <= 1:
            return
        now = time.monotonic()
        finished = progress.done >= progress.total
        if self.tty:
            width = 30
            filled = int(width * progress.fraction)
            sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {progress.describe()}  ")
            if finished:
                sys.stderr.write("\n")
        elif finished or now - self._last >= 5.0:
            sys.stderr.write(f"{self.label}: {progress.describe()}\n")
        self._last = now
        sys.stderr.flush()


def _parse_group(text: str, classes: Sequence[str]) -> tuple[str, str]:
    """TRUE:PRED as class names, or slice:ID for an error slice (``errors --json`` lists them)."""
    if text.startswith("slice:") and "slice" not in classes:
        slice_id = text[len("slice:"):]
        if not slice_id:
            raise UsageError("--group slice:ID needs a slice id (errors --json lists the slices), e.g. slice:tree-1")
        return "slice", slice_id
    for cut in [i for i, ch in enumerate(text) if ch == ":"]:
        true, pred = text[:cut], text[cut + 1 :]
        if true in classes and pred in classes:
            return true, pred
    if ":" not in text:
        raise UsageError(f"--group must be TRUE:PRED (e.g. {one_line(classes[0], 40)}:{one_line(classes[-1], 40)}), not {text!r}")
    true, pred = text.split(":", 1)
    unknown = [c for c in (true, pred) if c not in classes]
    raise UsageError(f"unknown class {unknown[0]!r} in --group: the classes are {names(classes)}")


def _print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    import pandas as pd

    print(pd.DataFrame(rows, columns=list(columns)).to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def cmd_demos(args: argparse.Namespace) -> int:
    from .data.demos import DEMOS

    for demo in DEMOS.values():
        print(f"{demo.name:10s} {demo.kind:8s} {demo.description}")
    return 0


def _analysis(args: argparse.Namespace, label: str, ranking: bool = False):
    from .analysis import Analysis

    check_args(args)
    config = run_config(args)
    data = load_data(args)
    recipe = load_recipe(args, data)
    check_budget(args, data, recipe, ranking)
    return Analysis(data, recipe, config, progress=ProgressPrinter(label))


def finite(value: Any) -> Any:
    """A JSON-ready value with NaN and infinities as null: ``NaN`` is not JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalars
        return finite(value.item())
    return value


def print_json(doc: dict[str, Any]) -> None:
    print(json.dumps(finite(doc), allow_nan=False))


def cmd_errors(args: argparse.Namespace) -> int:
    from .output import errors_json

    started = time.perf_counter()
    result = errors_json(_analysis(args, "baseline"), started)
    if args.json:
        print_json(result)
        return 0
    base = result["base"]
    model = result["model"]
    kind = "deterministic, trained once" if model["deterministic"] else f"x{model['ensemble']}"
    print(f"{result['data']['n_train']} train / {result['data']['n_test']} test, model {model['name']} ({kind})")
    print(f"test accuracy {base['accuracy_mean']:.3f} +- {base['accuracy_std']:.3f}")
    _print_table(result["groups"], ["true", "pred", "count"])
    if result["slices"]:
        print("error slices (attribute one with --group slice:ID):")
        for s in result["slices"]:
            print(f"  {s['id']}: {len(s['test_indices'])} errors in {s['size']} test rows (error rate {s['error_rate']:.2f}): "
                  f"{s.get('rule') or s.get('description')}")
    return 0


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _attribution(args: argparse.Namespace):
    """The analysis and its attribution for the request of ``attribute`` and ``report``."""
    from .actions import get_action
    from .analysis import check_action

    analysis = _analysis(args, f"{args.action} ranking", ranking=True)
    check_action(analysis.data, get_action(args.action), args.unit)  # before the baseline trains
    true, pred = _parse_group(args.group, analysis.data.classes)
    analysis.compute_baseline(ProgressPrinter("baseline"))
    group = analysis.group(true, pred, args.tests)
    return analysis, analysis.attribute(group, args.action, args.metric, args.size, args.alpha, unit=args.unit)


def cmd_attribute(args: argparse.Namespace) -> int:
    from .output import attribution_json

    started = time.perf_counter()
    analysis, result = _attribution(args)
    doc = attribution_json(analysis, result, started)
    if args.json:
        print_json(doc)
        return 0
    print(f"group {result.group.label}: {result.group.count} test samples; action {args.action}, metric {args.metric}, unit {args.unit}")
    print(f"baseline accuracy {doc['base']['accuracy_mean']:.3f} +- {doc['base']['accuracy_std']:.3f}")
    reliability = doc["reliability"]
    print(f"reliability of the ranking: {'n/a' if reliability is None else f'{reliability:.2f}'} ({doc['reliability_verdict']})")
    for warning in doc["warnings"]:
        print(f"warning: {warning}")
    print("top of the ranking (retrained; * = selected):")
    chosen = set(result.selected)
    if args.unit == "group":
        rows = [dict(r, sel="*" if set(r["train_indices"]) == chosen else "", n=len(r["train_indices"])) for r in doc["ranking"][:10]]
        _print_table(rows, ["sel", "group_id", "kind", "n", "delta_mean", "delta_std", "p_value", "accuracy_delta_mean"])
    else:
        key = result.ranking.index_name
        rows = [dict(r, sel="*" if r[key] in chosen else "") for r in doc["ranking"][: max(10, args.size)]]
        _print_table(rows, ["sel", key, "delta_mean", "delta_std", "p_value", "accuracy_delta_mean"])
    effect = doc["group_effect"]
    if effect is None:
        print(f"nothing has a significant improving effect at alpha={args.alpha}")
    else:
        acted_on = effect.get("train_indices", effect.get("pool_indices", []))
        print(f"group effect of {args.action} on {len(acted_on)} samples: "
              f"{args.metric} delta {effect['delta_mean']:+.4f} +- {effect['delta_std']:.4f} (p={_p(effect['p_value'])}); "
              f"accuracy delta {effect['accuracy_delta_mean']:+.4f} +- {effect['accuracy_delta_std']:.4f}; "
              f"errors fixed {effect['errors_fixed']}, new {effect['errors_new']}, net benefit {effect['net_benefit']:+d}")
    if doc["estimates"]:
        est = doc["estimates"]
        print(f"candidate mode: {est['method']} estimates for all {len(est['values'])} samples, "
              f"{est['retrained']} retrained; Spearman(estimate, retrained) = {est['spearman']:.3f}")
    t = doc["timing"]
    print(f"{t['seconds']:.1f}s, {t['retrains']} models trained, {t['cache_hits']} from the cache")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import check_sizes, compare
    from .output import timing_json

    sizes = check_sizes(args.sizes)
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha must lie between 0 and 1, not {args.alpha}")
    started = time.perf_counter()
    analysis = _analysis(args, "ranking", ranking=True)
    true, pred = _parse_group(args.group, analysis.data.classes)
    analysis.compute_baseline(ProgressPrinter("baseline"))
    group = analysis.group(true, pred, args.tests)
    result = compare(analysis, group, args.metric, sizes, args.alpha)
    doc = result.to_json() | {"timing": timing_json(analysis, started)}
    if args.json:
        print_json(doc)
        return 0
    print(f"group {group.label}: {group.count} test samples; metric {args.metric}, sizes {','.join(map(str, sizes))}, alpha {args.alpha}")
    reliability = ", ".join(f"{a} {'n/a' if r is None else f'{r:.2f}'}" for a, r in doc["reliability"].items())
    print(f"reliability of the rankings: {reliability}")
    best = doc["best"]
    rows = [
        dict(s, best="*" if best and (s["action"], s["size"]) == (best["action"], best["size"]) else "",
             n=len(s.get("train_indices", s.get("pool_indices", []))), p_value=_p(s["p_value"]))
        for s in doc["settings"]
    ]
    _print_table(rows, ["best", "action", "size", "n", "delta_mean", "delta_std", "p_value", "errors_fixed", "errors_new",
                        "net_benefit", "accuracy_delta_mean", "accuracy_delta_std"])
    for s in doc["settings"]:
        if s.get("note"):
            print(f"note: {s['action']} size {s['size']}: {s['note']}")
    if best:
        print(f"best: {best['action']} on {best['size']} (highest net benefit; ties by accuracy delta, then improvement)")
    t = doc["timing"]
    print(f"{t['seconds']:.1f}s, {t['retrains']} models trained, {t['cache_hits']} from the cache")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from .actions import get_action
    from .analysis import Analysis
    from .fix import corrected_training_set

    if args.manifest is not None and (args.action or args.indices):
        raise UsageError("give either --manifest or --action with --indices, not both")
    if args.manifest is None and not (args.action and args.indices):
        raise UsageError("apply needs --action and --indices, or --manifest FILE")
    check_args(args)
    if args.manifest is not None:
        manifest_text = _read_manifest_file(args.manifest)
    config = run_config(args)
    data = load_data(args)
    if args.manifest is not None:
        from .fix import read_manifest, replay_manifest

        table, manifest = replay_manifest(data, read_manifest(manifest_text))
        if args.reason:
            manifest["reason"] = args.reason
        return _write_fix(args, table, manifest)
    baseline = None
    if get_action(args.action).needs_targets:
        recipe = load_recipe(args, data)
        check_budget(args, data, recipe, ranking=False)
        baseline = Analysis(data, recipe, config, ProgressPrinter("baseline")).baseline
    table, manifest = corrected_training_set(data, baseline, args.action, args.indices, args.reason)
    return _write_fix(args, table, manifest)


#: The largest manifest read: one change per row of a very large training set stays far below it.
MAX_MANIFEST_BYTES = 64 * 2**20


def _read_manifest_file(path: str) -> bytes:
    """The manifest's bytes, refused in words when it is missing, a folder or implausibly large."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--manifest {one_line(path, 200)} is not a file")
    if file.stat().st_size > MAX_MANIFEST_BYTES:
        raise UsageError(f"--manifest {one_line(path, 200)} is larger than {MAX_MANIFEST_BYTES // 2**20} MB; it is not an exported manifest")
    try:
        return file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read --manifest {one_line(path, 200)} ({describe(exc)})") from None


def _write_fix(args: argparse.Namespace, table, manifest: dict[str, Any]) -> int:
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_atomically(out / "train.csv", table.to_csv(index=False))
        _write_atomically(out / "manifest.json", json.dumps(finite(manifest), indent=2, allow_nan=False))
    except OSError as exc:
        raise UsageError(f"cannot write to --out {one_line(out, 200)} ({describe(exc)})") from None
    print(f"wrote {out / 'train.csv'} ({len(table)} rows) and {out / 'manifest.json'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import build_report

    html_path = Path(args.html)
    if not str(args.html).strip() or html_path.is_dir():
        raise UsageError(f"--out {one_line(args.html, 200)} must be a file name, such as triage.html")
    if any(source and Path(source).absolute() == html_path.absolute() for source in (args.train, args.test, args.data, args.model)):
        raise UsageError(f"--out {one_line(args.html, 200)} would overwrite an input; give another file name")
    started = time.perf_counter()
    analysis, result = _attribution(args)
    page = build_report(analysis, result, started)
    try:
        if html_path.parent != Path(""):
            html_path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(html_path, page)
    except OSError as exc:
        raise UsageError(f"cannot write --out {one_line(html_path, 200)} ({describe(exc)})") from None
    print(f"wrote {html_path} ({len(page.encode()) / 1024:.0f} KB): {result.group.label}, {args.action} / {args.metric}, "
          f"{len(result.selected)} selected")
    return 0


def _write_atomically(path: Path, text: str) -> None:
    """Write a temporary file beside ``path`` and rename it: a failed write leaves the old file whole."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


COMMANDS = {"demos": cmd_demos, "errors": cmd_errors, "attribute": cmd_attribute, "apply": cmd_apply, "report": cmd_report,
            "compare": cmd_compare}


def main(argv: Sequence[str] | None = None) -> int:
    """Every failure ends as one ``error:`` line on stderr and exit code 2 (130 when interrupted);
    set ``TDA_DEBUG=1`` to see the traceback of an unexpected one."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said by the command's own parser, so the hint names the command
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return COMMANDS[args.command](args)
    except TDAError as exc:
        return _fail(str(exc))
    except BrokenPipeError:  # output piped into head & co.
        return 0
    except KeyboardInterrupt:
        resume = "" if getattr(args, "no_cache", True) else "; finished retrains are cached, rerun to continue"
        sys.stderr.write(f"error: interrupted{resume}\n")
        return 130
    except MemoryError:
        if os.environ.get("TDA_DEBUG"):
            raise
        return _fail("out of memory: use fewer rows, candidate mode (--candidates N) or fewer parallel jobs")
    except Exception as exc:  # a bug or an unforeseen input: still one line, the traceback on request
        if os.environ.get("TDA_DEBUG"):
            raise
        if type(exc).__name__ == "TerminatedWorkerError":  # loky: a worker was killed (often by the kernel, out of memory)
            return _fail("a parallel worker process died (killed, or out of memory): use fewer parallel jobs (--n-jobs) or fewer rows")
        if isinstance(exc, OSError):
            return _fail(f"{describe(exc)}")
        return _fail(f"unexpected {describe(exc)} (rerun with TDA_DEBUG=1 for the traceback)")


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {one_line(message)}\n")
    return 2
