"""JSON documents of the command line (shared/DESIGN.md, "Command line"), from analysis results.

One writer per document: :func:`errors_json` (``errors --json``), :func:`attribution_json`
(``attribute --json``, and the data of the HTML report), :func:`compare_json` (``compare
--json``); :func:`json_text` turns any of them, or a manifest, into strict JSON text.
"""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the command line imports this module before it loads any engine module
    from ._analysis import Analysis, Attribution
    from ._compare import Comparison
    from ._ensemble_growth import Growth
    from ._similar import SimilarSamples


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


def json_text(doc: dict[str, Any], indent: int | None = None) -> str:
    """A document as strict JSON text (no NaN)."""
    return json.dumps(finite(doc), indent=indent, allow_nan=False)


def model_json(analysis: Analysis) -> dict[str, Any]:
    baseline = analysis.baseline
    return {
        "name": analysis.recipe.display_name,
        "ensemble": len(baseline.members),
        "requested_ensemble": analysis.config.ensemble,
        "independent_runs": baseline.independent_runs,
        "deterministic": baseline.deterministic,
    }


def base_json(analysis: Analysis) -> dict[str, Any]:
    report = analysis.errors
    # "accuracy" is the ensemble's mean prediction's, the one the error counts use (1 - errors / n);
    # "accuracy_mean" the mean of the members' own, with their spread.
    return {"accuracy": report.accuracy, "n_errors": report.n_errors, "accuracy_mean": report.accuracy_mean,
            "accuracy_std": report.accuracy_std}


def timing_json(analysis: Analysis, started: float) -> dict[str, Any]:
    return {
        "seconds": time.perf_counter() - started,
        "retrains": analysis.engine.stats.retrains,
        "cache_hits": analysis.engine.stats.cache_hits,
        "workers": analysis.engine.stats.workers,
    }


def errors_json(analysis: Analysis, started: float | None = None) -> dict[str, Any]:
    report = analysis.errors
    doc: dict[str, Any] = {
        "data": analysis.data.summary(),
        "model": model_json(analysis),
        "base": base_json(analysis),
        "confusion": report.confusion.tolist(),
        "groups": [
            {"true": g.true, "pred": g.pred, "count": g.count, "test_indices": list(g.test_indices)} for g in report.groups
        ],
        "slices": [s.to_json() for s in analysis.slices],
    }
    if started is not None:
        doc["timing"] = timing_json(analysis, started)
    return doc


def attribution_json(analysis: Analysis, result: Attribution, started: float, growth: Growth | None = None,
                     similar: SimilarSamples | None = None) -> dict[str, Any]:
    """The ``attribute --json`` document; with ``growth`` (``--ensemble auto``), the reliability
    after each step, why it stopped and, stopped at the budget, the alternatives; beside a ranking
    of single samples, ``similar`` (:func:`tda_core.similar_to_errors`)."""
    from ._attribution import Ranking
    from ._stats import RELIABILITY_METHOD, reliability_verdict

    data = analysis.data
    ranking_rows = result.ranking.records()
    if result.unit == "sample":
        for row in ranking_rows:
            result.ranking.subject.identify(data, row)
    estimates = result.ranking.estimates if isinstance(result.ranking, Ranking) else None
    doc: dict[str, Any] = {
        "data": data.summary(),
        "model": model_json(analysis),
        "base": base_json(analysis),
        "group": {"true": result.group.true, "pred": result.group.pred, "test_indices": list(result.group.test_indices)},
        "action": result.ranking.action,
        "metric": result.ranking.metric,
        "unit": result.unit,
        "size": result.size,
        "alpha": result.alpha,
        "ranking": ranking_rows,
        "selected": list(result.selected),
        "group_effect": None if result.effect is None else result.effect.to_json(),
        "reliability": result.reliability,
        "reliability_interval": None if result.reliability_interval is None else list(result.reliability_interval),
        "reliability_method": RELIABILITY_METHOD,
        "reliability_verdict": reliability_verdict(result.reliability, result.reliability_interval),
        "deterministic": result.deterministic,
        "warnings": list(result.warnings),
        "plan": analysis.plan,
        "estimates": None if estimates is None else {
            "method": estimates.method,
            "candidates": analysis.config.candidates,
            "retrained": len(estimates.retrained),
            "spearman": estimates.spearman,
            "values": estimates.records(result.ranking.subject),
        },
    }
    if result.unit == "sample":
        doc |= similar_json(analysis, similar)
    doc["timing"] = timing_json(analysis, started)
    if growth is not None:
        doc |= growth.to_json()
        doc["model"]["requested_ensemble"] = "auto"
        doc["timing"] |= {"retrains": growth.retrains, "cache_hits": growth.cache_hits}
    return doc


def compare_json(analysis: Analysis, result: Comparison, started: float) -> dict[str, Any]:
    """The ``compare --json`` document: every action at each size, the best, and the timing."""
    return result.to_json() | {"timing": timing_json(analysis, started)}


def similar_json(analysis: Analysis, similar: SimilarSamples | None) -> dict[str, Any]:
    """The samples nearest the chosen errors, with their effects from the ranking (None: a model
    without a representation)."""
    if similar is None:
        return {"similar": None, "similar_vs_influential_spearman": None}
    rows = similar.records()
    for row in rows:
        similar.subject.identify(analysis.data, row)
    return {"similar": rows, "similar_vs_influential_spearman": similar.spearman}
