"""Error slices beyond class pairs (shared/DESIGN.md, ``--group slice:ID``).

Two kinds of slice of the test set, each attributable like a true -> predicted group through
the test errors it holds:

* ``cluster-N``: k-means over the model's representation of the test rows (standardised per
  feature on the training rows); a slice is a cluster that holds errors, so the cluster
  slices partition the errors.
* ``tree-N`` (tables): a shallow decision tree on the original test features separating errors
  from correct predictions; a slice is a leaf whose error rate is above the overall one, with
  its rule in the original column names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._exceptions import ModelError, UsageError, names
from ._training_groups import column_scale
from .recipes._design import dense

TREE_DEPTH = 3
LEAF_FRACTION = 0.05  # min_samples_leaf as a fraction of the test rows
MAX_CLUSTERS = 8
TYPICAL = 3  # errors named as typical members of a cluster
MAX_CATEGORIES = 30  # the most common values of a categorical column that rules may name


@dataclass(frozen=True)
class ErrorSlice:
    id: str
    test_indices: tuple[int, ...]  # the errors in the slice: what attribution uses
    error_rate: float
    size: int  # test rows in the slice, correct ones included
    rule: str | None = None
    description: str | None = None
    #: Typical members: for a cluster, its errors nearest the centre; for a rule, its first errors.
    typical: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id}
        doc |= {"rule": self.rule} if self.rule is not None else {"description": self.description}
        return doc | {"test_indices": list(self.test_indices), "error_rate": self.error_rate, "size": self.size,
                      "typical": list(self.typical)}


def error_slices(analysis) -> tuple[ErrorSlice, ...]:
    """Tree slices (tables) first, then cluster slices."""
    data = analysis.data
    errors = np.asarray(analysis.errors.predicted) != np.asarray(data.y_test)
    if not errors.any():
        return ()
    out: list[ErrorSlice] = []
    if data.kind == "tabular":
        out += tree_slices(data.X_test, errors)
    try:
        F_train, F_test = analysis.representation()
    except ModelError:
        F_test = None
    if F_test is not None:
        X = data.X_test if data.kind == "tabular" else None
        out += cluster_slices(F_train, F_test, errors, data, analysis.errors.predicted, analysis.config.seed, X)
    return tuple(out)


def find_slice(slices: tuple[ErrorSlice, ...], slice_id: str) -> ErrorSlice:
    for s in slices:
        if s.id == slice_id:
            return s
    raise UsageError(f"no error slice {slice_id!r}; the slices are: {names(s.id for s in slices) or 'none'}")


# --- feature conditions --------------------------------------------------------------------


def _encode(X) -> tuple[np.ndarray, list[tuple[str, str | None]]]:
    """Numeric columns as they are (missing -> median), categorical ones one-hot; each encoded
    column is (original column, category or None for numeric)."""
    import pandas as pd

    columns: list[np.ndarray] = []
    meaning: list[tuple[str, str | None]] = []
    for name in X.columns:
        col = X[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            values = col.astype(float).to_numpy()
            fill = np.nanmedian(values) if np.isfinite(values).any() else 0.0
            columns.append(np.where(np.isnan(values), fill, values))
            meaning.append((str(name), None))
        else:
            text = col.astype(str).where(col.notna(), "missing")
            common = text.value_counts().index[:MAX_CATEGORIES]  # an id-like column stays small
            for category in sorted(common):
                columns.append((text == category).to_numpy(float))
                meaning.append((str(name), str(category)))
    return np.column_stack(columns) if columns else np.zeros((len(X), 0)), meaning


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _rule(conditions: list[tuple[int, bool, float]], meaning: list[tuple[str, str | None]]) -> str:
    """Conditions (feature, goes right, threshold) as text; numeric bounds merged per column."""
    lower: dict[str, float] = {}
    upper: dict[str, float] = {}
    order: list[str] = []
    parts: dict[str, list[str]] = {}
    for feature, right, threshold in conditions:
        column, category = meaning[feature]
        if column not in order:
            order.append(column)
            parts[column] = []
        if category is None:
            if right:
                lower[column] = max(lower.get(column, -np.inf), threshold)
            else:
                upper[column] = min(upper.get(column, np.inf), threshold)
        else:
            parts[column].append(f"{column} {'=' if right else '!='} {category}")
    out = []
    for column in order:
        if column in lower:
            out.append(f"{column} > {_fmt(lower[column])}")
        if column in upper:
            out.append(f"{column} <= {_fmt(upper[column])}")
        equal = [p for p in parts[column] if " = " in p]
        out += equal or parts[column]  # "= a" makes any "!= b" of the same column redundant
    return " and ".join(out)


def tree_slices(X_test, errors: np.ndarray) -> list[ErrorSlice]:
    from sklearn.tree import DecisionTreeClassifier

    errors = np.asarray(errors, bool)
    n = len(errors)
    if errors.all() or n < 2:
        return []
    Z, meaning = _encode(X_test)
    if Z.shape[1] == 0:
        return []
    tree = DecisionTreeClassifier(max_depth=TREE_DEPTH, min_samples_leaf=max(1, round(LEAF_FRACTION * n)), random_state=0)
    tree.fit(Z, errors.astype(int))
    t = tree.tree_
    overall = float(errors.mean())
    leaf_of = tree.apply(Z)
    found = []

    def walk(node: int, conditions: list[tuple[int, bool, float]]) -> None:
        if t.children_left[node] == -1:
            rows = np.flatnonzero(leaf_of == node)
            rate = float(errors[rows].mean()) if len(rows) else 0.0
            if rate > overall:
                found.append((rate, len(rows), _rule(conditions, meaning), rows))
            return
        f, thr = int(t.feature[node]), float(t.threshold[node])
        walk(int(t.children_left[node]), [*conditions, (f, False, thr)])
        walk(int(t.children_right[node]), [*conditions, (f, True, thr)])

    walk(0, [])
    found.sort(key=lambda x: (-x[0], -x[1]))
    return [
        ErrorSlice(f"tree-{i}", tuple(int(r) for r in rows[errors[rows]]), rate, int(size), rule=rule or "all test rows",
                   typical=tuple(int(r) for r in rows[errors[rows]][:TYPICAL]))
        for i, (rate, size, rule, rows) in enumerate(found, start=1)
    ]


# --- similarity in the representation ------------------------------------------------------


def cluster_count(n_errors: int) -> int:
    return int(min(MAX_CLUSTERS, max(2, round(np.sqrt(n_errors / 2)))))


class ColumnProfile:
    """What :func:`typical_features` compares a slice with, read off all test rows once: each
    numeric column's values, mean and spread, each other column's categories as codes and their
    overall shares (k-means slices of census income asked pandas for them 250 times)."""

    def __init__(self, X) -> None:
        import pandas as pd

        self.columns: list[tuple[str, bool, np.ndarray, Any]] = []
        for name in X.columns:
            col = X[name]
            if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                values = col.to_numpy(dtype=float, na_value=np.nan)
                finite = values[np.isfinite(values)]
                stats = (float(finite.mean()), float(finite.std(ddof=1)) if len(finite) > 1 else 0.0,
                         float(np.median(finite))) if len(finite) else None
                self.columns.append((str(name), True, values, stats))
            else:
                codes, levels = pd.factorize(col.astype(str), sort=True)  # -1: missing, left out as pandas counts
                overall = np.bincount(codes[codes >= 0], minlength=len(levels)) / max(1, int((codes >= 0).sum()))
                self.columns.append((str(name), False, codes, (levels, overall)))


def typical_features(profile: ColumnProfile, rows: np.ndarray, top: int = 2) -> str:
    """The original columns in which the rows stand out most from all test rows, in words."""
    scored = []
    for name, numeric, values, stats in profile.columns:
        if numeric:
            part = values[rows]
            part = part[np.isfinite(part)]
            if stats is not None and len(part):
                mean, std, median = stats
                score = abs(float(part.mean()) - mean) / (std or 1.0)
                scored.append((score, f"{name} ~ {_fmt(float(np.median(part)))} (all rows {_fmt(median)})"))
        elif (part := values[rows][values[rows] >= 0]).size:
            levels, overall = stats
            share = np.bincount(part, minlength=len(levels)) / len(part)
            lift = np.where(share > 0, share - overall, -np.inf)
            best = int(np.argmax(lift))  # the first of equal lifts in sorted category order
            scored.append((float(lift[best]) * 2, f"{name} = {levels[best]} ({share[best]:.0%} vs {overall[best]:.0%})"))
    scored.sort(key=lambda x: -x[0])
    return ", ".join(text for _, text in scored[:top])


#: Test rows k-means fits its centres on, at most.
KMEANS_ROWS = 20_000


def cluster_slices(F_train, F_test, errors, data, predicted, seed: int = 0, X=None) -> list[ErrorSlice]:
    from sklearn.cluster import KMeans

    errors = np.asarray(errors, bool)
    mean, std = column_scale(F_train)  # the training rows' scale, without a standardised copy of them
    Z = (dense(F_test).astype(np.float64) - mean) / std
    k = min(cluster_count(int(errors.sum())), len(Z))
    if k < 2:
        labels, centres = np.zeros(len(Z), int), Z.mean(axis=0, keepdims=True)
    else:
        import warnings

        with warnings.catch_warnings():  # duplicate rows: fewer distinct clusters, said by the sizes
            warnings.simplefilter("ignore")
            # A large test set: centres fitted on a seeded sample of its rows, every row then assigned
            # (k-means with 10 restarts on census income's 99,762 x 400 took most of `errors`).
            fit_rows = Z if len(Z) <= KMEANS_ROWS else Z[np.random.default_rng(seed).choice(len(Z), KMEANS_ROWS, replace=False)]
            km = KMeans(n_clusters=k, n_init=10 if len(Z) <= KMEANS_ROWS else 3, random_state=seed).fit(fit_rows)
        labels, centres = km.predict(Z), km.cluster_centers_
    found = []
    profile = ColumnProfile(X) if X is not None and len(X.columns) else None
    for c in range(len(centres)):
        rows = np.flatnonzero(labels == c)
        wrong = rows[errors[rows]]
        if not len(wrong):
            continue
        distance = np.sqrt(((Z[wrong] - centres[c]) ** 2).sum(axis=1))
        typical = wrong[np.argsort(distance, kind="stable")[:TYPICAL]]
        pairs: dict[str, int] = {}
        for i in wrong:
            key = f"{data.classes[int(data.y_test[i])]} -> {data.classes[int(predicted[i])]}"
            pairs[key] = pairs.get(key, 0) + 1
        common = sorted(pairs.items(), key=lambda kv: -kv[1])
        mix = ", ".join(f"{p} ({n})" for p, n in common[:3])
        text = f"{len(rows)} test rows similar in the model's representation; errors {mix}; "
        if profile is not None:
            text += f"typically {typical_features(profile, rows)}; "
        text += f"typical errors (nearest the centre): test rows {', '.join(map(str, typical.tolist()))}"
        found.append((len(wrong) / len(rows), len(rows), text, wrong, typical))
    found.sort(key=lambda x: (-len(x[3]), -x[0]))
    return [
        ErrorSlice(f"cluster-{i}", tuple(int(r) for r in wrong), float(rate), int(size), description=text,
                   typical=tuple(int(t) for t in typical))
        for i, (rate, size, text, wrong, typical) in enumerate(found, start=1)
    ]
