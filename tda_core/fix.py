"""Acting on the training set: the corrected training data and a manifest of what changed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .actions import Action, get_action
from .attribution import Baseline
from .data.dataset import Dataset
from .exceptions import UsageError, one_line


def check_indices(data: Dataset, indices: Sequence[int], pool: bool = False) -> tuple[int, ...]:
    """Sorted unique training indices (``pool``: pool indices), refused when out of range."""
    what, n = ("pool", data.n_pool) if pool else ("training", data.n_train)
    idx = tuple(sorted({int(i) for i in indices}))
    if pool and not data.has_pool:
        raise UsageError("there is no pool to add samples from: load a pool of labelled samples first")
    if not idx:
        raise UsageError(f"give at least one {what} index")
    bad = [i for i in idx if not 0 <= i < n]
    if bad:
        raise UsageError(f"{what} indices {bad} are out of range: the {what} set has rows 0..{n - 1}")
    return idx


def pool_row_id(data: Dataset, j: int) -> str:
    """The exported row id of pool sample ``j``: its pool id, marked as coming from the pool."""
    return f"pool:{data.pool_id(j)}"


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
    idx = check_indices(data, indices, pool=action.on_pool)
    if action.needs_targets and baseline is None:
        raise UsageError(f"{action.name} needs the baseline ensemble to choose the new labels")
    edit = action.edit(idx, None if baseline is None else baseline.relabel_targets)
    y, weight = edit.apply(data.y_fit, data.fit_weights(), data.n_train)
    if not np.all(np.isfinite(weight)):
        raise UsageError(f"the {action.name} action gave non-finite sample weights; nothing was written")
    rows = [data.n_train + i for i in idx] if action.on_pool else list(idx)
    return _export(data, action.name, rows, y, weight, reason, context)


def _fit_arrays(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Unedited labels and weights of the fit rows (pool rows at weight 0), for hand edits and replays."""
    return data.y_fit.copy(), data.fit_weights()


def _export(
    data: Dataset, action: str, idx: Sequence[int], y: np.ndarray, weight: np.ndarray, reason: str, context: dict[str, Any] | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The exported table and manifest of edited labels ``y`` and weights ``weight`` of the fit
    rows (training rows, then pool rows; ``idx`` are fit-row indices of the changes): the one
    writer behind every action, hand edits and replayed manifests (so a replay is byte-identical).
    Rows of weight 0 are left out, so pool rows appear only when added, after the training rows."""
    n, pool = data.n_train, range(data.n_pool)
    if data.kind == "tabular":
        table = data.X_fit.copy()
        ids = list(data.train_ids) + [pool_row_id(data, j) for j in pool]
    else:
        files = list(data.train_ids) + (list(data.pool_ids) if data.has_pool else [])
        table = pd.DataFrame({"file": files})
        ids = list(range(n)) + [pool_row_id(data, j) for j in pool]
    taken = {str(c) for c in table.columns} | {str(data.target)}
    row_column = free_name(ROW_ID, taken)
    weight_column = free_name(SAMPLE_WEIGHT, taken | {row_column})
    table.insert(0, row_column, ids if data.has_pool else np.asarray(ids))
    classes = np.array(data.classes, dtype=object)
    y_before = data.y_fit
    changes = []
    for i in idx:
        change: dict[str, Any]
        if i >= n:  # a pool row: added
            change = {"pool_index": i - n, "row_id": pool_row_id(data, i - n), "label": str(classes[y_before[i]]), "added": True}
            if weight[i] != 1:
                change["weight"] = float(weight[i])
            changes.append(change)
            continue
        change = {"train_index": i, "row_id": data.train_id(i), "label": str(classes[y_before[i]])}
        if y[i] != y_before[i]:
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
        "action": action,
        "n_train_before": data.n_train,
        "n_train_after": int(np.sum(weight > 0)),
        "changes": changes,
        "columns": {"row_id": row_column, "sample_weight": weight_column if weighted else None, "target": str(data.target)},
        "reason": reason,
        "why": dict(context or {}),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tool": "tda_core",
    }
    return table.reset_index(drop=True), manifest


#: The manifest's ``action`` for per-row changes made by hand (remove rows, set labels).
HAND_EDITS = "hand edits"


def hand_edited_training_set(
    data: Dataset,
    remove: Sequence[int] = (),
    labels: Mapping[int, str] | None = None,
    reason: str = "",
    context: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The training set with rows removed and labels set by hand, and its manifest
    (``action`` is ``"hand edits"``; each change says ``removed`` or ``new_label``).

    ``remove`` are training indices; ``labels`` maps training indices to class names as the data
    spells them. A row may not be both removed and relabelled; setting a row's own label is no change."""
    labels = dict(labels or {})
    removed = set(check_indices(data, remove)) if len(remove) else set()
    relabelled = set(check_indices(data, list(labels))) if labels else set()
    both = sorted(removed & relabelled)
    if both:
        raise UsageError(f"training rows {both} are both removed and relabelled; choose one change per row")
    y, weight = _fit_arrays(data)
    for i, name in labels.items():
        y[int(i)] = data.class_index(str(name))
    weight[sorted(removed)] = 0.0
    changed = sorted(removed | {i for i in relabelled if y[i] != data.y_train[i]})
    if not changed:
        raise UsageError("the hand edits change nothing: remove a row or give a row another label")
    return _export(data, HAND_EDITS, changed, y, weight, reason, context)


MANIFEST_KEYS = ("data_fingerprint", "action", "changes")


def replay_manifest(data: Dataset, manifest: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The corrected training set that ``manifest`` (exported by :func:`corrected_training_set`,
    :func:`hand_edited_training_set`, ``apply`` or the Fix page) describes, written again from
    ``data``: byte-identical to the original export when saved the same way, and with the same
    manifest apart from ``created``. Its reason and ``why`` are kept.

    The manifest's changes are replayed as recorded (a relabel's new labels included, so no
    ensemble is needed). Data whose fingerprint differs from the manifest's is refused, as are
    changes whose row id or label do not match the data."""
    if not isinstance(manifest, Mapping):
        raise UsageError("the manifest is not a JSON object; give the manifest.json that was exported with the training set")
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise UsageError(f"the manifest lacks {', '.join(missing)}; give the manifest.json that was exported with the training set")
    if manifest["data_fingerprint"] != data.fingerprint:
        made_for = f" ({one_line(manifest['dataset'], 80)})" if manifest.get("dataset") else ""
        raise UsageError(
            f"the manifest was made for other data{made_for}: its data fingerprint does not match {one_line(data.name, 80)}; "
            "load the same training and test data it was exported from"
        )
    changes = manifest["changes"]
    if not isinstance(changes, list) or not changes:
        raise UsageError("the manifest lists no changes")
    y, weight = _fit_arrays(data)
    idx: list[int] = []
    for n, change in enumerate(changes, 1):
        if isinstance(change, Mapping) and "pool_index" in change:
            idx.append(_replay_addition(data, change, n, weight))
            continue
        if not isinstance(change, Mapping) or not isinstance(change.get("train_index"), int) or isinstance(change.get("train_index"), bool):
            raise UsageError(f"change {n} of the manifest has no training index")
        i = change["train_index"]
        check_indices(data, [i])
        if "row_id" in change and change["row_id"] != data.train_id(i):
            raise UsageError(f"change {n} of the manifest names row {change['row_id']!r}, but training row {i} is {data.train_id(i)!r}")
        if "label" in change and change["label"] != data.classes[data.y_train[i]]:
            raise UsageError(f"change {n} of the manifest expects label {change['label']!r} on training row {i}, "
                             f"which has {data.classes[data.y_train[i]]!r}")
        if "new_label" in change:
            y[i] = data.class_index(str(change["new_label"]))
        if change.get("removed"):
            weight[i] = 0.0
        elif "weight" in change:
            value = change["weight"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
                raise UsageError(f"change {n} of the manifest has the weight {value!r}; weights are positive numbers")
            weight[i] = float(value)
        idx.append(i)
    if len(set(idx)) != len(idx):
        raise UsageError("the manifest changes a training row twice")
    action = str(manifest["action"])
    why = manifest.get("why")
    table, replayed = _export(data, action, sorted(idx), y, weight, str(manifest.get("reason", "")),
                              why if isinstance(why, dict) else None)
    return table, replayed


def _replay_addition(data: Dataset, change: Mapping[str, Any], n: int, weight: np.ndarray) -> int:
    """Replay change ``n``, an added pool sample, into the fit-row ``weight``; its fit-row index."""
    j = change["pool_index"]
    if not isinstance(j, int) or isinstance(j, bool):
        raise UsageError(f"change {n} of the manifest has a pool index that is not a whole number")
    check_indices(data, [j], pool=True)
    if "row_id" in change and change["row_id"] != pool_row_id(data, j):
        raise UsageError(f"change {n} of the manifest names row {change['row_id']!r}, but pool sample {j} is {pool_row_id(data, j)!r}")
    if "label" in change and change["label"] != data.classes[data.y_pool[j]]:
        raise UsageError(f"change {n} of the manifest expects label {change['label']!r} on pool sample {j}, "
                         f"which has {data.classes[data.y_pool[j]]!r}")
    weight[data.n_train + j] = float(change.get("weight", 1.0))
    return data.n_train + j


def read_manifest(text: str | bytes) -> dict[str, Any]:
    """A manifest from its JSON text; anything else is one line in words."""
    import json

    try:
        manifest = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"the manifest is not valid JSON ({one_line(str(exc), 120)})") from None
    if not isinstance(manifest, dict):
        raise UsageError("the manifest is not a JSON object; give the manifest.json that was exported with the training set")
    return manifest



def replay_effect(analysis: Any, manifest: Mapping[str, Any], metric: str | None = None) -> Any:
    """The before/after comparison of a rule-based manifest (remove, relabel, upweight), measured
    again by retraining with ``analysis`` (:meth:`tda_core.analysis.Analysis.effect`): on the error
    group and with the metric recorded in its ``why`` (or ``metric``). It equals the exported one
    when the analysis has the same data, model and run settings; a relabel whose recorded labels
    are not this baseline's next most likely classes is refused. Hand edits mix removal and
    relabelling, which no single action expresses, so they have no comparison here yet."""
    data = analysis.data
    replay_manifest(data, manifest)  # the same checks as the export: fingerprint, rows, labels
    action = get_action(str(manifest["action"])) if manifest["action"] != HAND_EDITS else None
    if action is None:
        raise UsageError("hand edits have no before/after comparison yet: it needs an action that removes and relabels at once")
    why = manifest.get("why") if isinstance(manifest.get("why"), Mapping) else {}
    group_doc = why.get("error_group") if isinstance(why.get("error_group"), Mapping) else None
    if group_doc is None:
        raise UsageError("the manifest records no error group (its 'why'), so there is nothing to compare on")
    indices = [int(c["pool_index"] if action.on_pool else c["train_index"]) for c in manifest["changes"]]
    if action.needs_targets:
        targets = analysis.baseline.relabel_targets
        differ = [c["train_index"] for c in manifest["changes"]
                  if "new_label" in c and data.class_index(str(c["new_label"])) != int(targets[int(c["train_index"])])]
        if differ:
            raise UsageError(f"the manifest relabels training rows {differ[:10]} to other classes than this model's next most likely "
                             "class; use the same model and run settings as the export")
    group = analysis.group(str(group_doc["true"]), str(group_doc["pred"]), [int(t) for t in group_doc.get("test_indices", [])] or None)
    return analysis.effect(group, action, metric or str(why.get("metric", "loss")), indices)
