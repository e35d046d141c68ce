"""What the fix page exports and says before the user acts: file names from the dataset's stem,
the full table (training + test rows), the manifest's ``why``, and the guardrail warnings of a
group effect. Nothing here computes a result: the numbers are the engine's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tda_core import Attribution, Baseline, Effect, ErrorGroup, Ranking, edit_text
from tda_core.data import Dataset

from .tables import NO_CHANGE, signed


def stem(name: str) -> str:
    """'wine.csv' -> 'wine', 'digits' -> 'digits': the start of every exported file name."""
    return Path(name).stem or "dataset"


def full_table(data: Dataset, train: pd.DataFrame) -> pd.DataFrame:
    """The corrected training rows and the test rows as given, with a ``split`` column; for a split
    table, in the uploaded order (``row_id``)."""
    test = data.X_test.copy()
    test.insert(0, "row_id", data.test_ids)
    test[data.target] = np.array(data.classes, dtype=object)[data.y_test]
    both = pd.concat([train.assign(split="train"), test.assign(split="test")], ignore_index=True)
    if both["row_id"].is_unique and pd.api.types.is_numeric_dtype(both["row_id"]):
        both = both.sort_values("row_id", kind="stable")
    return both.reset_index(drop=True)


def _number(value: Any) -> float | None:
    value = None if value is None else float(value)
    return value if value is not None and np.isfinite(value) else None


def why(data: Dataset, baseline: Baseline, group: ErrorGroup, effect: Effect, ranking: Ranking | None,
        result: Attribution | None) -> dict[str, Any]:
    """The manifest's ``why``: the error group, action, metric, each sample's effect and p-value
    (from the single-sample ranking where it is in memory), the reliability and the accuracy before
    and after, with the group effect's errors fixed / new."""
    rows = {}
    if ranking is not None and ranking.action == effect.action and ranking.metric == effect.metric:
        rows = {int(i): k for k, i in enumerate(ranking.index)}
    samples = []
    for i in effect.indices:
        sample: dict[str, Any] = {effect.subject.index_key: int(i), "edit": edit_text(effect.action, data, baseline.relabel_targets, int(i))}
        k = rows.get(int(i))
        if k is not None:
            sample.update(improvement=float(ranking.improvement[k]), delta_mean=float(ranking.delta_mean[k]),
                          delta_std=_number(ranking.delta_std[k]), p_value=_number(ranking.p_value[k]),
                          accuracy_delta_mean=float(ranking.accuracy_delta_mean[k]))
        samples.append(sample)
    reliability = None
    if ranking is not None:
        reliability = ranking.reliability
    elif result is not None and result.ranking.action == effect.action and result.ranking.metric == effect.metric:
        reliability = result.reliability
    return {
        "error_group": {"true": group.true, "pred": group.pred, "test_indices": [int(t) for t in group.test_indices]},
        "action": effect.action,
        "metric": effect.metric,
        "deterministic": bool(effect.deterministic),
        "samples": samples,
        "reliability": _number(reliability),
        "group_effect": {
            "improvement": float(effect.improvement),
            "delta_mean": float(effect.delta_mean),
            "delta_std": _number(effect.delta_std),
            "p_value": _number(effect.p_value),
            "errors_fixed": int(effect.errors_fixed),
            "errors_new": int(effect.errors_new),
            "net_benefit": int(effect.net_benefit),
        },
        "accuracy_before": float(effect.accuracy_before),  # the ensemble's mean prediction, as shown
        "accuracy_after": float(effect.accuracy_after),
        "accuracy_delta_std": _number(effect.accuracy_delta_std),
    }


def guardrails(effect: Effect, metric_label: str) -> list[str]:
    """One plain sentence per way this edit could harm the model, in the engine's words."""
    notes = []
    if effect.improvement <= NO_CHANGE:
        notes.append(f"This edit does not move the {metric_label} of the chosen errors toward fixing them "
                     f"(improvement {signed(effect.improvement)}).")
    if effect.errors_new > 0:
        notes.append(f"Acting on the selected samples fixes {effect.errors_fixed} of the chosen errors but creates "
                     f"{effect.errors_new} new error{'s' if effect.errors_new != 1 else ''} elsewhere "
                     f"(net benefit {effect.net_benefit:+d}).")
    if effect.accuracy_change < -NO_CHANGE:
        notes.append(f"Acting on the selected samples lowers global test accuracy by {-effect.accuracy_change:.3f} "
                     f"({effect.accuracy_before:.3f} → {effect.accuracy_after:.3f}).")
    elif effect.accuracy_delta_mean < -NO_CHANGE:
        notes.append(f"Acting on the selected samples lowers the members' test accuracy by {-effect.accuracy_delta_mean:.3f} "
                     "on average, though the ensemble's mean prediction keeps its accuracy.")
    return notes
