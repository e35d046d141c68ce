"""A self-contained triage report: one HTML file that opens offline in any browser.

It holds the data and the model, the errors and the confusion matrix, the chosen settings, the
ranking (top 50) with effects, p-values (or "exact" for a deterministic model) and the
reliability with its verdict, the group effect with the confusion matrices before and after,
errors fixed / new / net benefit, the warnings, and the feature attributions.

Nothing in it reaches the network: no script, font, style sheet or image is loaded from
anywhere. The page is rendered from ``templates/report.html.j2`` by Jinja2 with autoescape, so
every name and word from the data is escaped. Charts are inline SVG drawn by the template from
the geometry computed here (no Vega runtime ships offline with this project:
``altair`` fetches vega-embed from a CDN and ``vl-convert-python`` is not a dependency), and
each chart's Vega-Lite specification is embedded beside it as JSON data
(``<script type="application/vnd.vegalite+json">``, which a browser does not run) so that it
can be opened in a Vega editor. Pictures are PNG ``data:`` URIs.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np

from ._actions import TRAINING, get_action
from ._stats import reliability_verdict
from ._training_groups import GroupRanking

if TYPE_CHECKING:  # pragma: no cover
    from ._analysis import Analysis, Attribution
    from ._feature_attribution import FeatureAttribution
    from .data import Dataset

TOP_RANKING = 50
CHART_BARS = 20
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"  # an identifier inside JSON data; never fetched

#: Confusion cells, the same in the report and the dashboard (ui.charts): correct counts (the
#: diagonal) from light to dark blue, errors from light orange to dark red, by count.
CORRECT_RAMP = ("#eff3ff", "#9ecae1", "#4292c6", "#08519c")
ERROR_RAMP = ("#fff0d9", "#fdae6b", "#e6550d", "#a50f15")
EMPTY_CELL = "#ffffff"


def _rgb(colour: str) -> tuple[float, float, float]:
    colour = colour.lstrip("#")
    return tuple(int(colour[k:k + 2], 16) / 255 for k in (0, 2, 4))  # type: ignore[return-value]


def ramp_colour(ramp: Sequence[str], fraction: float) -> str:
    """The colour at ``fraction`` (0..1) along a ramp of stops, linearly between them."""
    fraction = min(1.0, max(0.0, float(fraction)))
    stops = [_rgb(c) for c in ramp]
    at = fraction * (len(stops) - 1)
    k = min(int(at), len(stops) - 2)
    t = at - k
    mixed = [a + (b - a) * t for a, b in zip(stops[k], stops[k + 1])]
    return "#" + "".join(f"{round(v * 255):02x}" for v in mixed)


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    linear = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in _rgb(colour)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two colours (1 to 21)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_colour(fill: str) -> str:
    """Black or white, whichever reads better on ``fill``: at least 4.58:1 on any colour (WCAG AA)."""
    return "#000000" if contrast(fill, "#000000") >= contrast(fill, "#ffffff") else "#ffffff"


def cell_colour(count: int, correct: bool, top_correct: int, top_error: int) -> str:
    """The fill of one confusion cell: blue ramp on the diagonal, orange to red off it, none if empty."""
    if count <= 0:
        return EMPTY_CELL
    return ramp_colour(CORRECT_RAMP, count / max(1, top_correct)) if correct else \
        ramp_colour(ERROR_RAMP, count / max(1, top_error))


def cell_colours(matrix: np.ndarray) -> list[list[tuple[str, str]]]:
    """(fill, text colour) of every cell of a confusion matrix, rows the true class."""
    matrix = np.asarray(matrix)
    n = len(matrix)
    diagonal = np.eye(n, dtype=bool)
    top_correct = int(matrix[diagonal].max()) if n else 1
    top_error = int(matrix[~diagonal].max()) if n > 1 else 1
    out = []
    for i in range(n):
        row = []
        for j in range(n):
            fill = cell_colour(int(matrix[i, j]), i == j, top_correct, top_error)
            row.append((fill, text_colour(fill)))
        out.append(row)
    return out

@functools.cache
def _template() -> jinja2.Template:
    """templates/report.html.j2, autoescaped: the data's names and words are escaped as they are
    rendered; only the Vega-Lite specifications go in as JSON (``tojson``, safe inside a script)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("tda_core", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = format
    env.policies["json.dumps_kwargs"] = {"allow_nan": False}
    return env.get_template("report.html.j2")


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:+.{digits}f}" if digits else f"{value:+d}"


def _p(value: float | None, deterministic: bool) -> str:
    if deterministic:
        return "exact"
    return "n/a" if value is None else f"{value:.3g}"


def png_data_uri(picture: np.ndarray) -> str:
    """A uint8 (H, W, 3) or (H, W) picture as a PNG ``data:`` URI."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(picture)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def saliency_overlay(thumbnail: np.ndarray, saliency: np.ndarray) -> np.ndarray:
    """The thumbnail (H, W, 3) tinted red where the map pushes toward the predicted class and blue
    where it pushes away, in proportion to the map's magnitude (its 99th percentile is full colour,
    so that a few extreme pixels do not wash the rest out)."""
    from PIL import Image

    h, w = thumbnail.shape[:2]
    scale = float(np.percentile(np.abs(saliency), 99)) or float(np.max(np.abs(saliency))) or 1.0
    resized = np.asarray(Image.fromarray((saliency / scale).astype(np.float32), mode="F").resize((w, h), Image.Resampling.NEAREST))
    grey = thumbnail.astype(np.float64).mean(axis=2, keepdims=True) * np.ones(3)
    tint = np.zeros((h, w, 3))
    tint[..., 0] = np.clip(resized, 0, 1) * 255
    tint[..., 2] = np.clip(-resized, 0, 1) * 255
    alpha = np.clip(np.abs(resized), 0, 1)[..., None] * 0.85
    return np.clip(grey * (1 - alpha) + tint * alpha, 0, 255).astype(np.uint8)


def bar_chart(labels: Sequence[str], values: Sequence[float], errors: Sequence[float] | None = None,
              highlight: Sequence[bool] | None = None, title: str = "", value_label: str = "") -> dict[str, Any]:
    """A horizontal bar chart (negative values to the left of zero): the geometry that the
    template draws as inline SVG, and its Vega-Lite specification, embedded beside it."""
    values = [float(v) for v in values]
    errors = [float(e) for e in errors] if errors is not None else [0.0] * len(values)
    highlight = list(highlight) if highlight is not None else [False] * len(values)
    extent = max([abs(v) + e for v, e in zip(values, errors)] + [1e-12])
    left, width, row = 150, 420, 18
    zero = left + width / 2
    bars = []
    for k, (label, v, err, hi) in enumerate(zip(labels, values, errors, highlight)):
        x0, x1 = sorted((zero, zero + v / extent * width / 2))
        std_line = None
        if err > 0:
            std_line = (f"{zero + (v - err) / extent * width / 2:.1f}", f"{zero + (v + err) / extent * width / 2:.1f}")
        bars.append({"label": label, "y": 22 + k * row, "x": f"{x0:.1f}", "width": f"{max(x1 - x0, 0.5):.1f}",
                     "colour": "#2b6cb0" if hi else "#8fb3dd", "std_line": std_line, "value": f"{v:+.4g}"})
    spec = {
        "$schema": VEGA_LITE_SCHEMA,
        "title": title, "data": {"values": [{"label": str(lab), "value": v, "std": e, "highlight": bool(h)}
                                            for lab, v, e, h in zip(labels, values, errors, highlight)]},
        "layer": [
            {"mark": "bar", "encoding": {"y": {"field": "label", "type": "nominal", "sort": None, "title": None},
                                         "x": {"field": "value", "type": "quantitative", "title": value_label},
                                         "color": {"field": "highlight", "type": "nominal", "legend": None}}},
            {"mark": "rule", "transform": [{"calculate": "datum.value - datum.std", "as": "lo"},
                                           {"calculate": "datum.value + datum.std", "as": "hi"}],
             "encoding": {"y": {"field": "label", "type": "nominal", "sort": None}, "x": {"field": "lo", "type": "quantitative"},
                          "x2": {"field": "hi"}}},
        ],
    }
    return {"title": title, "value_label": value_label, "left": left, "zero": zero, "right": left + width + 4,
            "width": left + width + 90, "height": row * len(values) + 40, "bar_height": row - 5, "bars": bars, "spec": spec}


def confusion_table(matrix: np.ndarray, classes: Sequence[str], caption: str, mark: tuple[str, str] | None = None) -> dict[str, Any]:
    """A confusion matrix (rows: true class, columns: predicted) coloured as the dashboard colours it:
    correct counts blue, errors orange to red, the chosen cell framed in black."""
    matrix = np.asarray(matrix)
    colours = cell_colours(matrix)
    rows = []
    for i, true in enumerate(classes):
        cells = []
        for j, pred in enumerate(classes):
            fill, ink = colours[i][j]
            style = f"background:{fill};color:{ink}"
            if mark == (true, pred):
                style += ";outline:3px solid #000000;outline-offset:-3px"
            cells.append((int(matrix[i, j]), style))
        rows.append((true, cells))
    return {"caption": caption, "classes": list(classes), "rows": rows}


def heatmap_table(fa: FeatureAttribution, row_labels: Sequence[str]) -> dict[str, Any]:
    """Feature attributions as a heatmap table: red toward the predicted class, blue away from it."""
    values = np.vstack([fa.error[None], fa.train])
    scale = float(np.max(np.abs(values))) or 1.0
    rows = [(label, [(f"{v:+.3g}", f"rgba(208,48,48,{abs(v) / scale:.2f})" if v > 0 else f"rgba(43,108,176,{abs(v) / scale:.2f})")
                     for v in row]) for label, row in zip(row_labels, values)]
    return {"features": [f"{f} ★" if f in fa.shared else f for f in fa.features], "rows": rows}


def _sample_ranking(result: Attribution, doc: dict[str, Any], data: Dataset, deterministic: bool) -> dict[str, Any]:
    """The ranking of training samples, or of pool samples (add): chart, table and gallery."""
    chosen = set(result.selected)
    rows = doc["ranking"][:TOP_RANKING]
    subject = result.ranking.subject
    key, word, y_of, thumbnails = subject.index_key, subject.name, subject.labels(data), subject.thumbnails(data)
    top = rows[:CHART_BARS]
    chart = bar_chart([f"{word} {r[key]}" for r in top], [r["delta_mean"] for r in top], [r["delta_std"] for r in top],
                      [r[key] in chosen for r in top],
                      f"Effect of {doc['action']} on {doc['metric']}, top {min(CHART_BARS, len(rows))}", f"delta {doc['metric']}")
    table = [{"rank": rank, "index": r[key], "row_id": r.get(f"{subject.name}_id", subject.row_id(data, r[key])),
              "label": data.classes[y_of[r[key]]], "delta": _num(r["delta_mean"]), "std": f"{r['delta_std']:.4f}",
              "p_value": _p(r["p_value"], deterministic), "accuracy_delta": _num(r["accuracy_delta_mean"]),
              "selected": r[key] in chosen} for rank, r in enumerate(rows, 1)]
    gallery = []
    if data.kind == "images" and thumbnails is not None:
        gallery = [{"index": r[key], "src": png_data_uri(thumbnails[r[key]]), "label": data.classes[y_of[r[key]]],
                    "delta": _num(r["delta_mean"])} for r in rows[:10]]
    return {"chart": chart, "word": word, "rows": table, "scored": len(doc["ranking"]), "noun": subject.noun, "gallery": gallery}


def _group_effect(result: Attribution, doc: dict[str, Any], classes: Sequence[str], deterministic: bool) -> dict[str, Any] | None:
    effect = result.effect
    if effect is None:
        return None
    e, group, metric = doc["group_effect"], result.group, doc["metric"]
    per_test = e["per_test"][:CHART_BARS]
    return {
        "pairs": [
            (f"{effect.subject.noun}s {get_action(effect.action).past}", ", ".join(map(str, effect.indices))),
            (f"delta {metric}", f"{_num(e['delta_mean'])} ± {e['delta_std']:.4f} (p-value {_p(e['p_value'], deterministic)})"),
            ("test accuracy", f"{effect.accuracy_before:.3f} → {effect.accuracy_after:.3f} "
                              f"({_num(effect.accuracy_change)} ± {e['accuracy_delta_std']:.4f} over members)"),
            ("errors fixed", e["errors_fixed"]), ("new errors", e["errors_new"]), ("net benefit", f"{e['net_benefit']:+d}"),
        ],
        "before": confusion_table(effect.confusion_before, classes, "Before", (group.true, group.pred)),
        "after": confusion_table(effect.confusion_after, classes, "After", (group.true, group.pred)),
        "chart": bar_chart([f"test {t['test_index']}" for t in per_test], [t["delta_mean"] for t in per_test],
                           [t["delta_std"] for t in per_test], None, f"Change of {metric} on each chosen test sample", f"delta {metric}"),
    }


def _features(features: FeatureAttribution, data: Dataset) -> dict[str, Any]:
    labels = [f"test {features.test_index} (error)"] + [f"train {i}" for i in features.train_indices]
    pictures = []
    if (features.error_map is not None and features.train_maps is not None and data.thumbnails_test is not None
            and data.thumbnails_train is not None):
        shown = [(labels[0], data.thumbnails_test[features.test_index], features.error_map)]
        shown += [(lab, data.thumbnails_train[i], m) for lab, i, m in zip(labels[1:], features.train_indices, features.train_maps)]
        pictures = [{"label": lab, "thumbnail": png_data_uri(thumb), "saliency": png_data_uri(saliency_overlay(thumb, smap))}
                    for lab, thumb, smap in shown]
    return {"sentence": features.sentence, "method": features.method, "pred": features.pred,
            "against": None if data.kind == "images" else features.true, "heatmap": heatmap_table(features, labels),
            "pictures": pictures}


def triage_report(analysis: Analysis, result: Attribution, features: FeatureAttribution | None = None,
                  started: float | None = None, title: str | None = None, features_note: str = "Not computed.") -> str:
    """The report as one HTML document (see the module docstring)."""
    import time

    from ._output import attribution_json

    doc = attribution_json(analysis, result, time.perf_counter() if started is None else started)
    data, errors, baseline = analysis.data, analysis.errors, analysis.baseline
    deterministic = bool(doc["deterministic"])
    group = result.group
    model = doc["model"]
    reliability = doc["reliability"]
    return _template().render(
        title=title or f"Triage: {group.true} → {group.pred} in {data.name}",
        made=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        data_and_model=[
            ("data", data.name), ("kind", data.kind), ("training rows", data.n_train), ("test rows", data.n_test),
            ("classes", ", ".join(data.classes)), ("model", model["name"]),
            ("ensemble", "deterministic: trained once per edit, effects exact" if deterministic else f"{model['ensemble']} members (seeds)"),
        ],
        errors=errors,
        baseline_confusion=confusion_table(errors.confusion, data.classes, "Baseline ensemble", (group.true, group.pred)),
        error_groups=errors.groups[:10],
        settings=[
            ("error group", f"{group.true} → {group.pred}"), ("test samples", ", ".join(map(str, group.test_indices))),
            ("action", doc["action"]), ("metric", doc["metric"]), ("unit", doc["unit"]), ("group size", doc["size"]),
            ("alpha", doc["alpha"]),
        ],
        reliability="n/a" if reliability is None else f"{reliability:.2f}",
        verdict=reliability_verdict(reliability),
        metric=doc["metric"],
        samples=_sample_ranking(result, doc, data, deterministic) if doc["unit"] == "sample" else None,
        groups=[] if doc["unit"] == "sample" else [
            {"group_id": r["group_id"], "kind": r["kind"], "size": len(r[TRAINING.indices_key]), "delta": _num(r["delta_mean"]),
             "std": f"{r['delta_std']:.4f}", "p_value": _p(r["p_value"], deterministic),
             "accuracy_delta": _num(r["accuracy_delta_mean"])} for r in doc["ranking"][:TOP_RANKING]],
        effect=_group_effect(result, doc, data.classes, deterministic),
        alpha=result.alpha,
        warnings=doc["warnings"],
        features=None if features is None else _features(features, data),
        features_note=features_note,
        retrains=doc["timing"]["retrains"], cache_hits=doc["timing"]["cache_hits"],
        seeds=[m.seed for m in baseline.members],
    )


def top_train_indices(result: Attribution, k: int = 5) -> tuple[int, ...]:
    """The training samples whose features are shown beside the error: the selected ones, else
    the top of the ranking (at most ``k``)."""
    if result.selected:
        return tuple(result.selected[:k])
    ranking = result.ranking
    if isinstance(ranking, GroupRanking):
        return tuple(ranking.groups[0].train_indices[:k]) if ranking.groups else ()
    return tuple(int(i) for i in ranking.index[:k])


def build_report(analysis: Analysis, result: Attribution, started: float | None = None, k: int = 5) -> str:
    """The report with the feature attributions of the group's first test sample and its top
    ``k`` training samples; a model they are not available for is said in the report."""
    from ._exceptions import TDAError
    from ._feature_attribution import feature_attribution

    note = "Not computed."
    features = None
    if result.ranking.subject is not TRAINING:
        # Feature attributions explain training samples; an add ranking lists pool samples.
        return triage_report(analysis, result, None, started, features_note="Not shown for add: the ranking lists pool samples, "
                             "and feature attributions are computed beside training samples.")
    try:
        features = feature_attribution(analysis, result.group.test_indices[0], top_train_indices(result, k),
                                       pred=None if result.group.is_slice else result.group.pred,
                                       true=None if result.group.is_slice else result.group.true)
    except TDAError as exc:
        note = f"Not available: {exc}"
    return triage_report(analysis, result, features, started, features_note=note)
