"""Tables for display: the engine's arrays arranged as labelled DataFrames, nothing computed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tda_core.analysis import Analysis
from tda_core.attribution import Effect, Ranking
from tda_core.data import Dataset
from tda_core.errors import ErrorGroup, ErrorReport
from tda_core.estimates.candidates import Estimates
from tda_core.training_groups import GroupRanking

#: Shown where a number does not apply: the p-value of a deterministic model or of a single run.
DASH = "—"


def has_p_values(ranking: Ranking | GroupRanking) -> bool:
    """Whether the ranking carries p-values (none for a deterministic model or a single run)."""
    return not ranking.deterministic and bool(np.isfinite(ranking.p_value).any())


def has_spread(ranking: Ranking | GroupRanking) -> bool:
    """Whether the ranking carries a spread over members (none for a deterministic model or a single run)."""
    return not ranking.deterministic and bool(np.isfinite(ranking.delta_std).any())


def p_text(p: float | None) -> str:
    """A p-value as shown in captions and metrics: the dash where none applies."""
    return DASH if p is None or not np.isfinite(p) else f"{p:.2g}"


def class_counts(data: Dataset) -> pd.DataFrame:
    rows = []
    for split, y in (("train", data.y_train), ("test", data.y_test)):
        counts = np.bincount(y, minlength=data.n_classes)
        for code, name in enumerate(data.classes):
            rows.append({"class": name, "split": split, "rows": int(counts[code]), "share": counts[code] / max(1, len(y))})
    return pd.DataFrame(rows)


def preview_indices(data: Dataset, per_class: int) -> list[int]:
    """Up to ``per_class`` training samples of every class, interleaved: one of each class per round."""
    by_class = [np.flatnonzero(data.y_train == c)[:per_class] for c in range(data.n_classes)]
    return [int(ix[k]) for k in range(per_class) for ix in by_class if k < len(ix)]


def groups_frame(report: ErrorReport) -> pd.DataFrame:
    total = sum(g.count for g in report.groups) or 1
    return pd.DataFrame(
        [{"group": g.label, "true": g.true, "predicted": g.pred, "test samples": g.count, "share of errors": g.count / total}
         for g in report.groups]
    )


def test_samples_frame(analysis: Analysis, group: ErrorGroup) -> pd.DataFrame:
    """The group's test samples: features, true and predicted class, loss and probabilities."""
    data, report = analysis.data, analysis.errors
    tests = np.asarray(group.test_indices)
    frame = pd.DataFrame({"test index": tests})
    if data.kind == "tabular":
        frame = pd.concat([frame, data.X_test.iloc[tests].reset_index(drop=True)], axis=1)
    else:
        frame["file"] = data.test_ids[tests]
    frame["true"] = [data.classes[c] for c in data.y_test[tests]]
    frame["predicted"] = [data.classes[c] for c in report.predicted[tests]]
    frame["loss"] = report.loss[tests]
    for code, name in enumerate(data.classes):
        frame[f"p({name})"] = report.proba_mean[tests, code]
    first = ["test index", "true", "predicted", "loss", *(f"p({name})" for name in data.classes)]
    return frame[first + [c for c in frame.columns if c not in first]]  # the numbers first, then the features


def error_captions(samples: pd.DataFrame, shown: Sequence[int], predicted: str) -> list[str]:
    """Captions of erroneous test images; ``samples`` comes from :func:`test_samples_frame`."""
    prob = dict(zip(samples["test index"], samples[f"p({predicted})"]))
    return [f"#{t} · p({predicted}) {prob[t]:.2f}" for t in shown]


def ranking_frame(analysis: Analysis, ranking: Ranking, selected: Sequence[int], alpha: float,
                  rows: int | None = None) -> pd.DataFrame:
    """Ranked training samples, best improvement first: features, labels, effect and p-value."""
    data, base = analysis.data, analysis.baseline
    n = len(ranking.train_index) if rows is None else min(rows, len(ranking.train_index))
    idx = ranking.train_index[:n]
    chosen = set(int(i) for i in selected)
    predicted = base.predicted_train
    frame = pd.DataFrame({
        "rank": np.arange(1, n + 1),
        "selected": [int(i) in chosen for i in idx],
        "significant": ranking.significant(alpha)[:n],
        "train index": idx,
    })
    if data.kind == "tabular":
        frame["row id"] = data.train_ids[idx]
        frame = pd.concat([frame, data.X_train.iloc[idx].reset_index(drop=True)], axis=1)
    else:
        frame["file"] = data.train_ids[idx]
    frame["label"] = [data.classes[c] for c in data.y_train[idx]]
    frame["baseline prediction"] = [data.classes[c] for c in predicted[idx]]
    frame["effect"] = ranking.delta_mean[:n]
    if has_spread(ranking):
        frame["± std"] = ranking.delta_std[:n]
    frame["p-value"] = ranking.p_value[:n] if has_p_values(ranking) else DASH
    frame["accuracy Δ"] = ranking.accuracy_delta_mean[:n]
    if has_spread(ranking):
        frame["accuracy Δ std"] = ranking.accuracy_delta_std[:n]
    first = ["rank", "selected", "significant", "train index", "effect", "± std", "p-value", "accuracy Δ",
             "label", "baseline prediction"]  # the numbers first, then who the sample is
    first = [c for c in first if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def gallery_captions(top: pd.DataFrame) -> list[str]:
    """One short caption per ranked image; ``top`` comes from :func:`ranking_frame`."""
    return [f"{'★ ' if r['selected'] else ''}#{r['train index']} · {r['label']}\nΔ {r['effect']:+.2g} · "
            + (f"p {r['p-value']:.2g}" if r["p-value"] != DASH else "exact")
            for _, r in top.iterrows()]


def group_ranking_frame(ranking: GroupRanking, selected: Sequence[int], alpha: float) -> pd.DataFrame:
    """Candidate training groups, best improvement first: how each was formed, its size and effect
    (``GroupRanking.records()``, one row each)."""
    records = ranking.records()
    best = tuple(int(i) for i in selected)
    frame = pd.DataFrame({
        "rank": np.arange(1, len(records) + 1),
        "best": [tuple(r["train_indices"]) == best for r in records],
        "significant": ranking.significant(alpha),
        "group": [r["group_id"] for r in records],
        "kind": [r["kind"] for r in records],
        "size": [len(r["train_indices"]) for r in records],
        "effect": [r["delta_mean"] for r in records],
    })
    if has_spread(ranking):
        frame["± std"] = [r["delta_std"] for r in records]
    frame["p-value"] = [np.nan if r["p_value"] is None else r["p_value"] for r in records] if has_p_values(ranking) else DASH
    frame["accuracy Δ"] = [r["accuracy_delta_mean"] for r in records]
    frame["description"] = [r["description"] for r in records]
    return frame


def members_frame(analysis: Analysis, indices: Sequence[int]) -> pd.DataFrame:
    """Training samples by index: who they are (row id or file, label, the baseline's prediction,
    and the features of tabular data)."""
    data, base = analysis.data, analysis.baseline
    idx = np.asarray(indices, dtype=np.int64)
    frame = pd.DataFrame({"train index": idx})
    frame["row id" if data.kind == "tabular" else "file"] = data.train_ids[idx]
    frame["label"] = [data.classes[c] for c in data.y_train[idx]]
    frame["baseline prediction"] = [data.classes[c] for c in base.predicted_train[idx]]
    if data.kind == "tabular":
        frame = pd.concat([frame, data.X_train.iloc[idx].reset_index(drop=True)], axis=1)
    return frame


def member_captions(members: pd.DataFrame) -> list[str]:
    """Captions of a group's training images; ``members`` comes from :func:`members_frame`."""
    return [f"#{r['train index']} · {r['label']}\npredicted {r['baseline prediction']}" for _, r in members.iterrows()]


#: Rows of the estimates table in candidate mode.
ESTIMATE_ROWS = 1000


def estimates_frame(analysis: Analysis, estimates: Estimates) -> pd.DataFrame:
    """The candidate-mode estimates of the samples that were not retrained, best estimate first."""
    data, base = analysis.data, analysis.baseline
    done = set(estimates.retrained)
    keep = np.array([int(i) not in done for i in estimates.train_index], dtype=bool)
    idx = estimates.train_index[keep]
    frame = pd.DataFrame({"estimate rank": np.flatnonzero(keep) + 1, "train index": idx,
                          "estimated effect": estimates.estimate[keep]})
    frame["row id" if data.kind == "tabular" else "file"] = data.train_ids[idx]
    frame["label"] = [data.classes[c] for c in data.y_train[idx]]
    frame["baseline prediction"] = [data.classes[c] for c in base.predicted_train[idx]]
    return frame


def per_test_frame(effect: Effect) -> pd.DataFrame:
    """Each chosen test sample before and after (a deterministic model has no spread to show)."""
    frame = pd.DataFrame(
        [{"test index": t.test_index, "before": t.before_mean, "± before": t.before_std, "after": t.after_mean,
          "± after": t.after_std, "change": t.delta_mean, "± change": t.delta_std} for t in effect.per_test]
    )
    return frame.drop(columns=["± before", "± after", "± change"]) if effect.deterministic else frame


def class_accuracy_frame(effect: Effect) -> pd.DataFrame:
    return pd.DataFrame({"class": list(effect.class_accuracy_delta),
                         "accuracy Δ": list(effect.class_accuracy_delta.values())})


def recipe_parameters(recipe) -> pd.DataFrame:
    """The recipe's description, then (for a scikit-learn estimator) its nested parameters as
    scikit-learn names them (``get_params(deep=True)``, without the ``estimator__`` prefix)."""
    rows = {str(k): v for k, v in recipe.describe().items()}
    estimator = getattr(recipe, "estimator", None)
    if estimator is not None:
        rows["estimator"] = type(estimator).__name__
        for name, value in recipe.get_params(deep=True).items():
            if name.startswith("estimator__") and isinstance(value, (int, float, str, bool, type(None))):
                rows.setdefault(name.removeprefix("estimator__"), value)
    return pd.DataFrame({"parameter": list(rows), "value": [str(v) for v in rows.values()]})


def train_label(data: Dataset, index: int) -> str:
    """How a training sample is named in pickers: index, original row id or file, label."""
    ident = data.train_ids[index]
    ident = ident.item() if hasattr(ident, "item") else ident
    return f"#{index} · row {ident} · {data.classes[data.y_train[index]]}" if data.kind == "tabular" \
        else f"#{index} · {ident} · {data.classes[data.y_train[index]]}"
