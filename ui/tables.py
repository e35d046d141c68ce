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
    frame["± std"] = ranking.delta_std[:n]
    frame["p-value"] = ranking.p_value[:n]
    frame["accuracy Δ"] = ranking.accuracy_delta_mean[:n]
    frame["accuracy Δ std"] = ranking.accuracy_delta_std[:n]
    first = ["rank", "selected", "significant", "train index", "effect", "± std", "p-value", "accuracy Δ",
             "label", "baseline prediction"]  # the numbers first, then who the sample is
    return frame[first + [c for c in frame.columns if c not in first]]


def gallery_captions(top: pd.DataFrame) -> list[str]:
    """One short caption per ranked image; ``top`` comes from :func:`ranking_frame`."""
    return [f"{'★ ' if r['selected'] else ''}#{r['train index']} · {r['label']}\nΔ {r['effect']:+.2g} · p {r['p-value']:.2g}"
            for _, r in top.iterrows()]


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
    return pd.DataFrame(
        [{"test index": t.test_index, "before": t.before_mean, "± before": t.before_std, "after": t.after_mean,
          "± after": t.after_std, "change": t.delta_mean, "± change": t.delta_std} for t in effect.per_test]
    )


def train_label(data: Dataset, index: int) -> str:
    """How a training sample is named in pickers: index, original row id or file, label."""
    ident = data.train_ids[index]
    ident = ident.item() if hasattr(ident, "item") else ident
    return f"#{index} · row {ident} · {data.classes[data.y_train[index]]}" if data.kind == "tabular" \
        else f"#{index} · {ident} · {data.classes[data.y_train[index]]}"
