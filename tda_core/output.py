"""JSON documents of the command line (shared/DESIGN.md, "Command line"), from analysis results."""

from __future__ import annotations

import time
from typing import Any

from .analysis import Analysis, Attribution
from .attribution import Ranking
from .stats import RELIABILITY_METHOD, reliability_verdict


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
    }


def errors_json(analysis: Analysis, started: float | None = None) -> dict[str, Any]:
    report = analysis.errors
    doc = {
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


def attribution_json(analysis: Analysis, result: Attribution, started: float) -> dict[str, Any]:
    data = analysis.data
    ranking_rows = result.ranking.records()
    if result.unit == "sample":
        for row in ranking_rows:
            result.ranking.subject.identify(data, row)
    estimates = result.ranking.estimates if isinstance(result.ranking, Ranking) else None
    doc = {
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
        doc |= similar_json(analysis, result)
    doc["timing"] = timing_json(analysis, started)
    return doc


def growth_json(growth) -> dict[str, Any]:
    """What a growing ensemble (``--ensemble auto``, :class:`tda_core.ensemble_growth.Growth`) adds to
    an attribution's JSON: the reliability after each step, why it stopped and, stopped at the
    budget, the alternatives with their measured reliabilities."""
    return growth.to_json()


def similar_json(analysis: Analysis, result: Attribution) -> dict[str, Any]:
    """The training samples nearest the chosen errors, with their effects from the ranking."""
    from .exceptions import ModelError
    from .similar import similar_samples

    # Beside a ranking of pool samples (add), the nearest pool samples; else the nearest training samples.
    ranking = result.ranking
    if not isinstance(ranking, Ranking):  # called for unit "sample" only
        raise RuntimeError("similar samples go beside a ranking of single samples, not of candidate groups")
    try:
        similar = similar_samples(analysis, result.group.test_indices, ranking=ranking, among=ranking.subject)
    except ModelError:  # a model without a representation: nothing to be similar in
        return {"similar": None, "similar_vs_influential_spearman": None}
    rows = similar.records()
    for row in rows:
        ranking.subject.identify(analysis.data, row)
    return {"similar": rows, "similar_vs_influential_spearman": similar.spearman}
