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
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from . import limits
from .actions import ACTIONS, TRAINING, subject_of
from .errors import SLICE
from .exceptions import BudgetError, TDAError, UsageError, describe, names, one_line
from .metrics import METRICS
from .recipes.registry import RECIPE_NAMES
from .writing import Guard, real_path, write_outputs

PROG = "python -m tda_core"


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one ``error:`` line and exit code 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The parser of each subcommand, by name (for errors in the words of one command).
        self.commands: Mapping[str, argparse.ArgumentParser] = {}

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix(PROG).strip()
        sys.stderr.write(f"error: {one_line(message)} (see {PROG}{' ' + command if command else ''} --help)\n")
        raise SystemExit(2)


def _int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


#: ``--ensemble auto``: grow the ensemble until the ranking holds (tda_core.ensemble_growth).
AUTO = "auto"


def _ensemble(text: str) -> int | str:
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of members or auto, got {text!r}") from None


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
    g.add_argument("--ensemble", type=_ensemble, default=3,
                   help="ensemble members (3); auto (attribute, report): start with 3 seeds and add seeds until the "
                        "ranking's reliability interval clears --target-reliability, or --max-ensemble is reached")
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


def build_parser() -> _Parser:
    parser = _Parser(prog=PROG, description="Which training data is behind a model's errors, by retraining.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    parser.commands = sub.choices
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
        g = p.add_argument_group("the error group (one of)")
        g.add_argument("--group", help="error group TRUE:PRED, class names as in the data (slice:ID for an error slice, "
                       "when no class is called slice)")
        g.add_argument("--true", dest="true_class", metavar="CLASS", help="the true class of the group (with --pred): "
                       "for class names that contain ':'")
        g.add_argument("--pred", dest="pred_class", metavar="CLASS", help="the predicted class of the group (with --true)")
        g.add_argument("--slice", dest="slice_id", metavar="ID", help="an error slice (errors --json lists them)")
        p.add_argument("--tests", type=_int_list, help="only these test samples of the group (test row positions, each once)")
        p.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    for p in (attribute, report):
        p.add_argument("--action", required=True, choices=tuple(ACTIONS))
        p.add_argument("--metric", required=True, choices=tuple(METRICS))
        p.add_argument("--size", type=int, required=True, help="group size K")
        p.add_argument("--unit", choices=("sample", "group"), default="sample",
                       help="rank single training samples, or candidate groups of --size samples")
        p.add_argument("--target-reliability", type=float, default=0.8,
                       help="with --ensemble auto: stop when the low end of the reliability interval reaches this (0.8)")
        p.add_argument("--max-ensemble", type=int, default=10,
                       help="with --ensemble auto: the most seeds (10); the memory budget (--max-memory) also bounds it")
    report.add_argument("--out", dest="html", required=True, help="the HTML file to write (e.g. triage.html); never an input")
    compare.add_argument("--metric", default="loss", choices=tuple(METRICS), help="the metric (loss)")
    compare.add_argument("--sizes", type=_int_list, default=[1, 5, 10], help="group sizes to compare (1,5,10)")
    apply.add_argument("--action", choices=tuple(ACTIONS), help="the action (with --indices)")
    apply.add_argument("--indices", type=_int_list, help="training indices I,J,... (with --action; pool indices for add)")
    apply.add_argument("--manifest", help="replay an exported manifest.json instead of --action/--indices")
    apply.add_argument("--out", required=True, help="output folder (receives train.csv and manifest.json); never holds an input")
    apply.add_argument("--reason", default="", help="why, recorded in the manifest")
    for p in (apply, report):
        p.add_argument("--force", action="store_true", help="replace outputs that exist (never an input)")
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
    from .exceptions import UntrustedFileError
    from .recipes.files import load_model
    from .recipes.registry import named_recipe, network_params

    checkpoints = args.members == "checkpoints"
    if args.model:
        params = network_params(args.epochs, args.mode, checkpoints, args.device)
        try:
            return load_model(args.model, data, arch=args.arch, trust_code=args.trust_code, network_params=params)
        except UntrustedFileError as exc:  # the engine's words are the dashboard's; here the way out is a flag
            message = str(exc).replace("say that you trust this file", "pass --trust-code if you trust this file")
            message = message.replace("say that you trust it", "pass --trust-code")
            raise UntrustedFileError(message if "--trust-code" in message else f"{message} (--trust-code)") from None
    device = args.device if data.kind == "images" else None
    return named_recipe(args.recipe, data, epochs=args.epochs, mode=args.mode, checkpoints=checkpoints, device=device, arch=args.arch)


def check_args(args: argparse.Namespace) -> None:
    """Argument checks that need no data, before anything is loaded or trained."""
    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs must be at least 1, not {args.epochs}")
    if args.epochs is not None and args.epochs > limits.MAX_EPOCHS:
        raise UsageError(f"--epochs can be at most {limits.MAX_EPOCHS:,}, not {args.epochs}")
    check_ensemble(args)
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
    if args.scheduler and args.backend != "dask":
        raise UsageError(f"--scheduler is the address of a Dask scheduler; add --backend dask to use it (not --backend {args.backend})")
    check_group_flags(args)
    tests = getattr(args, "tests", None) or []
    twice = sorted({t for t in tests if tests.count(t) > 1})
    if twice:
        raise UsageError(f"--tests lists test sample{'s' if len(twice) > 1 else ''} {', '.join(map(str, twice[:10]))} more than once; "
                         "give each test sample once (a repeated one would count twice)")
    guard = input_guard(args)
    if not args.no_cache:
        check_cache_dir(args.cache_dir, guard)
    check_outputs(args, guard)


def check_ensemble(args: argparse.Namespace) -> None:
    """``--ensemble`` a number in range, or auto where a ranking grows (with its own flags in range)."""
    if args.ensemble == AUTO:
        if not hasattr(args, "target_reliability"):
            raise UsageError(f"--ensemble auto grows the ensemble of a ranking: use it with attribute or report, or give "
                             f"{PROG} {args.command} a number of members")
        from .ensemble_growth import START_SEEDS, check_growth

        check_growth(args.target_reliability, args.max_ensemble)
        if args.max_ensemble > limits.MAX_ENSEMBLE:
            raise UsageError(f"--max-ensemble can be at most {limits.MAX_ENSEMBLE}, not {args.max_ensemble}")
        if args.candidates:
            raise UsageError("--ensemble auto grows an exact ranking; candidate mode (--candidates) takes a fixed --ensemble")
        args.start_ensemble = START_SEEDS
        return
    args.start_ensemble = args.ensemble
    if args.ensemble < 1:
        raise UsageError(f"--ensemble must be at least 1, not {args.ensemble}")
    if args.ensemble > limits.MAX_ENSEMBLE:
        raise UsageError(f"--ensemble can be at most {limits.MAX_ENSEMBLE}, not {args.ensemble}")


def check_group_flags(args: argparse.Namespace) -> None:
    """Exactly one way of naming the error group: --group, --true with --pred, or --slice."""
    if not hasattr(args, "group"):
        return
    if (args.true_class is None) != (args.pred_class is None):
        raise UsageError("--true and --pred go together: --true CLASS --pred CLASS")
    given = [flag for flag, value in (("--group", args.group), ("--true/--pred", args.true_class), ("--slice", args.slice_id))
             if value is not None]
    if len(given) != 1:
        raise UsageError("name the error group once: --group TRUE:PRED, --true CLASS --pred CLASS, or --slice ID"
                         + (f" (not {' and '.join(given)})" if given else ""))


def input_guard(args: argparse.Namespace) -> Guard:
    """The real paths of every input of the command, for the writer (tda_core.writing)."""
    from .cache import cache_dir

    inputs = {flag: getattr(args, name, None) for flag, name in (
        ("--train", "train"), ("--test", "test"), ("--data", "data"), ("--pool", "pool"), ("--images", "images"),
        ("--model", "model"), ("--manifest", "manifest"))}
    if not args.no_cache:
        inputs["--cache-dir"] = str(cache_dir(args.cache_dir))
    return Guard.of(inputs, force=getattr(args, "force", False), folders=("--cache-dir",))


def check_cache_dir(path: str | None, guard: Guard | None = None) -> None:
    """A cache folder that is a file, a symlink loop, an input, or cannot be written, is one line
    here (the cache itself would only stop caching). Nothing is created."""
    from .cache import cache_dir

    root = cache_dir(path)
    real = real_path(root, "the cache folder")  # a symlink loop is named as one
    if guard is not None:
        Guard(tuple(i for i in guard.inputs if i.flag != "--cache-dir")).check_not_input(real, "the cache folder", root)
    for folder in (real, *real.parents):
        if folder.exists():
            break
    if not folder.is_dir():
        raise UsageError(f"the cache folder {one_line(root, 200)} cannot be made: {one_line(folder, 200)} is a file "
                         "(give another folder with --cache-dir, or --no-cache)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"the cache folder {one_line(root, 200)} cannot be written (read-only); give another folder "
                         "with --cache-dir, or --no-cache")


#: What ``apply --out`` receives.
FIX_FILES = ("train.csv", "manifest.json")


def check_outputs(args: argparse.Namespace, guard: Guard) -> None:
    """Every file the command will write, checked by the writer before anything runs; the real
    paths to write are kept on ``args``."""
    if getattr(args, "html", None) is not None:
        html = str(args.html)
        if not html.strip() or Path(html).is_dir():
            raise UsageError(f"--out {one_line(html, 200)} must be a file name, such as triage.html")
        args.out_paths = (guard.file(html),)
    elif getattr(args, "out", None) is not None:
        if not str(args.out).strip():
            raise UsageError("--out needs a folder name (it receives train.csv and manifest.json)")
        if Path(args.out).is_file():
            raise UsageError(f"--out {one_line(args.out, 200)} is a file; give a folder (it receives train.csv and manifest.json)")
        args.out_paths = guard.folder(args.out, FIX_FILES)


def check_budget(args: argparse.Namespace, data, recipe, ranking: bool):
    """The memory budget (tda_core.limits) before anything is trained; the way out in flags."""
    from .cache import cache_dir

    try:
        return limits.check_budget(
            data, ensemble=args.start_ensemble, ranking=ranking, candidates=args.candidates,
            unit=getattr(args, "unit", "sample"), n_jobs=args.n_jobs, use_cache=not args.no_cache,
            cache_root=None if args.no_cache else cache_dir(args.cache_dir), chunk=recipe.chunk_for(data),
            max_memory=args.max_memory_bytes, network_bytes=limits.network_training_bytes(data, recipe),
            subject=subject_of(args.action) if getattr(args, "action", None) else TRAINING,
            cluster=args.backend in ("dask", "ray"),
        )
    except BudgetError as exc:
        raise BudgetError(budget_in_flags(str(exc))) from None


def budget_in_flags(message: str) -> str:
    """A budget refusal with its ways out named as this command line's flags (once: a message that
    names them already is left as it is)."""
    message = re.sub(r"raise the memory limit to at least ([\d.,]+ \w+)", r"raise the limit with --max-memory \1", message)
    for words, flag in (("use candidate mode", "--candidates N"), ("choose another cache folder", "--cache-dir DIR"),
                        ("run without the cache", "--no-cache")):
        if f"({flag})" not in message:
            message = message.replace(words, f"{words} ({flag})")
    return message


def run_config(args: argparse.Namespace):
    from .engine import RunConfig

    return RunConfig(
        ensemble=args.start_ensemble, seed=args.seed, n_jobs=args.n_jobs, backend=args.backend,
        scheduler=args.scheduler, cache_dir=args.cache_dir, use_cache=not args.no_cache, candidates=args.candidates,
        max_memory=args.max_memory_bytes,  # the analysis picks its ranking's plan within the same limit
    )


class ProgressPrinter:
    """Engine progress on stderr: a bar on a terminal, a line every few seconds otherwise."""

    def __init__(self, label: str):
        self.label = label
        self.tty = sys.stderr.isatty()
        self._last = time.monotonic()

    def __call__(self, progress) -> None:
        if progress.total <= 1:  # one step (a model, the design matrices): its start on a terminal, its end if slow
            finished = progress.done >= progress.total
            if (finished and progress.elapsed < 1.0) or (not finished and not self.tty):
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


def _readings(text: str, classes: Sequence[str]) -> list[tuple[str, str]]:
    """Every way of reading ``text`` as TRUE:PRED class names, or as slice:ID ("slice", ID) when no
    class is called slice."""
    readings = [(text[:cut], text[cut + 1 :]) for cut, ch in enumerate(text) if ch == ":"]
    found = [(t, p) for t, p in readings if t in classes and p in classes]
    if text.startswith(f"{SLICE}:") and SLICE not in classes:
        found.append((SLICE, text[len(SLICE) + 1 :]))
    return found


def _parse_group(text: str, classes: Sequence[str]) -> tuple[str, str]:
    """TRUE:PRED as class names, or slice:ID for an error slice; a text with more than one
    reading (class names that hold ':') is refused, naming each reading."""
    found = _readings(text, classes)
    if len(found) > 1:
        said = " or as ".join(f"the slice {printable(p)!r}" if t == SLICE and SLICE not in classes else
                              f"{printable(t)!r} -> {printable(p)!r}" for t, p in found)
        raise UsageError(f"--group {printable(text)!r} can be read as {said}; say which with --true CLASS --pred CLASS "
                         "(or --slice ID)")
    if found:
        true, pred = found[0]
        if true == SLICE and SLICE not in classes and not pred:
            raise UsageError("--group slice:ID needs a slice id (errors --json lists the slices), e.g. slice:tree-1")
        return true, pred
    if ":" not in text:
        raise UsageError(f"--group must be TRUE:PRED (e.g. {one_line(classes[0], 40)}:{one_line(classes[-1], 40)}), not {text!r}")
    true, pred = text.split(":", 1)
    unknown = [c for c in (true, pred) if c not in classes]
    raise UsageError(f"unknown class {unknown[0]!r} in --group: the classes are {names(classes)}")


def resolve_group(args: argparse.Namespace, analysis):
    """The error group of ``--group``, ``--true/--pred`` or ``--slice``, narrowed to ``--tests``:
    read before the baseline trains, found in its errors after."""
    classes = analysis.data.classes
    if args.slice_id is not None:
        return ("slice", args.slice_id)
    if args.true_class is not None:
        for name in (args.true_class, args.pred_class):
            analysis.data.class_index(name)  # unknown names in words
        return ("class", args.true_class, args.pred_class)
    true, pred = _parse_group(args.group, classes)
    return ("slice", pred) if true == SLICE and SLICE not in classes else ("class", true, pred)


def error_group(args: argparse.Namespace, analysis, request):
    """The group ``request`` (from :func:`resolve_group`) in the trained baseline's errors."""
    if request[0] == "slice":
        from .errors import slice_group
        from .slices import find_slice

        group = slice_group(request[1], find_slice(analysis.slices, request[1]).test_indices)
        return group.narrowed(args.tests) if args.tests else group
    return analysis.group(request[1], request[2], args.tests)


#: Actions whose edit of K rows could empty a class of K rows (relabel moves rows to other classes).
EMPTYING = ("remove", "relabel")


def check_edit_sizes(data, actions: Sequence[str], sizes: Sequence[int]) -> None:
    """Refuse, before training, a size whose edit could leave a class without training rows (and
    so, for two classes, a training set of one class)."""
    import numpy as np

    counts = np.bincount(np.asarray(data.y_train), minlength=data.n_classes)
    smallest = int(np.argmin(counts))
    acting = [a for a in actions if a in EMPTYING]
    too_big = [k for k in sizes if k >= counts[smallest]]
    if acting and too_big:
        raise UsageError(f"a group of {max(too_big):,} samples could {acting[0]} every training sample of class "
                         f"{printable(data.classes[smallest])!r} ({int(counts[smallest]):,} rows), leaving a training set "
                         f"without it; use a size of at most {int(counts[smallest]) - 1:,}")


#: Characters that change what a terminal shows (escapes, line breaks, bidirectional overrides).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def printable(text: Any) -> str:
    """``text`` with control characters written as escapes (ESC as \\x1b, a newline as \\n):
    names from the user's data cannot move the cursor, recolour or rewrite the terminal."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def say(text: str = "") -> None:
    """One line of text output, control characters escaped."""
    print(printable(text))


def _print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    import pandas as pd

    safe = [{k: printable(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows]
    print(pd.DataFrame(safe, columns=list(columns)).to_string(index=False, float_format=lambda v: f"{v:.4g}"))


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
    say(f"{result['data']['n_train']} train / {result['data']['n_test']} test, model {model['name']} ({kind})")
    say(f"test accuracy {base['accuracy']:.3f} ({base['n_errors']} errors of {result['data']['n_test']}; members "
        f"{base['accuracy_mean']:.3f} +- {base['accuracy_std']:.3f})")
    _print_table(result["groups"], ["true", "pred", "count"])
    if result["slices"]:
        say("error slices (attribute one with --slice ID):")
        for s in result["slices"]:
            say(f"  {s['id']}: {len(s['test_indices'])} errors in {s['size']} test rows (error rate {s['error_rate']:.2f}): "
                f"{s.get('rule') or s.get('description')}")
    return 0


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _attribution(args: argparse.Namespace):
    """The analysis, its attribution and the growth of its ensemble (None without ``--ensemble
    auto``) for the request of ``attribute`` and ``report``."""
    from .actions import get_action
    from .analysis import check_action

    analysis = _analysis(args, f"{args.action} ranking", ranking=True)
    check_action(analysis.data, get_action(args.action), args.unit)  # before the baseline trains
    request = resolve_group(args, analysis)
    check_edit_sizes(analysis.data, [args.action], [args.size])
    if args.ensemble == AUTO:
        return _grown(args, analysis, request)
    analysis.compute_baseline(ProgressPrinter("baseline"))
    group = error_group(args, analysis, request)
    return analysis, analysis.attribute(group, args.action, args.metric, args.size, args.alpha, unit=args.unit), None


def _grown(args: argparse.Namespace, analysis, request):
    """``--ensemble auto``: seeds added one at a time (each step said on stderr) until the ranking
    holds or the budget is spent (tda_core.ensemble_growth)."""
    from .ensemble_growth import EnsembleGrowth

    growth = EnsembleGrowth(analysis.data, analysis.recipe, analysis.config, request, args.action, args.metric, args.size,
                            args.alpha, args.unit, target=args.target_reliability, max_ensemble=args.max_ensemble,
                            tests=args.tests, progress=ProgressPrinter(f"{args.action} ranking"))
    try:
        for step in growth.steps():
            interval = step.reliability.interval
            shown = "n/a" if step.reliability.value is None else f"{step.reliability.value:.2f}"
            if interval is not None:
                shown += f" [{interval[0]:.2f}, {interval[1]:.2f}]"
            sys.stderr.write(f"ensemble of {step.members}: reliability {shown}, {step.retrains} models trained\n")
        result = growth.result()
    finally:
        growth.close()
    sys.stderr.write(f"stopped ({result.stopped}): {result.reason}\n")
    return result.analysis, result.attribution, result


def cmd_attribute(args: argparse.Namespace) -> int:
    from .output import attribution_json, growth_json

    started = time.perf_counter()
    analysis, result, growth = _attribution(args)
    doc = attribution_json(analysis, result, started)
    if growth is not None:
        doc |= growth_json(growth)
        doc["model"]["requested_ensemble"] = AUTO
        doc["timing"] |= {"retrains": growth.retrains, "cache_hits": growth.cache_hits}
    if args.json:
        print_json(doc)
        return 0
    say(f"group {result.group.label}: {result.group.count} test samples; action {args.action}, metric {args.metric}, unit {args.unit}")
    say(f"baseline accuracy {doc['base']['accuracy']:.3f} (members {doc['base']['accuracy_mean']:.3f} "
        f"+- {doc['base']['accuracy_std']:.3f})")
    reliability, interval = doc["reliability"], doc["reliability_interval"]
    shown = "n/a" if reliability is None else f"{reliability:.2f}"
    if interval is not None:
        shown += f", a rerun between {interval[0]:.2f} and {interval[1]:.2f}"
    say(f"reliability of the ranking: {shown} ({doc['reliability_verdict']})")
    if growth is not None:
        steps = ", ".join(f"{s['members']}: {_number(s['reliability'])}" for s in doc["growth"])
        say(f"ensemble grown to {doc['model']['ensemble']} members (reliability by members {steps}); "
            f"stopped at the {doc['growth_stopped']}: {doc['growth_reason']}")
        for alt in doc["alternatives"]:
            measured = "not measured" if alt["reliability"] is None else f"reliability {_number(alt['reliability'])}"
            say(f"instead: {alt['advice']} ({measured})")
    for warning in doc["warnings"]:
        say(f"warning: {warning}")
    say("top of the ranking (retrained; * = selected):")
    chosen = set(result.selected)
    if args.unit == "group":
        key = TRAINING.indices_key  # candidate groups are of training samples
        rows = [dict(r, sel="*" if set(r[key]) == chosen else "", n=len(r[key])) for r in doc["ranking"][:10]]
        _print_table(rows, ["sel", "group_id", "kind", "n", "delta_mean", "delta_std", "p_value", "accuracy_delta_mean"])
    else:
        key = result.ranking.subject.index_key
        rows = [dict(r, sel="*" if r[key] in chosen else "") for r in doc["ranking"][: max(10, args.size)]]
        _print_table(rows, ["sel", key, "delta_mean", "delta_std", "p_value", "accuracy_delta_mean"])
    effect = doc["group_effect"]
    if effect is None:
        say(f"nothing has a significant improving effect at alpha={args.alpha}")
    else:
        acted_on = result.effect.indices if result.effect is not None else ()
        say(f"group effect of {args.action} on {len(acted_on)} samples: "
              f"{args.metric} delta {effect['delta_mean']:+.4f} +- {effect['delta_std']:.4f} (p={_p(effect['p_value'])}); "
              f"accuracy delta {effect['accuracy_delta_mean']:+.4f} +- {effect['accuracy_delta_std']:.4f}; "
              f"errors fixed {effect['errors_fixed']}, new {effect['errors_new']}, net benefit {effect['net_benefit']:+d}")
    if doc["estimates"]:
        est = doc["estimates"]
        say(f"candidate mode: {est['method']} estimates for all {len(est['values'])} samples, "
              f"{est['retrained']} retrained; Spearman(estimate, retrained) = {est['spearman']:.3f}")
    t = doc["timing"]
    say(f"{t['seconds']:.1f}s, {t['retrains']} models trained, {t['cache_hits']} from the cache")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import check_sizes, compare
    from .output import timing_json

    sizes = check_sizes(args.sizes)
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha must lie between 0 and 1, not {args.alpha}")
    started = time.perf_counter()
    analysis = _analysis(args, "ranking", ranking=True)
    request = resolve_group(args, analysis)
    check_edit_sizes(analysis.data, list(ACTIONS), sizes)
    analysis.compute_baseline(ProgressPrinter("baseline"))
    group = error_group(args, analysis, request)
    result = compare(analysis, group, args.metric, sizes, args.alpha)
    doc = result.to_json() | {"timing": timing_json(analysis, started)}
    if args.json:
        print_json(doc)
        return 0
    say(f"group {group.label}: {group.count} test samples; metric {args.metric}, sizes {','.join(map(str, sizes))}, alpha {args.alpha}")
    reliability = ", ".join(f"{a} {'n/a' if r is None else f'{r:.2f}'}" for a, r in doc["reliability"].items())
    say(f"reliability of the rankings: {reliability}")
    best = doc["best"]
    rows = [
        dict(s, best="*" if best and (s["action"], s["size"]) == (best["action"], best["size"]) else "",
             n=len(setting.indices), p_value=_p(s["p_value"]))
        for s, setting in zip(doc["settings"], result.settings)
    ]
    _print_table(rows, ["best", "action", "size", "n", "delta_mean", "delta_std", "p_value", "errors_fixed", "errors_new",
                        "net_benefit", "accuracy_delta_mean", "accuracy_delta_std"])
    for s in doc["settings"]:
        if s.get("note"):
            say(f"note: {s['action']} size {s['size']}: {s['note']}")
    if best:
        say(f"best: {best['action']} on {best['size']} (highest net benefit; ties by accuracy delta, then improvement)")
    t = doc["timing"]
    say(f"{t['seconds']:.1f}s, {t['retrains']} models trained, {t['cache_hits']} from the cache")
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
    order = input_columns(args)
    if args.manifest is not None:
        from .fix import read_manifest, replay_manifest

        table, manifest = replay_manifest(data, read_manifest(manifest_text), column_order=order)
        if args.reason:
            manifest["reason"] = args.reason
        return _write_fix(args, table, manifest)
    baseline = None
    if get_action(args.action).needs_targets:
        _check_binary_relabel(data, args.indices)  # before the baseline trains, where the new labels are known
        recipe = load_recipe(args, data)
        check_budget(args, data, recipe, ranking=False)
        baseline = Analysis(data, recipe, config, ProgressPrinter("baseline")).baseline
    table, manifest = corrected_training_set(data, baseline, args.action, args.indices, args.reason, column_order=order)
    return _write_fix(args, table, manifest)


def _check_binary_relabel(data, indices: Sequence[int]) -> None:
    """With two classes a relabel's new labels are the other class: an edit that leaves one class
    is refused before anything trains (tda_core.fix.check_kept)."""
    from .fix import check_indices, check_kept

    if data.n_classes != 2:
        return
    y, weight = data.y_fit.copy(), data.fit_weights()
    idx = list(check_indices(data, indices))
    y[idx] = 1 - y[idx]
    check_kept(data, y, weight)


def input_columns(args: argparse.Namespace) -> list[str] | None:
    """The column names of the input table, in its order (the export keeps it); None for demos,
    images, or a header that cannot be read (the export then puts the target last)."""
    path = args.train or args.data
    if not path:
        return None
    try:
        if Path(path).suffix.lower() == ".csv":
            import pandas as pd

            try:
                return [str(c) for c in pd.read_csv(path, nrows=0).columns]
            except UnicodeDecodeError:
                return [str(c) for c in pd.read_csv(path, nrows=0, encoding="latin-1").columns]
        import pyarrow.parquet as pq

        return [str(c) for c in pq.read_schema(path).names]
    except Exception:  # read once already; a header that fails here only loses the order
        return None


def _read_manifest_file(path: str) -> bytes:
    """The manifest's bytes, refused in words when it is missing, a folder or implausibly large."""
    from .manifest import MAX_MANIFEST_BYTES

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
    train, manifest_path = args.out_paths  # checked by the writer before anything ran
    write_outputs({train: table.to_csv(index=False), manifest_path: json.dumps(finite(manifest), indent=2, allow_nan=False)})
    out = Path(args.out)
    say(f"wrote {out / 'train.csv'} ({len(table)} rows) and {out / 'manifest.json'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import build_report

    started = time.perf_counter()
    analysis, result, _ = _attribution(args)  # checks --out first (check_args)
    page = build_report(analysis, result, started)
    write_outputs({args.out_paths[0]: page})
    say(f"wrote {args.html} ({len(page.encode()) / 1024:.0f} KB): {result.group.label}, {args.action} / {args.metric}, "
        f"{len(result.selected)} selected")
    return 0


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
        with quiet_warnings():
            return COMMANDS[args.command](args)
    except BudgetError as exc:  # also those an analysis raises once the baseline's errors are known
        return _fail(budget_in_flags(str(exc)))
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


@contextmanager
def quiet_warnings() -> Iterator[None]:
    """No Python warning reaches stderr (libraries speak in their own words; what the user must
    know is in the output's warnings): ignored here and in worker processes started meanwhile.
    ``TDA_DEBUG=1`` shows them."""
    if os.environ.get("TDA_DEBUG"):
        yield
        return
    before = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = "ignore"  # read by the workers loky and Dask start
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        if before is None:
            os.environ.pop("PYTHONWARNINGS", None)
        else:
            os.environ["PYTHONWARNINGS"] = before


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {printable(one_line(message))}\n")
    return 2
