"""The parsed flags read into the engine's objects (data, recipe, run configuration, request, error
group), and the checks only the command line can make: flag combinations, the cache folder and
the output paths. Numbers (ensemble, seeds, jobs, size, alpha) are checked by the engine's
:class:`~tda_core._engine.RunConfig` and :class:`~tda_core._request.Request` as they are built.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .. import limits
from .._actions import TRAINING, subject_of
from .._errors import SLICE
from .._exceptions import UsageError, names, one_line
from .._writing import Guard, real_path
from ._parser import AUTO, PROG
from ._text import printable

if TYPE_CHECKING:
    from .._request import Request


def load_data(args: argparse.Namespace):
    """The data of the request, with the pool of ``--pool`` where given."""
    data = _load_data(args)
    if getattr(args, "pool", None):
        from ..data._pools import attach_pool
        from ..recipes.torch._networks import image_input  # imports no torch

        prepared = image_input(args.arch, args.image_size) if data.kind == "images" else None
        data = attach_pool(data, args.pool, image_input=prepared)
    return data


def _load_data(args: argparse.Namespace):
    from ..data import load_demo, load_tabular

    given = [n for n in ("demo", "images", "data", "train") if getattr(args, n)]
    if len(given) != 1:
        raise UsageError("give exactly one data source: --demo NAME, --train/--test, --data, or --images")
    from ..data._demos import DEMOS

    image_demo = bool(args.demo) and args.demo in DEMOS and DEMOS[args.demo].kind == "images"
    if args.image_size is not None and not (args.images or image_demo):
        raise UsageError("--image-size applies to images (--images or an image demo)")
    if args.demo or args.images:
        from ..recipes.torch._networks import image_input  # imports no torch

        prepared = image_input(args.arch, args.image_size)  # a bad size is one DataError line
        if args.demo:
            return load_demo(args.demo, image_input=prepared)  # tabular demos ignore it
        from ..data._images import load_images

        return load_images(args.images, image_input=prepared)
    if not args.target:
        raise UsageError("tables need --target COLUMN")
    return load_tabular(args.target, train=args.train, test=args.test, data=args.data, test_size=args.test_size, split_seed=args.split_seed)


def load_recipe(args: argparse.Namespace, data):
    from ..recipes._files import load_model
    from ..recipes._registry import named_recipe, network_params

    checkpoints = args.members == "checkpoints"
    if args.model:
        params = network_params(args.epochs, args.mode, checkpoints, args.device)
        return load_model(args.model, data, arch=args.arch, trust_code=args.trust_code, network_params=params)
    device = args.device if data.kind == "images" else None
    return named_recipe(args.recipe, data, epochs=args.epochs, mode=args.mode, checkpoints=checkpoints, device=device, arch=args.arch)


def check_args(args: argparse.Namespace) -> None:
    """What only the command line can check (flag combinations, repeated tests, the cache folder,
    the outputs), and the run's numbers through :func:`run_config`, before anything is loaded."""
    check_ensemble(args)
    if not 0 <= args.split_seed < 2**32:
        raise UsageError(f"--split-seed must lie between 0 and {2**32 - 1}, not {args.split_seed}")
    args.max_memory_bytes = limits.parse_size(args.max_memory)
    # The engine's own checks (RunConfig makes the same call), before anything is loaded.
    limits.check_run_numbers(ensemble=args.start_ensemble, seed=args.seed, n_jobs=args.n_jobs, candidates=args.candidates,
                             epochs=args.epochs)
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


def request_of(args: argparse.Namespace) -> Request:
    """The attribution request of ``attribute`` and ``report`` (checked as it is made)."""
    from .._request import Request

    return Request.of(args.action, args.metric, args.size, args.alpha, args.unit)


def check_ensemble(args: argparse.Namespace) -> None:
    """``--ensemble`` a number in range, or auto where a ranking grows (with its own flags in range)."""
    if args.ensemble == AUTO:
        if not hasattr(args, "target_reliability"):
            raise UsageError(f"--ensemble auto grows the ensemble of a ranking: use it with attribute or report, or give "
                             f"{PROG} {args.command} a number of members")
        from .._ensemble_growth import START_SEEDS, check_growth

        check_growth(args.target_reliability, args.max_ensemble)
        if args.max_ensemble > limits.MAX_ENSEMBLE:
            raise UsageError(f"--max-ensemble can be at most {limits.MAX_ENSEMBLE}, not {args.max_ensemble}")
        if args.candidates:
            raise UsageError("--ensemble auto grows an exact ranking; candidate mode (--candidates) takes a fixed --ensemble")
        args.start_ensemble = START_SEEDS
        return
    args.start_ensemble = args.ensemble


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
    """The real paths of every input of the command, for the writer (tda_core._writing)."""
    from .._cache import cache_dir

    inputs = {flag: getattr(args, name, None) for flag, name in (
        ("--train", "train"), ("--test", "test"), ("--data", "data"), ("--pool", "pool"), ("--images", "images"),
        ("--model", "model"), ("--manifest", "manifest"))}
    if not args.no_cache:
        inputs["--cache-dir"] = str(cache_dir(args.cache_dir))
    return Guard.of(inputs, force=getattr(args, "force", False), folders=("--cache-dir",))


def check_cache_dir(path: str | None, guard: Guard | None = None) -> None:
    """A cache folder that is a file, a symlink loop, an input, or cannot be written, is one line
    here (the cache itself would only stop caching). Nothing is created."""
    from .._cache import cache_dir

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


def check_budget(args: argparse.Namespace, data, recipe, config, ranking: bool):
    """The memory budget of the run ``config`` (tda_core.limits) before anything is trained."""
    subject = subject_of(args.action) if getattr(args, "action", None) else TRAINING
    return limits.check_run(data, recipe, config, ranking=ranking, unit=getattr(args, "unit", "sample"), subject=subject)


def run_config(args: argparse.Namespace):
    from .._engine import RunConfig

    return RunConfig(
        ensemble=args.start_ensemble, seed=args.seed, n_jobs=args.n_jobs, backend=args.backend,
        scheduler=args.scheduler, cache_dir=args.cache_dir, use_cache=not args.no_cache, candidates=args.candidates,
        max_memory=args.max_memory_bytes,  # the analysis picks its ranking's plan within the same limit
    )


def _readings(text: str, classes: Sequence[str]) -> list[tuple[str, str]]:
    """Every way of reading ``text`` as TRUE:PRED class names, or as slice:ID ("slice", ID) when no
    class is called slice."""
    readings = [(text[:cut], text[cut + 1 :]) for cut, ch in enumerate(text) if ch == ":"]
    found = [(t, p) for t, p in readings if t in classes and p in classes]
    if text.startswith(f"{SLICE}:") and SLICE not in classes:
        found.append((SLICE, text[len(SLICE) + 1 :]))
    return found


def parse_group(text: str, classes: Sequence[str]) -> tuple[str, str]:
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
    true, pred = parse_group(args.group, classes)
    return ("slice", pred) if true == SLICE and SLICE not in classes else ("class", true, pred)


def error_group(args: argparse.Namespace, analysis, request):
    """The group ``request`` (from :func:`resolve_group`) in the trained baseline's errors."""
    if request[0] == "slice":
        from .._errors import slice_group
        from .._slices import find_slice

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


def check_binary_relabel(data, indices: Sequence[int]) -> None:
    """With two classes a relabel's new labels are the other class: an edit that leaves one class
    is refused before anything trains (tda_core._fix.check_kept)."""
    from .._fix import check_indices, check_kept

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


def read_manifest_file(path: str) -> bytes:
    """The manifest's bytes, refused in words when it is missing, a folder or implausibly large."""
    from .._manifest import MAX_MANIFEST_BYTES

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--manifest {one_line(path, 200)} is not a file")
    if file.stat().st_size > MAX_MANIFEST_BYTES:
        raise UsageError(f"--manifest {one_line(path, 200)} is larger than {MAX_MANIFEST_BYTES // 2**20} MB; it is not an exported manifest")
    try:
        return file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read --manifest {one_line(path, 200)}: {exc.strerror or 'the system refused'}") from exc
