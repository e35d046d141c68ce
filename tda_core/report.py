"""A self-contained triage report: one HTML file that opens offline in any browser.

It holds the data and the model, the errors and the confusion matrix, the chosen settings, the
ranking (top 50) with effects, p-values (or "exact" for a deterministic model) and the
reliability with its verdict, the group effect with the confusion matrices before and after,
errors fixed / new / net benefit, the warnings, and the feature attributions.

Nothing in it reaches the network: no script, font, style sheet or image is loaded from
anywhere. Charts are inline SVG drawn here (no Vega runtime ships offline with this project:
``altair`` fetches vega-embed from a CDN and ``vl-convert-python`` is not a dependency), and
each chart's Vega-Lite specification is embedded beside it as JSON data
(``<script type="application/vnd.vegalite+json">``, which a browser does not run) so that it
can be opened in a Vega editor. Pictures are PNG ``data:`` URIs.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .actions import TRAINING, get_action
from .stats import reliability_verdict
from .training_groups import GroupRanking

if TYPE_CHECKING:  # pragma: no cover
    from .analysis import Analysis, Attribution
    from .feature_attribution import FeatureAttribution

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

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#1d2330;padding:0 16px}
h1{font-size:1.6em;margin-bottom:0}h2{border-bottom:1px solid #d5d9e0;padding-bottom:4px;margin-top:32px}
.sub{color:#5b6475;margin-top:4px}table{border-collapse:collapse;margin:8px 0;font-size:.9em}
th,td{border:1px solid #d5d9e0;padding:3px 8px;text-align:right}th{background:#f3f5f8}td.l,th.l{text-align:left}
.kv td:first-child{text-align:left;color:#5b6475}.warn{background:#fff6e0;border-left:4px solid #f0a500;padding:6px 10px;margin:6px 0}
.note{color:#5b6475;font-size:.9em}.sel{font-weight:600;background:#eaf3ff}.pair{display:flex;gap:32px;flex-wrap:wrap}
.gallery{display:flex;gap:12px;flex-wrap:wrap}.gallery figure{margin:0;text-align:center;font-size:.8em}
.gallery img{width:96px;height:96px;image-rendering:pixelated;border:1px solid #d5d9e0}
.big{font-size:1.25em;font-weight:600}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


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


def _vega(spec: dict[str, Any]) -> str:
    text = json.dumps({"$schema": VEGA_LITE_SCHEMA} | spec, allow_nan=False).replace("</", "<\\/")
    return f'<script type="application/vnd.vegalite+json">{text}</script>'


def bar_chart(labels: Sequence[str], values: Sequence[float], errors: Sequence[float] | None = None,
              highlight: Sequence[bool] | None = None, title: str = "", value_label: str = "") -> str:
    """A horizontal bar chart as inline SVG (negative values to the left of zero), with its
    Vega-Lite specification embedded beside it."""
    values = [float(v) for v in values]
    errors = [float(e) for e in errors] if errors is not None else [0.0] * len(values)
    highlight = list(highlight) if highlight is not None else [False] * len(values)
    extent = max([abs(v) + e for v, e in zip(values, errors)] + [1e-12])
    left, width, row = 150, 420, 18
    height = row * len(values) + 40
    zero = left + width / 2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{height}" role="img" '
             f'aria-label="{_e(title)}"><title>{_e(title)}</title>',
             f'<line x1="{zero}" y1="20" x2="{zero}" y2="{height - 16}" stroke="#8a93a5"/>',
             f'<text x="{left}" y="12" font-size="11" fill="#5b6475">{_e(value_label)} (bar: mean, line: ± std)</text>']
    for k, (label, v, err, hi) in enumerate(zip(labels, values, errors, highlight)):
        y = 22 + k * row
        x0, x1 = sorted((zero, zero + v / extent * width / 2))
        colour = "#2b6cb0" if hi else "#8fb3dd"
        parts.append(f'<text x="{left - 6}" y="{y + 12}" font-size="11" text-anchor="end">{_e(label)}</text>')
        parts.append(f'<rect x="{x0:.1f}" y="{y + 2}" width="{max(x1 - x0, 0.5):.1f}" height="{row - 5}" fill="{colour}"/>')
        if err > 0:
            a, b = zero + (v - err) / extent * width / 2, zero + (v + err) / extent * width / 2
            parts.append(f'<line x1="{a:.1f}" y1="{y + 8}" x2="{b:.1f}" y2="{y + 8}" stroke="#1d2330"/>')
        parts.append(f'<text x="{left + width + 4}" y="{y + 12}" font-size="11">{v:+.4g}</text>')
    parts.append("</svg>")
    spec = {
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
    return "".join(parts) + _vega(spec)


def confusion_table(matrix: np.ndarray, classes: Sequence[str], caption: str, mark: tuple[str, str] | None = None) -> str:
    """A confusion matrix (rows: true class, columns: predicted) coloured as the dashboard colours it:
    correct counts blue, errors orange to red, the chosen cell framed in black."""
    matrix = np.asarray(matrix)
    colours = cell_colours(matrix)
    head = "".join(f"<th>{_e(c)}</th>" for c in classes)
    rows = []
    for i, true in enumerate(classes):
        cells = []
        for j, pred in enumerate(classes):
            fill, ink = colours[i][j]
            style = f"background:{fill};color:{ink}"
            if mark == (true, pred):
                style += ";outline:3px solid #000000;outline-offset:-3px"
            cells.append(f'<td style="{style}">{int(matrix[i, j])}</td>')
        rows.append(f'<tr><th class="l">{_e(true)}</th>{"".join(cells)}</tr>')
    return (f'<table><caption class="note">{_e(caption)} (rows: true class, columns: predicted)</caption>'
            f'<tr><th class="l">true \\ predicted</th>{head}</tr>{"".join(rows)}</table>')


def _kv(pairs: Sequence[tuple[str, Any]]) -> str:
    return '<table class="kv">' + "".join(f'<tr><td>{_e(k)}</td><td class="l">{_e(v)}</td></tr>' for k, v in pairs) + "</table>"


def heatmap_table(fa: FeatureAttribution, row_labels: Sequence[str]) -> str:
    """Feature attributions as a heatmap table: red toward the predicted class, blue away from it."""
    values = np.vstack([fa.error[None], fa.train])
    scale = float(np.max(np.abs(values))) or 1.0
    head = "".join(f'<th>{_e(f)}{" ★" if f in fa.shared else ""}</th>' for f in fa.features)
    rows = []
    for label, row in zip(row_labels, values):
        cells = []
        for v in row:
            a = abs(v) / scale
            colour = f"rgba(208,48,48,{a:.2f})" if v > 0 else f"rgba(43,108,176,{a:.2f})"
            cells.append(f'<td style="background:{colour}">{v:+.3g}</td>')
        rows.append(f'<tr><th class="l">{_e(label)}</th>{"".join(cells)}</tr>')
    return f'<table><tr><th class="l">sample</th>{head}</tr>{"".join(rows)}</table>'


def triage_report(analysis: Analysis, result: Attribution, features: FeatureAttribution | None = None,
                  started: float | None = None, title: str | None = None, features_note: str = "Not computed.") -> str:
    """The report as one HTML document (see the module docstring)."""
    import time

    from .output import attribution_json

    doc = attribution_json(analysis, result, time.perf_counter() if started is None else started)
    data, errors, baseline = analysis.data, analysis.errors, analysis.baseline
    deterministic = bool(doc["deterministic"])
    group = result.group
    title = title or f"Triage: {group.true} → {group.pred} in {data.name}"
    out: list[str] = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p class='sub'>Made by tda_core on {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}; every effect below comes "
        "from retraining the model, not from an estimate.</p>",
    ]
    model = doc["model"]
    members = "deterministic: trained once per edit, effects exact" if deterministic else f"{model['ensemble']} members (seeds)"
    out += ["<h2>Data and model</h2>", _kv([
        ("data", data.name), ("kind", data.kind), ("training rows", data.n_train), ("test rows", data.n_test),
        ("classes", ", ".join(data.classes)), ("model", model["name"]), ("ensemble", members),
    ])]
    out += ["<h2>Errors</h2>",
            f"<p class='big'>Test accuracy {errors.accuracy:.3f} ± {errors.accuracy_std:.3f}</p>",
            f"<p class='note'>{errors.n_errors:,} test errors of {errors.n_test:,}: the accuracy of the ensemble's mean "
            "prediction, which decides the errors; ± the spread of the members' own accuracies.</p>",
            confusion_table(errors.confusion, data.classes, "Baseline ensemble", (group.true, group.pred))]
    groups = "".join(f"<tr><td class='l'>{_e(g.true)} → {_e(g.pred)}</td><td>{g.count}</td></tr>" for g in errors.groups[:10])
    out.append(f"<table><tr><th class='l'>error group</th><th>test samples</th></tr>{groups}</table>")
    out += ["<h2>Settings</h2>", _kv([
        ("error group", f"{group.true} → {group.pred}"), ("test samples", ", ".join(map(str, group.test_indices))),
        ("action", doc["action"]), ("metric", doc["metric"]), ("unit", doc["unit"]), ("group size", doc["size"]),
        ("alpha", doc["alpha"]),
    ])]
    # The ranking.
    reliability = doc["reliability"]
    rel = "n/a" if reliability is None else f"{reliability:.2f}"
    out += ["<h2>Ranking</h2>",
            f"<p><b>Reliability of the ranking: {rel}</b>, {_e(reliability_verdict(reliability))}.</p>"]
    chosen = set(result.selected)
    rows = doc["ranking"][:TOP_RANKING]
    if doc["unit"] == "sample":
        # A ranking of training samples, or of pool samples (add).
        subject = result.ranking.subject
        key, word, y_of, thumbnails = subject.index_key, subject.name, subject.labels(data), subject.thumbnails(data)
        labels = [f"{word} {r[key]}" for r in rows[:CHART_BARS]]
        out.append(bar_chart(labels, [r["delta_mean"] for r in rows[:CHART_BARS]], [r["delta_std"] for r in rows[:CHART_BARS]],
                             [r[key] in chosen for r in rows[:CHART_BARS]],
                             f"Effect of {doc['action']} on {doc['metric']}, top {min(CHART_BARS, len(rows))}", f"delta {doc['metric']}"))
        body = []
        for rank, r in enumerate(rows, 1):
            i = r[key]
            row_id = r.get(f"{subject.name}_id", subject.row_id(data, i))
            cls = " class='sel'" if i in chosen else ""
            body.append(f"<tr{cls}><td>{rank}</td><td>{i}</td><td class='l'>{_e(row_id)}</td>"
                        f"<td class='l'>{_e(data.classes[y_of[i]])}</td><td>{_num(r['delta_mean'])}</td>"
                        f"<td>{r['delta_std']:.4f}</td><td>{_p(r['p_value'], deterministic)}</td>"
                        f"<td>{_num(r['accuracy_delta_mean'])}</td><td>{'✓' if i in chosen else ''}</td></tr>")
        out.append(f"<table><tr><th>rank</th><th>{word} index</th><th class='l'>row id</th><th class='l'>label</th>"
                   f"<th>delta {_e(doc['metric'])} (mean)</th><th>std</th><th>p-value</th><th>accuracy delta</th><th>selected</th></tr>"
                   + "".join(body) + "</table>")
        out.append(f"<p class='note'>Top {len(rows)} of {len(doc['ranking'])} scored {subject.noun}s, best improvement first.</p>")
        if data.kind == "images" and thumbnails is not None:
            out.append("<div class='gallery'>" + "".join(
                f"<figure><img alt='{word} {r[key]}' src='{png_data_uri(thumbnails[r[key]])}'>"
                f"<figcaption>{word} {r[key]}<br>{_e(data.classes[y_of[r[key]]])}<br>"
                f"{_num(r['delta_mean'])}</figcaption></figure>" for r in rows[:10]) + "</div>")
    else:
        group_rows = "".join(
            f"<tr><td class='l'>{_e(r['group_id'])}</td><td class='l'>{_e(r['kind'])}</td><td>{len(r[TRAINING.indices_key])}</td>"
            f"<td>{_num(r['delta_mean'])}</td><td>{r['delta_std']:.4f}</td><td>{_p(r['p_value'], deterministic)}</td>"
            f"<td>{_num(r['accuracy_delta_mean'])}</td></tr>" for r in rows)
        out.append("<table><tr><th class='l'>candidate group</th><th class='l'>kind</th><th>samples</th><th>delta (mean)</th>"
                   f"<th>std</th><th>p-value</th><th>accuracy delta</th></tr>{group_rows}</table>")
    # The group effect.
    out.append("<h2>Group effect</h2>")
    effect = result.effect
    if effect is None:
        out.append(f"<p>Nothing has a significant improving effect at alpha = {result.alpha}: no group was retrained.</p>")
    else:
        e = doc["group_effect"]
        out.append(_kv([
            (f"{effect.subject.noun}s {get_action(effect.action).past}", ", ".join(map(str, effect.indices))),
            (f"delta {doc['metric']}", f"{_num(e['delta_mean'])} ± {e['delta_std']:.4f} (p-value {_p(e['p_value'], deterministic)})"),
            ("test accuracy", f"{effect.accuracy_before:.3f} → {effect.accuracy_after:.3f} "
                              f"({_num(effect.accuracy_change)} ± {e['accuracy_delta_std']:.4f} over members)"),
            ("errors fixed", e["errors_fixed"]), ("new errors", e["errors_new"]), ("net benefit", f"{e['net_benefit']:+d}"),
        ]))
        out.append("<div class='pair'>" + confusion_table(effect.confusion_before, data.classes, "Before", (group.true, group.pred))
                   + confusion_table(effect.confusion_after, data.classes, "After", (group.true, group.pred)) + "</div>")
        per_test = e["per_test"]
        out.append(bar_chart([f"test {t['test_index']}" for t in per_test[:CHART_BARS]], [t["delta_mean"] for t in per_test[:CHART_BARS]],
                             [t["delta_std"] for t in per_test[:CHART_BARS]], None,
                             f"Change of {doc['metric']} on each chosen test sample", f"delta {doc['metric']}"))
    # Warnings.
    out.append("<h2>Warnings</h2>")
    out.append("".join(f"<div class='warn'>{_e(w)}</div>" for w in doc["warnings"]) or "<p>None.</p>")
    # Feature attributions.
    out.append("<h2>Feature attributions</h2>")
    if features is None:
        out.append(f"<p>{_e(features_note)}</p>")
    else:
        out.append(f"<p><b>{_e(features.sentence)}</b></p>")
        out.append(f"<p class='note'>Method: {_e(features.method)}, on the first member's baseline model; positive values push "
                   f"toward {_e(features.pred)}{'' if data.kind == 'images' else f' (against {_e(features.true)})'}. "
                   "★ marks features the error shares with its top training samples.</p>")
        labels = [f"test {features.test_index} (error)"] + [f"train {i}" for i in features.train_indices]
        out.append(heatmap_table(features, labels))
        if (features.error_map is not None and features.train_maps is not None and data.thumbnails_test is not None
                and data.thumbnails_train is not None):
            pictures = [(labels[0], data.thumbnails_test[features.test_index], features.error_map)]
            pictures += [(lab, data.thumbnails_train[i], m) for lab, i, m in zip(labels[1:], features.train_indices, features.train_maps)]
            out.append("<div class='gallery'>" + "".join(
                f"<figure><img alt='{_e(lab)}' src='{png_data_uri(thumb)}'><img alt='saliency of {_e(lab)}' "
                f"src='{png_data_uri(saliency_overlay(thumb, smap))}'><figcaption>{_e(lab)}</figcaption></figure>"
                for lab, thumb, smap in pictures) + "</div>")
    timing = doc["timing"]
    out.append(f"<p class='note'>{timing['retrains']} models trained, {timing['cache_hits']} read from the cache; "
               f"baseline members: {', '.join(str(m.seed) for m in baseline.members)}.</p>")
    out.append("</body></html>")
    return "\n".join(out)


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
    from .exceptions import TDAError
    from .feature_attribution import feature_attribution

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
