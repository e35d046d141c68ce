"""The command line's parser: every subcommand and flag of ``python -m tda_core`` (shared/DESIGN.md,
"Command line"). Parsing only: reading the flags into the engine's objects is :mod:`.arguments`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from .._actions import ACTIONS
from .._exceptions import one_line
from .._metrics import METRICS
from ..limits import AUTO_JOBS
from ..recipes._registry import RECIPE_NAMES

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
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc


#: ``--ensemble auto``: grow the ensemble until the ranking holds (tda_core._ensemble_growth).
AUTO = "auto"


def _number_or_auto(auto: int | str, expected: str) -> Callable[[str], int | str]:
    """An argument type: an integer, or the word auto (given as ``auto``)."""

    def parse(text: str) -> int | str:
        if text.strip().lower() == AUTO:
            return auto
        try:
            return int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from exc

    return parse


#: ``--ensemble``: a number of members, or auto (grow until the ranking holds).
_ensemble = _number_or_auto(AUTO, "a number of members or auto")
#: ``--n-jobs``: a number of workers, -1 for every core, or auto (tda_core.limits.AUTO_JOBS).
_jobs = _number_or_auto(AUTO_JOBS, "a number of workers, -1 or auto")


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
    g.add_argument("--n-jobs", type=_jobs, default=AUTO, help="parallel workers: auto (the idle cores, for a "
                   "run long enough to gain, as far as --max-memory holds them), a number, or -1 for all cores")
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
