"""Acting on the training set: the corrected training data and a manifest of what changed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .actions import Action, get_action
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


#: The export's own columns: each row's original id, and its weight when an action changed weights.
ROW_ID, SAMPLE_WEIGHT = "row_id", "sample_weight"


def free_name(wanted: str, taken: set[str]) -> str:
    """``wanted``, or when the user's table already has a column of that name, ``tda_<wanted>``
    (then ``tda_<wanted>_2``, ...): the export's own columns never overwrite the user's."""
    if wanted not in taken:
        return wanted
    name, k = f"tda_{wanted}", 2
    while name in taken:
        name, k = f"tda_{wanted}_{k}", k + 1
    return name


def corrected_training_set(
    data: Dataset,
    baseline: Baseline | None,
    action: str | Action,
    indices: Sequence[int],
    reason: str = "",
    context: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The training set with the action applied, and a JSON-ready manifest.

    The action's own edit decides every change (:meth:`tda_core.actions.Edit.apply`): rows whose
    weight became 0 are dropped, changed labels are written to the target column, and weights
    other than 1 go to a ``sample_weight`` column. Tabular rows keep their original id
    (``row_id``); images are listed by file. When the user's table has a column of either name
    (or its target is so named), the export's column is renamed (:func:`free_name`), never the
    user's; the manifest's ``columns`` says which names were used. ``context`` (JSON-ready: the error group, metric,
    effects, accuracy before and after...) is recorded in the manifest as ``why``.
    """
    action = get_action(action)
    idx = check_indices(data, indices)
    if action.needs_targets and baseline is None:
        raise UsageError(f"{action.name} needs the baseline ensemble to choose the new labels")
    edit = action.edit(idx, None if baseline is None else baseline.relabel_targets)
    y, weight = edit.apply(data.y_train, np.ones(data.n_train))
    if not np.all(np.isfinite(weight)):
        raise UsageError(f"the {action.name} action gave non-finite sample weights; nothing was written")
    if data.kind == "tabular":
        table = data.X_train.copy()
    else:
        table = pd.DataFrame({"file": data.train_ids})
    taken = {str(c) for c in table.columns} | {str(data.target)}
    row_column = free_name(ROW_ID, taken)
    weight_column = free_name(SAMPLE_WEIGHT, taken | {row_column})
    table.insert(0, row_column, data.train_ids if data.kind == "tabular" else np.arange(data.n_train))
    classes = np.array(data.classes, dtype=object)
    changes = []
    for i in idx:
        change: dict[str, Any] = {"train_index": i, "row_id": data.train_id(i), "label": str(classes[data.y_train[i]])}
        if y[i] != data.y_train[i]:
            change["new_label"] = str(classes[y[i]])
        if weight[i] == 0:
            change["removed"] = True
        elif weight[i] != 1:
            change["weight"] = float(weight[i])
        changes.append(change)
    table[data.target] = classes[y]
    weighted = bool(np.any((weight != 0) & (weight != 1)))
    if weighted:
        table[weight_column] = weight
    table = table[weight > 0]
    manifest = {
        "dataset": data.name,
        "data_fingerprint": data.fingerprint,
        "action": action.name,
        "n_train_before": data.n_train,
        "n_train_after": len(table),
        "changes": changes,
        "columns": {"row_id": row_column, "sample_weight": weight_column if weighted else None, "target": str(data.target)},
        "reason": reason,
        "why": dict(context or {}),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tool": "tda_core",
    }
    return table.reset_index(drop=True), manifest

