"""One function per subcommand: load, analyse, then print the JSON document or its text form."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from .._actions import ACTIONS
from .._exceptions import UsageError
from .._output import json_text
from .._writing import write_outputs
from ._arguments import (
    check_args,
    check_binary_relabel,
    check_budget,
    check_edit_sizes,
    error_group,
    input_columns,
    load_data,
    load_recipe,
    read_manifest_file,
    request_of,
    resolve_group,
    run_config,
)
from ._parser import AUTO
from ._text import (
    ProgressPrinter,
    growth_reason,
    print_attribution,
    print_comparison,
    print_errors,
    print_growth_step,
    print_json,
    say,
)


def cmd_demos(args: argparse.Namespace) -> int:
    from ..data._demos import DEMOS

    for demo in DEMOS.values():
        say(f"{demo.name:10s} {demo.kind:8s} {demo.description}")
    return 0


def _analysis(args: argparse.Namespace, label: str, ranking: bool = False):
    from .._analysis import Analysis

    check_args(args)
    config = run_config(args)
    data = load_data(args)
    recipe = load_recipe(args, data)
    check_budget(args, data, recipe, config, ranking)
    return Analysis(data, recipe, config, progress=ProgressPrinter(label))


def cmd_errors(args: argparse.Namespace) -> int:
    from .._output import errors_json

    started = time.perf_counter()
    doc = errors_json(_analysis(args, "baseline"), started)
    print_json(doc) if args.json else print_errors(doc)
    return 0


def _attribution(args: argparse.Namespace):
    """The analysis, its attribution and the growth of its ensemble (None without ``--ensemble
    auto``) for the request of ``attribute`` and ``report``."""
    from .._analysis import check_action

    request = request_of(args)  # the numbers, before anything is loaded
    analysis = _analysis(args, f"{args.action} ranking", ranking=True)
    check_action(analysis.data, request.action, request.unit)  # before the baseline trains
    named = resolve_group(args, analysis)
    check_edit_sizes(analysis.data, [args.action], [request.size])
    if args.ensemble == AUTO:
        return _grown(args, analysis, named, request)
    analysis.compute_baseline(ProgressPrinter("baseline"))
    group = error_group(args, analysis, named)
    return analysis, analysis.answer(group, request), None


def _grown(args: argparse.Namespace, analysis, named, request):
    """``--ensemble auto``: seeds added one at a time (each step said on stderr) until the ranking
    holds or the budget is spent (tda_core._ensemble_growth)."""
    from .._ensemble_growth import EnsembleGrowth

    growth = EnsembleGrowth(analysis.data, analysis.recipe, analysis.config, named, request.action.name, request.metric.name,
                            request.size, request.alpha, request.unit, target=args.target_reliability,
                            max_ensemble=args.max_ensemble, tests=args.tests, progress=ProgressPrinter(f"{args.action} ranking"))
    try:
        for step in growth.steps():
            print_growth_step(step)
        result = growth.result()
    finally:
        growth.close()
    sys.stderr.write(f"stopped ({result.stopped}): {growth_reason(result.reason, result.limit)}\n")
    return result.analysis, result.attribution, result


def cmd_attribute(args: argparse.Namespace) -> int:
    from .._output import attribution_json
    from .._similar import similar_to_errors

    started = time.perf_counter()
    analysis, result, growth = _attribution(args)
    doc = attribution_json(analysis, result, started, growth, similar_to_errors(analysis, result))
    print_json(doc) if args.json else print_attribution(doc, result)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .._compare import check_sizes, compare
    from .._output import compare_json
    from .._request import check_alpha

    sizes = check_sizes(args.sizes)
    alpha = check_alpha(args.alpha)
    started = time.perf_counter()
    analysis = _analysis(args, "ranking", ranking=True)
    named = resolve_group(args, analysis)
    check_edit_sizes(analysis.data, list(ACTIONS), sizes)
    analysis.compute_baseline(ProgressPrinter("baseline"))
    group = error_group(args, analysis, named)
    result = compare(analysis, group, args.metric, sizes, alpha)
    doc = compare_json(analysis, result, started)
    print_json(doc) if args.json else print_comparison(doc, result, group)
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from .._actions import get_action
    from .._analysis import Analysis
    from .._fix import corrected_training_set

    if args.manifest is not None and (args.action or args.indices):
        raise UsageError("give either --manifest or --action with --indices, not both")
    if args.manifest is None and not (args.action and args.indices):
        raise UsageError("apply needs --action and --indices, or --manifest FILE")
    check_args(args)
    if args.manifest is not None:
        manifest_text = read_manifest_file(args.manifest)
    config = run_config(args)
    data = load_data(args)
    order = input_columns(args)
    if args.manifest is not None:
        from .._fix import read_manifest, replay_manifest

        table, manifest = replay_manifest(data, read_manifest(manifest_text), column_order=order)
        if args.reason:
            manifest["reason"] = args.reason
        return _write_fix(args, table, manifest)
    baseline = None
    if get_action(args.action).needs_targets:
        check_binary_relabel(data, args.indices)  # before the baseline trains, where the new labels are known
        recipe = load_recipe(args, data)
        check_budget(args, data, recipe, config, ranking=False)
        baseline = Analysis(data, recipe, config, ProgressPrinter("baseline")).baseline
    table, manifest = corrected_training_set(data, baseline, args.action, args.indices, args.reason, column_order=order)
    return _write_fix(args, table, manifest)


def _write_fix(args: argparse.Namespace, table, manifest: dict[str, Any]) -> int:
    train, manifest_path = args.out_paths  # checked by the writer before anything ran
    write_outputs({train: table.to_csv(index=False), manifest_path: json_text(manifest, indent=2)})
    out = Path(args.out)
    say(f"wrote {out / 'train.csv'} ({len(table)} rows) and {out / 'manifest.json'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .._report import build_report

    started = time.perf_counter()
    analysis, result, _ = _attribution(args)  # checks --out first (check_args)
    page = build_report(analysis, result, started)
    write_outputs({args.out_paths[0]: page})
    say(f"wrote {args.html} ({len(page.encode()) / 1024:.0f} KB): {result.group.label}, {args.action} / {args.metric}, "
        f"{len(result.selected)} selected")
    return 0


COMMANDS = {"demos": cmd_demos, "errors": cmd_errors, "attribute": cmd_attribute, "apply": cmd_apply, "report": cmd_report,
            "compare": cmd_compare}
