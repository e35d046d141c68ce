"""Acting on the training set: the corrected training data and a manifest of what changed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ._actions import POOL, TRAINING, Action, Subject, get_action
from ._attribution import Baseline
from ._exceptions import UsageError
from ._manifest import AGAIN, HAND_EDITS, check_manifest, pool_json, pool_row_id, read_manifest
from .data._dataset import Dataset

__all__ = ["HAND_EDITS", "Verification", "corrected_training_set", "edited_arrays", "hand_edited_training_set", "pool_row_id",
           "read_manifest", "replay_effect", "replay_manifest", "verify"]


def check_indices(data: Dataset, indices: Sequence[int], subject: Subject = TRAINING) -> tuple[int, ...]:
    """Sorted unique training indices (pool indices for the pool), refused when out of range."""
    what = subject.noun.split()[0]  # "training", "pool"
    idx = tuple(sorted({int(i) for i in indices}))
    if subject is POOL and not data.has_pool:
        raise UsageError("there is no pool to add samples from: load a pool of labelled samples first")
    if not idx:
        raise UsageError(f"give at least one {what} index")
    n = subject.size(data)
    bad = [i for i in idx if not 0 <= i < n]
    if bad:
        raise UsageError(f"{what} indices {bad} are out of range: the {what} set has rows 0..{n - 1}")
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
    column_order: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The training set with the action applied, and a JSON-ready manifest.

    The action's own edit decides every change (:meth:`tda_core._actions.Edit.apply`): rows whose
    weight became 0 are dropped, changed labels are written to the target column, and weights
    other than 1 go to a ``sample_weight`` column. Tabular rows keep their original id
    (``row_id``); images are listed by file. When the user's table has a column of either name
    (or its target is so named), the export's column is renamed (:func:`free_name`), never the
    user's; the manifest's ``columns`` says which names were used. ``context`` (JSON-ready: the error group, metric,
    effects, accuracy before and after...) is recorded in the manifest as ``why``. The user's
    columns keep ``column_order`` (the input file's, :func:`export_order`). An edit that leaves
    no rows, or no rows of some class, is refused (:func:`check_kept`).
    """
    action = get_action(action)
    idx = check_indices(data, indices, action.subject)
    if action.needs_targets and baseline is None:
        raise UsageError(f"{action.name} needs the baseline ensemble to choose the new labels")
    edit = action.edit(idx, None if baseline is None else baseline.relabel_targets)
    y, weight = edit.apply(data.y_fit, data.fit_weights(), data.n_train)
    if not np.all(np.isfinite(weight)):
        raise UsageError(f"the {action.name} action gave non-finite sample weights; nothing was written")
    rows = [(data.n_train if action.subject is POOL else 0) + i for i in idx]  # pool rows follow the training rows
    return _export(data, action.name, rows, y, weight, reason, context, column_order)


def _fit_arrays(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Unedited labels and weights of the fit rows (pool rows at weight 0), for hand edits and replays."""
    return data.y_fit.copy(), data.fit_weights()


def check_kept(data: Dataset, y: np.ndarray, weight: np.ndarray) -> None:
    """Refuse an edit of the fit rows that leaves no training rows, or rows of fewer than two
    classes: the corrected set could not train a classifier."""
    kept = weight > 0
    if not kept.any():
        raise UsageError("the edit would leave no training rows; nothing was written (remove fewer rows)")
    present = np.unique(y[kept])
    if len(present) < 2:
        raise UsageError(f"the edit would leave training rows of one class only ({data.classes[int(present[0])]!r}); a classifier "
                         "needs at least two, so nothing was written: keep some rows of another class")


def export_order(data: Dataset, order: Sequence[str] | None) -> list[Any]:
    """The user's columns in the export: ``order`` (the input file's) where it names exactly the
    data's columns, else the features then the target."""
    default = [*data.X_train.columns, data.target] if data.kind == "tabular" else ["file", data.target]
    by_name = {str(c): c for c in default}
    if order is None or len(order) != len(default) or set(map(str, order)) != set(by_name):
        return default
    return [by_name[str(c)] for c in order]


def _export(
    data: Dataset, action: str, idx: Sequence[int], y: np.ndarray, weight: np.ndarray, reason: str, context: dict[str, Any] | None,
    order: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The exported table and manifest of edited labels ``y`` and weights ``weight`` of the fit
    rows (training rows, then pool rows; ``idx`` are fit-row indices of the changes): the one
    writer behind every action, hand edits and replayed manifests (so a replay is byte-identical).
    Rows of weight 0 are left out, so pool rows appear only when added, after the training rows.
    The user's columns keep ``order`` (:func:`export_order`), between the row id and the weight."""
    check_kept(data, y, weight)
    n, pool = data.n_train, range(data.n_pool)
    if data.kind == "tabular":
        table = data.X_fit.copy()
        ids = list(data.train_ids) + [pool_row_id(data, j) for j in pool]
    else:
        files = list(data.train_ids) + [data.pool_id(j) for j in pool]
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
            change = {POOL.index_key: i - n, "row_id": pool_row_id(data, i - n), "label": str(classes[y_before[i]]), "added": True}
            if weight[i] != 1:
                change["weight"] = float(weight[i])
            changes.append(change)
            continue
        change = {TRAINING.index_key: i, "row_id": data.train_id(i), "label": str(classes[y_before[i]])}
        if y[i] != y_before[i]:
            change["new_label"] = str(classes[y[i]])
        if weight[i] == 0:
            change["removed"] = True
        elif weight[i] != 1:
            change["weight"] = float(weight[i])
        changes.append(change)
    table[data.target] = classes[y]
    columns = export_order(data, order)
    weighted = bool(np.any((weight != 0) & (weight != 1)))
    if weighted:
        table[weight_column] = weight
    table = table[[row_column, *columns, *([weight_column] if weighted else [])]][weight > 0]
    manifest = {
        "dataset": data.name,
        "data_fingerprint": data.fingerprint,
        "action": action,
        "n_train_before": data.n_train,
        "n_train_after": int(np.sum(weight > 0)),
        "changes": changes,
        "columns": {"row_id": row_column, "sample_weight": weight_column if weighted else None, "target": str(data.target),
                    "order": [str(c) for c in columns]},
        "pool": pool_json(data),
        "reason": reason,
        "why": dict(context or {}),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tool": "tda_core",
    }
    return table.reset_index(drop=True), manifest


def hand_edited_training_set(
    data: Dataset,
    remove: Sequence[int] = (),
    labels: Mapping[int, str] | None = None,
    reason: str = "",
    context: dict[str, Any] | None = None,
    column_order: Sequence[str] | None = None,
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
    return _export(data, HAND_EDITS, changed, y, weight, reason, context, column_order)


def replay_manifest(
    data: Dataset, manifest: Mapping[str, Any], column_order: Sequence[str] | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The corrected training set that ``manifest`` (exported by :func:`corrected_training_set`,
    :func:`hand_edited_training_set`, ``apply`` or the Fix page) describes, written again from
    ``data``: byte-identical to the original export when saved the same way, and with the same
    manifest apart from ``created``. Its reason and ``why`` are kept.

    Every field is checked first (:func:`tda_core._manifest.check_manifest`: types, ranges, the
    action and each change fitting it, row ids and labels against the data), so the replay
    applies exactly what the manifest says. The changes are replayed as recorded (a relabel's new
    labels included, so no ensemble is needed). The exported table keeps the manifest's recorded
    column order, else ``column_order``."""
    checked = check_manifest(data, manifest)
    y, weight = _fit_arrays(data)
    for change in checked.changes:
        if change.new_label is not None:
            y[change.row] = change.new_label
        if change.weight is not None:
            weight[change.row] = change.weight
    rows = sorted(c.row for c in checked.changes)
    table, replayed = _export(data, checked.action, rows, y, weight, checked.reason, checked.why, checked.order or column_order)
    if checked.n_train_after is not None and checked.n_train_after != replayed["n_train_after"]:
        raise UsageError(f"the manifest says the corrected training set has {checked.n_train_after:,} rows, but its changes "
                         f"give {replayed['n_train_after']:,}; {AGAIN}")
    return table, replayed


def replay_effect(analysis: Any, manifest: Mapping[str, Any], metric: str | None = None) -> Any:
    """The before/after comparison of a rule-based manifest (remove, relabel, upweight), measured
    again by retraining with ``analysis`` (:meth:`tda_core._analysis.Analysis.effect`): on the error
    group and with the metric recorded in its ``why`` (or ``metric``). It equals the exported one
    when the analysis has the same data, model and run settings; a relabel whose recorded labels
    are not this baseline's next most likely classes is refused. Hand edits mix removal and
    relabelling, which no single action expresses, so they have no comparison here yet."""
    data = analysis.data
    replay_manifest(data, manifest)  # the same checks as the export: fingerprint, rows, labels
    action = get_action(str(manifest["action"])) if manifest["action"] != HAND_EDITS else None
    if action is None:
        raise UsageError("hand edits have no before/after comparison yet: it needs an action that removes and relabels at once")
    recorded = manifest.get("why")
    why: Mapping[str, Any] = recorded if isinstance(recorded, Mapping) else {}
    recorded_group = why.get("error_group")
    group_doc: Mapping[str, Any] | None = recorded_group if isinstance(recorded_group, Mapping) else None
    if group_doc is None:
        raise UsageError("the manifest records no error group (its 'why'), so there is nothing to compare on")
    indices = [int(c[action.subject.index_key]) for c in manifest["changes"]]
    if action.needs_targets:
        targets = analysis.baseline.relabel_targets
        differ = [c["train_index"] for c in manifest["changes"]
                  if "new_label" in c and data.class_index(str(c["new_label"])) != int(targets[int(c["train_index"])])]
        if differ:
            raise UsageError(f"the manifest relabels training rows {differ[:10]} to other classes than this model's next most likely "
                             "class; use the same model and run settings as the export")
    group = analysis.group(str(group_doc["true"]), str(group_doc["pred"]), [int(t) for t in group_doc.get("test_indices", [])] or None)
    return analysis.effect(group, action, metric or str(why.get("metric", "loss")), indices)


# --- verify: retrain on the corrected training set ----------------------------------------------


def edited_arrays(data: Dataset, baseline: Baseline | None, action: str | Action | None = None, indices: Sequence[int] = (),
                  remove: Sequence[int] = (), labels: Mapping[int, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labels and weights of the fit rows after a fix: ``action`` on ``indices`` (as
    :func:`corrected_training_set` applies it), or hand edits (``remove``, ``labels`` by class name)."""
    if action is not None:
        action = get_action(action)
        idx = check_indices(data, indices, action.subject)
        edit = action.edit(idx, None if baseline is None else baseline.relabel_targets)
        return edit.apply(data.y_fit, data.fit_weights(), data.n_train)
    y, weight = _fit_arrays(data)
    for i, name in (labels or {}).items():
        y[int(i)] = data.class_index(str(name))
    weight[sorted(int(i) for i in remove)] = 0.0
    return y, weight


def corrected_dataset(data: Dataset, y: np.ndarray, weight: np.ndarray) -> Dataset:
    """The corrected training set as a dataset of its own, as a user would load the export: rows of
    weight 0 left out, added pool rows appended, a row of weight w repeated w times (weights must be
    whole numbers: the actions' are 0, 1 and 10), the same test rows and no pool."""
    check_kept(data, y, weight)
    if not np.allclose(weight, np.round(weight)):
        raise UsageError("the corrected set has fractional weights, which a retrained table cannot repeat; nothing was trained")
    rows = np.repeat(np.arange(len(y)), np.round(weight).astype(np.int64))
    if data.kind == "tabular":
        X = data.X_fit.iloc[rows].reset_index(drop=True)
    else:
        X = np.asarray(data.X_fit)[rows]
    ids = np.concatenate([np.asarray(data.train_ids, dtype=object),
                          np.asarray(data.pool_ids if data.has_pool else [], dtype=object)])[rows]
    thumbs = None
    if data.thumbnails_train is not None:
        parts = [data.thumbnails_train] + ([data.thumbnails_pool] if data.has_pool and data.thumbnails_pool is not None else [])
        every = np.concatenate(parts)
        thumbs = every[rows] if len(every) == len(y) else None
    return replace(data, name=f"{data.name} (corrected)", X_train=X, y_train=np.asarray(y)[rows].astype(data.y_train.dtype),
                   train_ids=ids, thumbnails_train=thumbs, X_pool=None, y_pool=None, pool_ids=None, thumbnails_pool=None,
                   fingerprint="")


@dataclass(frozen=True)
class Verification:
    """The ensemble retrained on the corrected training set (same recipe, seeds and test rows),
    against the original one: on the chosen errors and on the whole test set, each on the
    ensemble's mean prediction (as the error counts and the accuracy shown are)."""

    n_train_after: int
    test_indices: tuple[int, ...]  # the chosen errors
    predicted_before: np.ndarray  # (n_test,) class codes
    predicted_after: np.ndarray
    y_test: np.ndarray
    member_accuracy_after: tuple[float, ...]

    @property
    def correct_before(self) -> np.ndarray:
        return self.predicted_before == self.y_test

    @property
    def correct_after(self) -> np.ndarray:
        return self.predicted_after == self.y_test

    @property
    def accuracy_before(self) -> float:
        return float(self.correct_before.mean())

    @property
    def accuracy_after(self) -> float:
        return float(self.correct_after.mean())

    @property
    def accuracy_after_std(self) -> float:
        acc = self.member_accuracy_after
        return float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0

    @property
    def errors_fixed(self) -> int:
        tests = np.asarray(self.test_indices, dtype=np.int64)
        return int(np.sum(self.correct_after[tests] & ~self.correct_before[tests]))

    @property
    def errors_new(self) -> int:
        return int(np.sum(self.correct_before & ~self.correct_after))


def verify(analysis: Any, y: np.ndarray, weight: np.ndarray, test_indices: Sequence[int], progress: Any = None) -> Verification:
    """Retrain the analysis's ensemble (its recipe and members) on the corrected training set of
    fit-row labels ``y`` and weights ``weight`` (:func:`edited_arrays`), through its engine (cached,
    counted, with ``progress``), and compare it on the test rows with the original ensemble. This
    covers every fix: an action, a manifest, and hand edits that remove and relabel at once."""
    from ._actions import Edit
    from ._metrics import accuracy

    data = analysis.data
    corrected = corrected_dataset(data, y, weight)
    analysis.recipe.validate(corrected)
    members = list(analysis.members)
    analysis.engine.prepare(corrected, analysis.recipe, progress)
    proba = analysis.engine.predict(corrected, analysis.recipe, [Edit.baseline()], members, "test", progress)[0]
    return Verification(
        n_train_after=corrected.n_train,
        test_indices=tuple(int(t) for t in test_indices),
        predicted_before=np.asarray(analysis.baseline.predicted_test),
        predicted_after=np.argmax(proba.mean(axis=0), axis=1),
        y_test=np.asarray(data.y_test),
        member_accuracy_after=tuple(float(a) for a in accuracy(proba, data.y_test)),
    )
