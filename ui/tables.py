"""Tables for display: the engine's arrays arranged as labelled DataFrames, nothing computed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tda_core import (
    POOL,
    TRAINING,
    Analysis,
    Effect,
    ErrorGroup,
    ErrorReport,
    ErrorSlice,
    GroupRanking,
    Ranking,
    SimilarSamples,
    Subject,
    edit_text,
    subject_of,
)
from tda_core.data import Dataset
from tda_core.estimates import Estimates
from tda_core.recipes import SklearnRecipe

#: Shown where a number does not apply: the p-value of a deterministic model or of a single run.
DASH = "—"
#: Below this size an improvement counts as no change (no colour, "no change").
NO_CHANGE = 1e-12


def count(n: int, noun: str) -> str:
    """'1 test sample', '8 test samples', '0 members'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def train_name(i: int) -> str:
    return TRAINING.sample_name(i)


def test_name(i: int) -> str:
    return f"test #{int(i)}"


def pool_name(j: int) -> str:
    return POOL.sample_name(j)


def number_column(subject: Subject) -> str:
    """The column of a table that numbers its samples: 'train #', 'pool #'."""
    return f"{subject.name} #"


def _sign(metric: str) -> float:
    from tda_core import METRICS

    return METRICS[metric].sign


def direction(metric: str) -> str:
    """'higher is better' or 'lower is better' for a metric's raw values."""
    from tda_core import METRICS

    return "higher is better" if METRICS[metric].sign > 0 else "lower is better"


def why_not(selected: bool, significant: bool, improving: bool, p: float, alpha: float, deterministic: bool) -> str:
    """Why a ranked sample is (not) in the selected group, in words."""
    if selected:
        return "selected"
    if not improving:
        return "does not improve"
    if not significant:
        return "no p-value" if not np.isfinite(p) and not deterministic else f"p ≥ {alpha}: not significant"
    return "beyond the group size"


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
    """Rows and share of each class in each split (train, test, and the pool where there is one)."""
    rows = []
    splits = (("train", data.y_train), ("test", data.y_test)) + ((("pool", data.y_pool),) if data.has_pool else ())
    for split, y in splits:
        counts = np.bincount(y, minlength=data.n_classes)
        for code, name in enumerate(data.classes):
            rows.append({"class": name, "split": split, "rows": int(counts[code]), "share": counts[code] / max(1, len(y))})
    return pd.DataFrame(rows)


def preview_indices(data: Dataset, per_class: int) -> list[int]:
    """Up to ``per_class`` training samples of every class, interleaved: one of each class per round."""
    by_class = [np.flatnonzero(data.y_train == c)[:per_class] for c in range(data.n_classes)]
    return [int(ix[k]) for k in range(per_class) for ix in by_class if k < len(ix)]


def group_label(group: ErrorGroup) -> str:
    """'good → bad', or 'slice tree-1' for an error slice."""
    return f"slice {group.pred}" if group.is_slice else f"{group.true} → {group.pred}"


def slice_kind(slice_id: str) -> str:
    return "rule on the features" if slice_id.startswith("tree-") else "cluster in the representation"


def slices_frame(slices: Sequence[ErrorSlice]) -> pd.DataFrame:
    """The engine's error slices as they come (tree leaves first, then clusters)."""
    return pd.DataFrame(
        [{"slice": s.id, "kind": slice_kind(s.id), "test rows": s.size, "errors": len(s.test_indices),
          "error rate": s.error_rate, "rule or description": s.rule if s.rule is not None else s.description}
         for s in slices],
        columns=["slice", "kind", "test rows", "errors", "error rate", "rule or description"],
    )


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
    frame = pd.DataFrame({"test #": tests})
    if data.kind == "tabular":
        frame = pd.concat([frame, data.X_test.iloc[tests].reset_index(drop=True)], axis=1)
    else:
        frame["file"] = data.test_ids[tests]
    frame["true"] = [data.classes[c] for c in data.y_test[tests]]
    frame["predicted"] = [data.classes[c] for c in report.predicted[tests]]
    frame["loss"] = report.loss[tests]
    for code, name in enumerate(data.classes):
        frame[f"p({name})"] = report.proba_mean[tests, code]
    first = ["test #", "true", "predicted", "loss", *(f"p({name})" for name in data.classes)]
    return frame[first + [c for c in frame.columns if c not in first]]  # the numbers first, then the features


def error_captions(samples: pd.DataFrame, shown: Sequence[int], predicted: str | None = None) -> list[str]:
    """Captions of erroneous test images; ``samples`` comes from :func:`test_samples_frame`. Without
    ``predicted`` (a slice mixes class pairs) each caption names its own true -> predicted pair."""
    rows = samples.set_index("test #")
    captions = []
    for t in shown:
        pred = predicted if predicted is not None else str(rows.at[t, "predicted"])
        pair = "" if predicted is not None else f" · {rows.at[t, 'true']} → {pred}\n"
        captions.append(f"test #{t}{pair}{'' if pair else ' · '}p({pred}) {rows.at[t, 'p(' + pred + ')']:.2f}")
    return captions


def ranking_frame(analysis: Analysis, ranking: Ranking, selected: Sequence[int], alpha: float,
                  rows: int | None = None) -> pd.DataFrame:
    """Ranked training samples (pool samples for add: ``pool #``), best improvement first: what the
    action does to each, its improvement (positive: toward fixing the error, whatever the metric),
    the raw change of the metric, p-value, why it is (not) selected, then who the sample is."""
    data, base = analysis.data, analysis.baseline
    n = len(ranking.index) if rows is None else min(rows, len(ranking.index))
    idx = ranking.index[:n]
    chosen = set(int(i) for i in selected)
    predicted = base.predicted_train
    significant = ranking.significant(alpha)[:n]
    improvement = ranking.improvement[:n]
    subject = ranking.subject
    frame = pd.DataFrame({
        "rank": np.arange(1, n + 1),
        "selected": [int(i) in chosen for i in idx],
        "significant": significant,
        number_column(subject): idx,
        "edit": [edit_text(ranking.action, data, base.relabel_targets, int(i)) for i in idx],
        "improvement": improvement,
    })
    if has_spread(ranking):
        frame["± std"] = ranking.delta_std[:n]
    frame["p-value"] = ranking.p_value[:n] if has_p_values(ranking) else DASH
    frame["why"] = [why_not(int(i) in chosen, bool(s), bool(v > NO_CHANGE), float(p), alpha, ranking.deterministic)
                    for i, s, v, p in zip(idx, significant, improvement, ranking.p_value[:n])]
    frame["accuracy Δ"] = ranking.accuracy_delta_mean[:n]
    if has_spread(ranking):
        frame["accuracy Δ std"] = ranking.accuracy_delta_std[:n]
    frame["change"] = ranking.delta_mean[:n]  # the raw change of the metric (its sign depends on the metric)
    if subject is POOL:  # who the pool samples are (the baseline predicts training and test rows only)
        return pd.concat([frame, pool_frame(data, idx).drop(columns=number_column(POOL))], axis=1)
    frame["label"] = [data.classes[c] for c in data.y_train[idx]]
    frame["baseline prediction"] = [data.classes[c] for c in predicted[idx]]
    if data.kind == "tabular":
        frame["row id"] = data.train_ids[idx]
        frame = pd.concat([frame, data.X_train.iloc[idx].reset_index(drop=True)], axis=1)
    else:
        frame["file"] = data.train_ids[idx]
    return frame


#: Tables with a column per feature are wider than a narrow window by nature: each sits in a container
#: whose key starts with this, its first columns (who, and the numbers that decide) pinned at the left, so
#: only the features scroll. Every other table fits its box at 1024 px (tests/ui/test_round_two.py).
WIDE = "wide_table"


def pinned(config: dict, columns: Sequence[str]) -> dict:
    """``config`` (a dataframe's column_config) with ``columns`` pinned at the left."""
    out = dict(config)
    for name in columns:
        out[name] = {**(out.get(name) or {}), "pinned": True}
    return out


def ranking_columns(table: pd.DataFrame, raw: bool) -> list[str]:
    """The ranking table's columns in reading order: who, what the action does, the improvement and
    its evidence, why (not) selected, then the rest; the raw change only on request."""
    first = ["rank", "train #", "pool #", "pool id", "edit", "improvement", "± std", "p-value", "why", "accuracy Δ", "selected"]
    hidden = {"significant", "accuracy Δ std"} | (set() if raw else {"change"})
    order = [c for c in first if c in table.columns]
    return order + [c for c in table.columns if c not in order and c not in hidden]


def gallery_captions(top: pd.DataFrame) -> list[str]:
    """One short caption per ranked image; ``top`` comes from :func:`ranking_frame`: who it is,
    what the action does to it ('9 → 4'), and its improvement."""
    return [f"{'★ ' if r['selected'] else ''}{sample_name(r)} · {r['edit']}\nimprovement {r['improvement']:+.2g} · "
            + (f"p {r['p-value']:.2g}" if r["p-value"] != DASH else "exact")
            for _, r in top.iterrows()]


def image_details(top: pd.DataFrame, action: str, metric_label: str) -> dict[int, tuple[str, list[str]]]:
    """What an enlarged ranked image says, by its index: who it is, its label and the baseline's
    prediction, what the action does, its effect (± std) and p-value, and why it is (not) selected."""
    out = {}
    for _, r in top.iterrows():
        pool = "pool #" in r
        index = int(r["pool #"] if pool else r["train #"])
        spread = f" ± {r['± std']:.2g}" if "± std" in r else ""
        p = r["p-value"]
        lines = [f"Label: **{r['label']}**" + ("" if pool else f" · baseline prediction: **{r['baseline prediction']}**"),
                 f"What {action} does to it: {r['edit']}",
                 f"Effect: improvement of the {metric_label} **{signed(r['improvement'], 4)}**{spread}",
                 "p-value: " + ("exact (deterministic)" if p == DASH else f"**{p:.2g}**"),
                 f"Rank {int(r['rank'])} · {r['why']}"]
        if "file" in r and isinstance(r["file"], str):
            lines.append(f"File: `{r['file']}`")
        out[index] = (sample_name(r), lines)
    return out


def sample_name(row: pd.Series) -> str:
    """'train #12', or 'pool #3' for a row of a pool sample."""
    subject = next(s for s in (POOL, TRAINING) if number_column(s) in row)
    return subject.sample_name(row[number_column(subject)])


def pool_frame(data: Dataset, indices: Sequence[int]) -> pd.DataFrame:
    """Pool samples by index: who they are (pool id: the row of the pool table, or the image's file),
    their label, and the features of tabular data."""
    idx = np.asarray(indices, dtype=np.int64)
    frame = pd.DataFrame({"pool #": idx, "pool id": [str(data.pool_id(int(j))) for j in idx],
                          "label": [data.classes[c] for c in data.y_pool[idx]]})
    if data.kind == "tabular":
        frame = pd.concat([frame, data.X_pool.iloc[idx].reset_index(drop=True)], axis=1)
    return frame


def pool_captions(frame: pd.DataFrame) -> list[str]:
    """Captions of pool images; ``frame`` comes from :func:`pool_frame`."""
    return [f"pool #{r['pool #']} · {r['label']}\n{r['pool id']}" for _, r in frame.iterrows()]


def group_ranking_frame(ranking: GroupRanking, selected: Sequence[int], alpha: float) -> pd.DataFrame:
    """Candidate training groups, best improvement first: how each was formed, its size and effect
    (``GroupRanking.records()``, one row each)."""
    records = ranking.records()
    best = tuple(int(i) for i in selected)
    frame = pd.DataFrame({
        "rank": np.arange(1, len(records) + 1),
        "best": [tuple(r[TRAINING.indices_key]) == best for r in records],
        "significant": ranking.significant(alpha),
        "group": [r["group_id"] for r in records],
        "kind": [r["kind"] for r in records],
        "size": [len(r[TRAINING.indices_key]) for r in records],
        "improvement": ranking.improvement,
    })
    if has_spread(ranking):
        frame["± std"] = [r["delta_std"] for r in records]
    frame["p-value"] = [np.nan if r["p_value"] is None else r["p_value"] for r in records] if has_p_values(ranking) else DASH
    frame["accuracy Δ"] = [r["accuracy_delta_mean"] for r in records]
    frame["change"] = [r["delta_mean"] for r in records]
    frame["description"] = [r["description"] for r in records]
    return frame


def members_frame(analysis: Analysis, indices: Sequence[int], action: str | None = None) -> pd.DataFrame:
    """Training samples by index: who they are (row id or file, label, the baseline's prediction,
    and the features of tabular data), and what ``action`` does to each."""
    data, base = analysis.data, analysis.baseline
    idx = np.asarray(indices, dtype=np.int64)
    frame = pd.DataFrame({"train #": idx})
    if action is not None:
        frame["edit"] = [edit_text(action, data, base.relabel_targets, int(i)) for i in idx]
    frame["row id" if data.kind == "tabular" else "file"] = data.train_ids[idx]
    frame["label"] = [data.classes[c] for c in data.y_train[idx]]
    frame["baseline prediction"] = [data.classes[c] for c in base.predicted_train[idx]]
    if data.kind == "tabular":
        frame = pd.concat([frame, data.X_train.iloc[idx].reset_index(drop=True)], axis=1)
    return frame


def member_captions(members: pd.DataFrame) -> list[str]:
    """Captions of a group's training images; ``members`` comes from :func:`members_frame`."""
    return [f"train #{r['train #']} · {r.get('edit', r['label'])}\npredicted {r['baseline prediction']}"
            for _, r in members.iterrows()]


#: Rows of the estimates table in candidate mode.
ESTIMATE_ROWS = 1000


def estimates_frame(analysis: Analysis, estimates: Estimates, metric: str, subject: Subject = TRAINING) -> pd.DataFrame:
    """The candidate-mode estimates of the samples that were not retrained, best estimate first;
    pool samples (add) are listed by pool # with their pool id and label."""
    data, base = analysis.data, analysis.baseline
    done = set(estimates.retrained)
    keep = np.array([int(i) not in done for i in estimates.index], dtype=bool)
    idx = estimates.index[keep]
    frame = pd.DataFrame({"estimate rank": np.flatnonzero(keep) + 1, number_column(subject): idx,
                          "estimated improvement": _sign(metric) * estimates.estimate[keep]})
    pool = subject is POOL
    if pool:  # pool indices are not training indices
        frame["pool id"] = [str(data.pool_id(int(j))) for j in idx]
        frame["label"] = [data.classes[c] for c in data.y_pool[idx]]
        return frame
    frame["row id" if data.kind == "tabular" else "file"] = data.train_ids[idx]
    frame["label"] = [data.classes[c] for c in data.y_train[idx]]
    frame["baseline prediction"] = [data.classes[c] for c in base.predicted_train[idx]]
    return frame


def per_test_frame(effect: Effect) -> pd.DataFrame:
    """Each chosen test sample before and after, its improvement (positive: toward fixing the error)
    and raw change (a deterministic model has no spread to show)."""
    from tda_core import METRICS

    sign = METRICS[effect.metric].sign
    frame = pd.DataFrame(
        [{"test #": t.test_index, "before": t.before_mean, "± before": t.before_std, "after": t.after_mean,
          "± after": t.after_std, "improvement": sign * t.delta_mean, "change": t.delta_mean, "± change": t.delta_std}
         for t in effect.per_test]
    )
    return frame.drop(columns=["± before", "± after", "± change"]) if effect.deterministic else frame


def class_accuracy_frame(effect: Effect) -> pd.DataFrame:
    return pd.DataFrame({"class": list(effect.class_accuracy_delta),
                         "accuracy Δ": list(effect.class_accuracy_delta.values())})


def recipe_parameters(recipe) -> pd.DataFrame:
    """The recipe's description, then (for a scikit-learn estimator) its nested parameters as
    scikit-learn names them (``get_params(deep=True)``, without the ``estimator__`` prefix)."""
    rows = {str(k): v for k, v in recipe.describe().items()}
    estimator = recipe.estimator if isinstance(recipe, SklearnRecipe) else None
    if estimator is not None:
        rows["estimator"] = type(estimator).__name__
        for name, value in recipe.get_params(deep=True).items():
            if name.startswith("estimator__") and isinstance(value, (int, float, str, bool, type(None))):
                rows.setdefault(name.removeprefix("estimator__"), value)
    return pd.DataFrame({"parameter": list(rows), "value": [str(v) for v in rows.values()]})


def fix_label(data: Dataset, targets: np.ndarray | None, action: str, index: int) -> str:
    """A training sample (a pool sample for add) in the fix page's picker: its number and what the
    action does to it. One numbering only (see :func:`train_label`); the Changes table below gives
    each row's original id."""
    return f"{subject_of(action).sample_name(index)} · {edit_text(action, data, targets, index)}"


def train_label(data: Dataset, index: int) -> str:
    """How a training sample is named in pickers: its index and label (one numbering only: a typed
    number then finds that row, not also the rows whose original id holds those digits; the table
    below the picker gives the original row id or file)."""
    return f"train #{index} · {data.classes[data.y_train[index]]}"


def signed_colour(value) -> str:
    """CSS for a signed number where positive is better: green, red, or no colour for no change."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    if not np.isfinite(v) or abs(v) <= NO_CHANGE:
        return ""
    return "color: #2e7d32" if v > 0 else "color: #c62828"


#: Tables longer than this are drawn without colours (styling every cell of a huge table is slow).
STYLE_ROWS = 20_000


def coloured(frame: pd.DataFrame, better_up: Sequence[str]):
    """``frame`` styled: the columns in ``better_up`` (positive is better) green or red, no colour at 0."""
    columns = [c for c in better_up if c in frame.columns]
    if len(frame) > STYLE_ROWS or not columns:
        return frame
    return frame.style.map(signed_colour, subset=columns)


def signed(value: float, digits: int = 4) -> str:
    """'+0.0123', '−0.0123', and '0.0000' for a change that rounds to nothing (never '-0.0000')."""
    text = f"{float(value):+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def accuracy_delta(effect: Effect) -> str:
    """The change of the ensemble's test accuracy, with the members' spread: '+0.015 ± 0.004'."""
    change = signed(effect.accuracy_change, 3)
    return change if effect.deterministic else f"{change} ± {effect.accuracy_delta_std:.3f} over members"


def accuracy_help(effect: Effect) -> str:
    n = int(effect.confusion_before.sum())
    before, after = int(n - np.trace(effect.confusion_before)), int(n - np.trace(effect.confusion_after))
    return (f"The ensemble's mean prediction, as the error counts and the matrices give it: {before:,} → {after:,} "
            f"errors of {n:,} test samples, so {effect.accuracy_before:.3f} → {effect.accuracy_after:.3f}. ±: the spread "
            f"of the members' paired changes (their mean: {effect.accuracy_delta_mean:+.3f}).")


def closest_to_errors(report: ErrorReport, data: Dataset, n: int = 10) -> pd.DataFrame:
    """The ``n`` test samples whose ensemble prediction is right by the smallest margin."""
    proba = report.proba_mean
    rows = np.arange(len(proba))
    p_true = proba[rows, data.y_test]
    other = proba.copy()
    other[rows, data.y_test] = -1.0
    runner = other.argmax(axis=1)
    margin = p_true - other[rows, runner]
    order = [int(t) for t in np.argsort(margin, kind="stable") if margin[t] >= 0][:n]
    return pd.DataFrame({"test #": order, "true": [data.classes[data.y_test[t]] for t in order],
                         "p(true)": p_true[order], "next class": [data.classes[runner[t]] for t in order],
                         "p(next)": other[order, runner[order]], "margin": margin[order]})


def cell_note(effect: Effect, data: Dataset, group: ErrorGroup) -> str:
    """Why the chosen cell's count differs from 'before − fixed': samples that entered it."""
    t, p = group.true_code, group.pred_code
    if effect.predicted_after is None:
        return ""
    left, entered = effect.cell_moves(data.y_test, t, p)
    before, after = int(effect.confusion_before[t, p]), int(effect.confusion_after[t, p])
    if not entered:
        return ""
    return (f"The chosen cell ({group.true} → {group.pred}) counts {before} before and {after} after: "
            f"{count(left, 'test sample')} left it ({effect.errors_fixed} of the chosen errors fixed), and "
            f"{count(entered, 'other test sample')} of class {group.true}, right before the fix or wrong in another way, "
            f"{'is' if entered == 1 else 'are'} now predicted {group.pred}: "
            f"{'it counts' if entered == 1 else 'they count'} among the new errors or the moved ones.")


def delta_colour(value: float) -> str:
    """``delta_color`` of a metric whose delta is the signed ``value`` (positive is better): green
    or red as Streamlit reads the sign, none for no change."""
    return "off" if abs(float(value)) <= NO_CHANGE else "normal"


def words_colour(value: float) -> str:
    """``delta_color`` of a delta written in words ('6 fixed, 7 new': no sign for Streamlit to
    read) that is better when ``value`` is positive: green, red, or none for no change."""
    return "off" if abs(float(value)) <= NO_CHANGE else ("normal" if value > 0 else "inverse")


def similar_frame(analysis: Analysis, similar: SimilarSamples, ranking: Ranking) -> pd.DataFrame:
    """The training samples (pool samples beside an add ranking: ``pool #``) nearest the chosen
    errors, nearest first, beside their measured effect: their place in the ranking, improvement,
    raw change and p-value (empty where not retrained)."""
    data = analysis.data
    place = {int(i): r for r, i in enumerate(ranking.index)}
    idx = np.asarray(similar.indices, dtype=np.int64)
    ranked = [place.get(int(i)) for i in idx]
    pool = similar.subject is POOL
    frame = pd.DataFrame({
        number_column(similar.subject): idx,
        "label": list(similar.labels),
        "distance": list(similar.distance),
        "rank by effect": [np.nan if r is None else r + 1 for r in ranked],
        "improvement": [np.nan if r is None else float(ranking.improvement[r]) for r in ranked],
        "change": [np.nan if d is None else d for d in similar.delta_mean],
        "p-value": [np.nan if p is None else p for p in similar.p_value],
    })
    if data.kind == "tabular":
        features = data.X_pool if pool else data.X_train
        frame = pd.concat([frame, features.iloc[idx].reset_index(drop=True)], axis=1)
    return frame


def similar_captions(similar: pd.DataFrame) -> list[str]:
    """Captions of similar training images; ``similar`` comes from :func:`similar_frame`."""
    return [f"{sample_name(r)} · {r['label']}\ndistance {r['distance']:.2f} · "
            + ("not retrained" if not np.isfinite(r["improvement"]) else f"improvement {r['improvement']:+.2g}")
            for _, r in similar.iterrows()]
