"""Acting on the training set: the corrected training data and a manifest of what changed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .actions import UPWEIGHT_FACTOR, Action, get_action
from .attribution import Baseline
from .data.dataset import Dataset
from .exceptions import UsageError


def check_indices(data: Dataset, indices: Sequence[int]) -> tuple[int, ...]:
    idx = tuple(sorted({int(i) for i in indices}))
    if not idx:
        raise UsageError("give at least one training index")
    bad = [i for i in idx if not 0 <= i < data.n_train]
    if bad:
        raise UsageError(f"training indices {bad} are out of range: the training set has rows 0..{data.n_train - 1}")
    return idx


def corrected_training_set(
    data: Dataset, baseline: Baseline | None, action: str | Action, indices: Sequence[int], reason: str = ""
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The training set with the action applied, and a JSON-ready manifest.

    Tabular rows keep their original id (``row_id``); images are listed by file. Removal drops
    rows, relabelling changes the target, upweighting sets ``sample_weight`` to 10.
    """
    action = get_action(action)
    idx = check_indices(data, indices)
    if action.needs_targets and baseline is None:
        raise UsageError(f"{action.name} needs the baseline ensemble to choose the new labels")
    edit = action.edit(idx, None if baseline is None else baseline.relabel_targets)
    if data.kind == "tabular":
        table = data.X_train.copy()
    else:
        table = pd.DataFrame({"file": data.train_ids})
    table.insert(0, "row_id", data.train_ids if data.kind == "tabular" else np.arange(data.n_train))
    labels = np.array(data.classes, dtype=object)[data.y_train]
    changes = []
    weight = np.ones(data.n_train)
    for pos, i in enumerate(idx):
        change: dict[str, Any] = {"train_index": i, "row_id": data.train_id(i), "label": str(labels[i])}
        if action.needs_targets:
            change["new_label"] = data.classes[edit.new_labels[pos]]
            labels[i] = change["new_label"]
        elif action.name == "upweight":
            weight[i] = UPWEIGHT_FACTOR
            change["weight"] = UPWEIGHT_FACTOR
        changes.append(change)
    table[data.target] = labels
    if action.name == "upweight":
        table["sample_weight"] = weight
    if action.name == "remove":
        table = table.drop(index=list(idx))
    manifest = {
        "dataset": data.name,
        "data_fingerprint": data.fingerprint,
        "action": action.name,
        "n_train_before": data.n_train,
        "n_train_after": len(table),
        "changes": changes,
        "reason": reason,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tool": "tda_core",
    }
    return table.reset_index(drop=True), manifest

