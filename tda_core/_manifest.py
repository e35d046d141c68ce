"""The one schema of a manifest: what ``apply`` and the Fix page export beside a corrected
training set, and what ``apply --manifest`` and the Fix page replay.

:func:`read_manifest` bounds the text before parsing it (size, nesting depth) and refuses
duplicate keys and NaN/Infinity tokens. :func:`check_manifest` checks every field's type and
range against the data (indices, row ids, labels, booleans as booleans, weights finite, above 0
and at most :data:`MAX_WEIGHT`, the action from the known set and each change fitting it), so
that a replay applies exactly what the manifest says, and its new manifest says exactly what
was applied. Every refusal is one line that names the change and the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._actions import ACTIONS, POOL, TRAINING
from ._exceptions import UsageError, names, one_line
from .data._dataset import Dataset

#: The largest manifest read: one change per row of a very large training set stays far below it.
MAX_MANIFEST_BYTES = 64 * 2**20
#: Exported manifests nest 4 levels deep (the ``why`` a few more); deeper is not one of them.
MAX_DEPTH = 32
#: The largest weight a change may give a row (upweight gives 10).
MAX_WEIGHT = 1e6
#: The manifest's ``action`` for per-row changes made by hand (remove rows, set labels).
HAND_EDITS = "hand edits"
KNOWN_ACTIONS = (*ACTIONS, HAND_EDITS)
REQUIRED = ("data_fingerprint", "action", "changes")
TRAIN_FIELDS = (TRAINING.index_key, "row_id", "label", "new_label", "removed", "weight")
POOL_FIELDS = (POOL.index_key, "row_id", "label", "added", "weight")
#: What each action's changes do, and how the refusal says it.
EFFECTS = {"remove": ({"removed"},), "relabel": ({"new_label"},), "upweight": ({"weight"},), HAND_EDITS: ({"removed"}, {"new_label"})}
SAYS = {"remove": '"removed": true', "relabel": 'a "new_label"', "upweight": 'a "weight"', HAND_EDITS: '"removed": true or a "new_label"'}
AGAIN = "give the manifest.json that was exported with the training set"


@dataclass(frozen=True)
class Change:
    """One checked change: a fit row (training index, or n_train + pool index), its new label
    code where relabelled, and its new weight where it changed (0: removed)."""

    row: int
    new_label: int | None = None
    weight: float | None = None


@dataclass(frozen=True)
class Manifest:
    """A manifest whose every field was checked against the data it is replayed on."""

    action: str
    changes: tuple[Change, ...]
    reason: str
    why: dict[str, Any] | None
    order: tuple[str, ...] | None  # the exported table's column order, where recorded
    n_train_after: int | None


def pool_row_id(data: Dataset, j: int) -> str:
    """The exported row id of pool sample ``j``: its pool id, marked as coming from the pool."""
    return f"pool:{data.pool_id(j)}"


# --- reading -------------------------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.S)
_CHUNK = 2**20


def nesting_depth(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` outside JSON strings, counted without parsing."""
    plain = np.frombuffer(_STRING.sub("", text).encode("utf-8", "replace"), dtype=np.uint8)
    step = np.zeros(256, dtype=np.int8)
    step[[ord("["), ord("{")]], step[[ord("]"), ord("}")]] = 1, -1
    depth = deepest = 0
    for start in range(0, len(plain), _CHUNK):  # chunks keep the running sums small
        running = depth + np.cumsum(step[plain[start : start + _CHUNK]], dtype=np.int64)
        if len(running):
            deepest, depth = max(deepest, int(running.max())), int(running[-1])
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise UsageError(f"the manifest repeats the field {names(twice)} in one object; give each field once")
    return dict(pairs)


def _no_constant(token: str) -> None:
    raise UsageError(f"the manifest holds {token}, which is not a JSON number; {AGAIN}")


def read_manifest(text: str | bytes) -> dict[str, Any]:
    """A manifest from its JSON text, bounded before it is parsed; anything else is one line."""
    size = len(text)
    if size > MAX_MANIFEST_BYTES:
        raise UsageError(f"the manifest is larger than {MAX_MANIFEST_BYTES // 2**20} MB; it is not an exported manifest")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UsageError(f"the manifest is not UTF-8 text; {AGAIN}") from exc
    if nesting_depth(text) > MAX_DEPTH:
        raise UsageError(f"the manifest nests lists and objects more than {MAX_DEPTH} levels deep; it is not an exported manifest")
    try:
        manifest = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except UsageError:
        raise  # a repeated field or a non-number, in its own words
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"the manifest is not valid JSON ({one_line(str(exc), 120)})") from exc
    if not isinstance(manifest, dict):
        raise UsageError(f"the manifest is not a JSON object; {AGAIN}")
    return manifest


# --- checking ------------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    for kind, word in ((bool, "true/false"), (str, "text"), (int, "a number"), (float, "a number"), (list, "a list"),
                       (dict, "an object")):
        if isinstance(value, kind):
            return word
    return "null" if value is None else type(value).__name__


def _field(manifest: Mapping[str, Any], key: str, kind: type | tuple[type, ...], word: str, default: Any = None) -> Any:
    """``manifest[key]`` when it has the JSON type ``kind`` (absent or null: ``default``)."""
    value = manifest.get(key)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UsageError(f"the manifest's {key!r} must be {word}, not {_json_type(value)}; {AGAIN}")
    return value


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _weight(value: Any, n: int) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 < value <= MAX_WEIGHT
    if not ok:
        raise UsageError(f"change {n} of the manifest has the weight {one_line(repr(value), 40)}; weights are numbers above 0 "
                         f"and at most {MAX_WEIGHT:,.0f}")
    return float(value)


def _flag(change: Mapping[str, Any], key: str, n: int) -> bool:
    value = change.get(key, False)
    if not isinstance(value, bool):
        raise UsageError(f"change {n} of the manifest has {key!r} {one_line(repr(value), 40)}; it must be true or false")
    return value


def _index(data: Dataset, change: Mapping[str, Any], key: str, n: int) -> int:
    from ._fix import check_indices

    value: Any = change.get(key)
    if not _whole(value):
        what = "pool index" if key == POOL.index_key else "training index"
        raise UsageError(f"change {n} of the manifest has no {what} (a whole number), but {one_line(repr(value), 40)}")
    check_indices(data, [int(value)], POOL if key == POOL.index_key else TRAINING)
    return int(value)


def _check_row(change: Mapping[str, Any], n: int, row: str, row_id: Any, label: str) -> None:
    """The change's ``row_id`` and ``label``, where given, are the data's."""
    if "row_id" in change and change["row_id"] != row_id:
        raise UsageError(f"change {n} of the manifest names row {one_line(repr(change['row_id']), 80)}, but {row} is {row_id!r}")
    if "label" in change and change["label"] != label:
        raise UsageError(f"change {n} of the manifest expects label {one_line(repr(change['label']), 80)} on {row}, which has {label!r}")


def _pool_change(data: Dataset, change: Mapping[str, Any], n: int) -> Change:
    j = _index(data, change, POOL.index_key, n)
    _check_row(change, n, f"pool sample {j}", pool_row_id(data, j), data.classes[data.pool_labels()[j]])
    if "added" in change and not _flag(change, "added", n):
        raise UsageError(f'change {n} of the manifest says "added": false; list only the pool samples that are added')
    return Change(data.n_train + j, weight=_weight(change["weight"], n) if "weight" in change else 1.0)


def _training_change(data: Dataset, change: Mapping[str, Any], n: int, action: str) -> Change:
    i = _index(data, change, TRAINING.index_key, n)
    label = data.classes[data.y_train[i]]
    _check_row(change, n, f"training row {i}", data.train_id(i), label)
    weight = _weight(change["weight"], n) if "weight" in change else None
    removed = _flag(change, "removed", n)
    new_label = None
    if "new_label" in change:
        if not isinstance(change["new_label"], str):
            raise UsageError(f"change {n} of the manifest has the new label {one_line(repr(change['new_label']), 40)}; labels are text")
        new_label = data.class_index(change["new_label"])
    does = {k for k, v in (("removed", removed or None), ("new_label", new_label), ("weight", weight)) if v is not None}
    if new_label == data.y_train[i] or weight == 1.0 or not does:
        raise UsageError(f"change {n} of the manifest changes nothing on training row {i}; {AGAIN}")
    if does not in EFFECTS[action]:
        raise UsageError(f"change {n} of the manifest does not fit its action {action!r}: a {action} change says {SAYS[action]} "
                         f"and nothing else, this one {', '.join(sorted(does))}")
    return Change(i, new_label=new_label, weight=0.0 if removed else weight)


def _change(data: Dataset, change: Any, n: int, action: str) -> Change:
    if not isinstance(change, Mapping):
        raise UsageError(f"change {n} of the manifest is {_json_type(change)}, not an object; {AGAIN}")
    subject = POOL if POOL.index_key in change else TRAINING
    on_pool = subject is POOL
    fields = POOL_FIELDS if on_pool else TRAIN_FIELDS
    unknown = [k for k in change if k not in fields]
    if unknown:
        raise UsageError(f"change {n} of the manifest has the unknown field {names(map(repr, unknown))}; "
                         f"a {'pool' if on_pool else 'training'} change has {', '.join(fields)}")
    if subject is not (ACTIONS[action].subject if action in ACTIONS else TRAINING):  # hand edits change training rows
        what = "adds a pool sample" if on_pool else "changes a training row"
        raise UsageError(f"change {n} of the manifest {what}, which its action {action!r} does not do; {AGAIN}")
    return _pool_change(data, change, n) if on_pool else _training_change(data, change, n, action)


def without_pool(data: Dataset) -> Dataset:
    """``data`` without its pool (the fingerprint of the training and test data alone)."""
    if not data.has_pool:
        return data
    return dataclasses.replace(data, X_pool=None, y_pool=None, pool_ids=None, thumbnails_pool=None, fingerprint="")


def pool_json(data: Dataset) -> dict[str, Any] | None:
    """What a manifest records of the pool, so that a replay without it can say so."""
    if not data.has_pool:
        return None
    return {"n_pool": data.n_pool, "train_test_fingerprint": without_pool(data).fingerprint}


def _check_fingerprint(data: Dataset, manifest: Mapping[str, Any]) -> None:
    fingerprint = _field(manifest, "data_fingerprint", str, "text")
    if fingerprint == data.fingerprint:
        return
    pool = _field(manifest, "pool", dict, "an object", {})
    n_pool, recorded = pool.get("n_pool"), pool.get("train_test_fingerprint")
    pool_differs = _whole(n_pool) and (not data.has_pool or n_pool != data.n_pool)  # else the same size: say "other data"
    if pool_differs and recorded == without_pool(data).fingerprint:
        loaded = f"the pool loaded has {data.n_pool:,}" if data.has_pool else "no pool is loaded"
        raise UsageError(f"the manifest was made with a pool of {n_pool:,} samples and {loaded}; load the same pool to replay it")
    if data.has_pool and not pool and without_pool(data).fingerprint == fingerprint:
        raise UsageError("the manifest was made without a pool, and a pool is loaded; replay it without the pool")
    dataset = _field(manifest, "dataset", str, "text", "")
    made_for = f" ({one_line(dataset, 80)})" if dataset else ""
    raise UsageError(f"the manifest was made for other data{made_for}: its data fingerprint does not match {one_line(data.name, 80)}; "
                     "load the same training and test data (and pool) it was exported from")


def check_manifest(data: Dataset, manifest: Any) -> Manifest:
    """``manifest`` (a parsed JSON object) checked field by field against ``data``."""
    if not isinstance(manifest, Mapping):
        raise UsageError(f"the manifest is not a JSON object; {AGAIN}")
    missing = [k for k in REQUIRED if k not in manifest]
    if missing:
        raise UsageError(f"the manifest lacks {', '.join(missing)}; {AGAIN}")
    action = _field(manifest, "action", str, "text")
    if action not in KNOWN_ACTIONS:
        raise UsageError(f"the manifest's action {one_line(repr(action), 60)} is not one of {', '.join(KNOWN_ACTIONS)}; {AGAIN}")
    reason = _field(manifest, "reason", str, "text", "")
    why = _field(manifest, "why", dict, "an object")
    columns = _field(manifest, "columns", dict, "an object", {})
    order = columns.get("order")
    if order is not None and not (isinstance(order, list) and all(isinstance(c, str) for c in order)):
        raise UsageError(f"the manifest's column order must be a list of column names; {AGAIN}")
    before = _field(manifest, "n_train_before", int, "a whole number")
    after = _field(manifest, "n_train_after", int, "a whole number")
    _check_fingerprint(data, manifest)
    if before is not None and before != data.n_train:
        raise UsageError(f"the manifest says the training set had {before:,} rows; this one has {data.n_train:,}")
    changes = _field(manifest, "changes", list, "a list", [])
    if not changes:
        raise UsageError("the manifest lists no changes")
    if len(changes) > data.n_fit:
        raise UsageError(f"the manifest lists {len(changes):,} changes for {data.n_fit:,} rows; {AGAIN}")
    checked = tuple(_change(data, c, n, action) for n, c in enumerate(changes, 1))
    rows = [c.row for c in checked]
    if len(set(rows)) != len(rows):
        raise UsageError("the manifest changes a training row twice" if min(rows) < data.n_train else "the manifest adds a pool sample twice")
    return Manifest(action, checked, reason, why, None if order is None else tuple(order), after)
