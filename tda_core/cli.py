"""The command line: ``python -m tda_core {demos,errors,attribute,apply}`` (see shared/DESIGN.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from .exceptions import TDAError, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one ``error:`` line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see python -m tda_core {self.prog.split()[-1]} --help)\n")
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
    g.add_argument("--test-size", type=float, default=0.2, help="test fraction for --data (0.2)")
    g.add_argument("--split-seed", type=int, default=0, help="seed of the --data split (0)")


def _add_model(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (default: the recipe for the data kind)")
    g.add_argument("--model", help=".skops estimator, or .safetensors/.pt weights with --arch")
    g.add_argument("--arch", help="architecture of PyTorch weights (small_cnn, mlp, resnet18)")
    g.add_argument("--recipe", default="default", help="named recipe: default, logistic-sgd, paper-sgd, logistic-lbfgs")
    g.add_argument("--trust-code", action="store_true", help="allow model files that run code when loaded (.pkl, .joblib, .py)")
    g.add_argument("--epochs", type=int, help="override the recipe's epochs")
    g.add_argument("--mode", choices=("full", "head"), default="full", help="networks: retrain all layers, or the last on frozen features")


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m tda_core", description="Which training data is behind a model's errors, by retraining.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("demos", help="list the embedded demos")
    errors = sub.add_parser("errors", help="test accuracy and the error groups of the baseline ensemble")
    attribute = sub.add_parser("attribute", help="rank training samples for an error group and measure the group effect")
    apply = sub.add_parser("apply", help="write the training set with an action applied, and a manifest")
    for p in (errors, attribute, apply):
        _add_data(p)
        _add_model(p)
        _add_run(p)
    for p in (errors, attribute):
        p.add_argument("--json", action="store_true", help="print one JSON document")
    attribute.add_argument("--group", required=True, help="error group TRUE:PRED, class names as in the data")
    attribute.add_argument("--tests", type=_int_list, help="only these test samples of the group (test row positions)")
    attribute.add_argument("--action", required=True, choices=("remove", "relabel", "upweight"))
    attribute.add_argument("--metric", required=True, choices=("loss", "gt_prob", "pred_prob"))
    attribute.add_argument("--size", type=int, required=True, help="group size K")
    attribute.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    apply.add_argument("--action", required=True, choices=("remove", "relabel", "upweight"))
    apply.add_argument("--indices", type=_int_list, required=True, help="training indices I,J,...")
    apply.add_argument("--out", required=True, help="output folder")
    apply.add_argument("--reason", default="", help="why, recorded in the manifest")
    return parser


def load_data(args: argparse.Namespace):
    from .data import load_tabular
    from .demos import load_demo

    given = [n for n in ("demo", "images", "data", "train") if getattr(args, n)]
    if len(given) != 1:
        raise UsageError("give exactly one data source: --demo NAME, --train/--test, --data, or --images")
    if args.demo:
        return load_demo(args.demo)
    if args.images:
        from .images import load_images

        return load_images(args.images)
    if not args.target:
        raise UsageError("tables need --target COLUMN")
    return load_tabular(args.target, train=args.train, test=args.test, data=args.data, test_size=args.test_size, split_seed=args.split_seed)


def load_recipe(args: argparse.Namespace, data):
    from .model_io import load_model
    from .recipes import named_recipe

    if args.epochs is not None and args.epochs < 1:
        raise UsageError("--epochs must be at least 1")
    if args.model:
        recipe = load_model(args.model, data, arch=args.arch, trust_code=args.trust_code, epochs=args.epochs, mode=args.mode)
    else:
        recipe = named_recipe(args.recipe, data, epochs=args.epochs, mode=args.mode)
    if hasattr(recipe, "with_options"):  # networks cache head-mode features beside the retrains
        recipe = recipe.with_options(cache_dir=args.cache_dir, cache=not args.no_cache)
    return recipe


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
    for cut in [i for i, ch in enumerate(text) if ch == ":"]:
        true, pred = text[:cut], text[cut + 1 :]
        if true in classes and pred in classes:
            return true, pred
    if ":" not in text:
        raise UsageError(f"--group must be TRUE:PRED (e.g. {classes[0]}:{classes[-1]}), not {text!r}")
    true, pred = text.split(":", 1)
    unknown = [c for c in (true, pred) if c not in classes]
    raise UsageError(f"unknown class {unknown[0]!r} in --group: the classes are {', '.join(classes)}")


def _print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    import pandas as pd

    print(pd.DataFrame(rows, columns=list(columns)).to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def cmd_demos(args: argparse.Namespace) -> int:
    from .demos import DEMOS

    for demo in DEMOS.values():
        print(f"{demo.name:10s} {demo.kind:8s} {demo.description}")
    return 0


def _analysis(args: argparse.Namespace, label: str):
    from .analysis import Analysis

    data = load_data(args)
    recipe = load_recipe(args, data)
    return Analysis(data, recipe, run_config(args), progress=ProgressPrinter(label))


def cmd_errors(args: argparse.Namespace) -> int:
    from .analysis import errors_json

    result = errors_json(_analysis(args, "baseline"))
    if args.json:
        print(json.dumps(result))
        return 0
    base = result["base"]
    print(f"{result['data']['n_train']} train / {result['data']['n_test']} test, model {result['model']['name']} x{result['model']['ensemble']}")
    print(f"test accuracy {base['accuracy_mean']:.3f} +- {base['accuracy_std']:.3f}")
    _print_table(result["groups"], ["true", "pred", "count"])
    return 0


def cmd_attribute(args: argparse.Namespace) -> int:
    from .analysis import attribution_json

    started = time.perf_counter()
    analysis = _analysis(args, f"{args.action} ranking")
    true, pred = _parse_group(args.group, analysis.data.classes)
    group = analysis.group(true, pred, args.tests)
    result = analysis.attribute(group, args.action, args.metric, args.size, args.alpha)
    doc = attribution_json(analysis, result, started)
    if args.json:
        print(json.dumps(doc))
        return 0
    print(f"group {group.label}: {group.count} test samples; action {args.action}, metric {args.metric}")
    print(f"baseline accuracy {doc['base']['accuracy_mean']:.3f} +- {doc['base']['accuracy_std']:.3f}")
    print("top of the ranking (retrained; * = selected):")
    top = [dict(r, sel="*" if r["train_index"] in result.selected else "") for r in doc["ranking"][: max(10, args.size)]]
    _print_table(top, ["sel", "train_index", "delta_mean", "delta_std", "p_value", "accuracy_delta_mean"])
    effect = doc["group_effect"]
    if effect is None:
        print(f"no training sample has a significant improving effect at alpha={args.alpha}")
    else:
        print(f"group effect of {args.action} on {len(effect['train_indices'])} samples: "
              f"{args.metric} delta {effect['delta_mean']:+.4f} +- {effect['delta_std']:.4f} (p={effect['p_value']:.3g}); "
              f"accuracy delta {effect['accuracy_delta_mean']:+.4f} +- {effect['accuracy_delta_std']:.4f}")
    if doc["estimates"]:
        est = doc["estimates"]
        print(f"candidate mode: {est['method']} estimates for all {len(est['values'])} samples, "
              f"{est['retrained']} retrained; Spearman(estimate, retrained) = {est['spearman']:.3f}")
    t = doc["timing"]
    print(f"{t['seconds']:.1f}s, {t['retrains']} models trained, {t['cache_hits']} from the cache")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from .attribution import compute_baseline
    from .engine import Engine
    from .fix import corrected_training_set

    data = load_data(args)
    baseline = None
    if args.action == "relabel":
        recipe = load_recipe(args, data)
        baseline = compute_baseline(Engine(run_config(args), ProgressPrinter("baseline")), data, recipe)
    table, manifest = corrected_training_set(data, baseline, args.action, args.indices, args.reason)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "train.csv", index=False)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    print(f"wrote {out / 'train.csv'} ({len(table)} rows) and {out / 'manifest.json'}")
    return 0


COMMANDS = {"demos": cmd_demos, "errors": cmd_errors, "attribute": cmd_attribute, "apply": cmd_apply}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except TDAError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except BrokenPipeError:  # output piped into head & co.
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted; finished retrains are cached, rerun to continue\n")
        return 130
