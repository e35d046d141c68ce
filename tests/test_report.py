"""The triage report: one self-contained HTML file, checked for its numbers and, in a real
Chromium opened from disk, for requests that would leave the machine."""

from __future__ import annotations

import html
import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tda_core._analysis import Analysis
from tda_core._engine import RunConfig
from tda_core._report import build_report

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def credit_report(credit):
    from tda_core.recipes._registry import default_recipe

    analysis = Analysis(credit, default_recipe(credit), RunConfig(ensemble=3))
    group = analysis.group("bad", "good")
    result = analysis.attribute(group, "relabel", "gt_prob", 10)
    return analysis, result, build_report(analysis, result)


def urls(page: str) -> list[str]:
    """Every address the page would load: src/href attributes and CSS url()."""
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page) + re.findall(r"url\(([^)]*)\)", page)


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", " ", page, flags=re.S)))


def test_the_report_holds_the_triage_and_loads_nothing(credit_report):
    analysis, result, page = credit_report
    assert all(u.startswith("data:") for u in urls(page)), urls(page)
    assert "<script src" not in page and "@import" not in page and "@font-face" not in page
    text = text_of(page)
    errors = analysis.errors
    assert f"Test accuracy {errors.accuracy:.3f} ± {errors.accuracy_std:.3f}" in text
    assert f"{errors.n_errors:,} test errors of {errors.n_test:,}" in text
    assert errors.accuracy == pytest.approx(1 - errors.n_errors / errors.n_test)
    assert f"Reliability of the ranking: {result.reliability:.2f}" in text
    effect = result.effect
    assert effect is not None
    # The members differ (3 seeds): the ensemble's accuracy, not the members' mean, is the one shown.
    assert effect.accuracy_before == pytest.approx(np.trace(effect.confusion_before) / analysis.data.n_test)
    assert effect.accuracy_after == pytest.approx(np.trace(effect.confusion_after) / analysis.data.n_test)
    assert f"test accuracy {effect.accuracy_before:.3f} → {effect.accuracy_after:.3f}" in " ".join(text.split())
    for words in (f"errors fixed {effect.errors_fixed}", f"new errors {effect.errors_new}", f"net benefit {effect.net_benefit:+d}",
                  "Before (rows: true class", "After (rows: true class", "Feature attributions", *map(str, analysis.data.X_train.columns)):
        assert words in " ".join(text.split()), words
    top = result.ranking.index[0]
    assert f"{result.ranking.delta_mean[0]:+.4f}" in text and f"<td>{top}</td>" in page
    last = result.ranking.index[49]
    assert f"<td>50</td><td>{last}</td>" in page and "<td>51</td>" not in page  # the top 50 of the ranking
    assert page.count('type="application/vnd.vegalite+json"') == 2  # the ranking's chart and the per-test chart
    assert "exact linear contributions" in text and "The error" in text


def test_a_deterministic_model_says_exact(credit):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from tda_core.recipes._preprocessing import tabular_preprocessor
    from tda_core.recipes._sklearn_recipe import SklearnRecipe

    small = replace(credit, X_train=credit.X_train.iloc[:120], y_train=credit.y_train[:120], train_ids=credit.train_ids[:120],
                    fingerprint="")
    analysis = Analysis(small, SklearnRecipe(make_pipeline(tabular_preprocessor(), LogisticRegression(max_iter=500))), RunConfig(ensemble=3))
    group = analysis.errors.groups[0]
    result = analysis.attribute(group, "remove", "loss", 3)
    page = build_report(analysis, result)
    assert result.deterministic and "<td>exact</td>" in page
    assert "deterministic: trained once per edit" in text_of(page)


@pytest.mark.slow
def test_images_are_embedded_with_their_saliency(tiny_images):
    from tda_core.recipes.torch._recipe import TorchRecipe

    analysis = Analysis(tiny_images, TorchRecipe("small_cnn", epochs=3, batch_size=8), RunConfig(ensemble=2))
    group = analysis.errors.groups[0]
    result = analysis.attribute(group, "remove", "loss", 3)
    page = build_report(analysis, result)
    assert page.count("src='data:image/png;base64,") >= 2 * (1 + len(result.selected or result.ranking.index[:5]))
    assert "gradient x input" in text_of(page) and all(u.startswith("data:") for u in urls(page))


@pytest.mark.slow
@pytest.mark.browser
def test_the_report_opens_offline_in_chromium(credit_report, tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    analysis, result, page_html = credit_report
    report = tmp_path / "triage.html"
    report.write_text(page_html, encoding="utf-8")
    requests: list[str] = []
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = chromium.new_context(viewport={"width": 1280, "height": 800})
            context.route("**/*", lambda route: (requests.append(route.request.url),
                                                 route.continue_() if route.request.url.startswith(("file:", "data:")) else route.abort()))
            page = context.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri(), wait_until="load")
            body = page.inner_text("body")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
            width = page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")
        finally:
            chromium.close()
    leaving = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert not leaving, leaving
    assert f"Test accuracy {analysis.errors.accuracy:.3f}" in body
    assert f"Reliability of the ranking: {result.reliability:.2f}" in body
    assert f"net benefit\t{result.effect.net_benefit:+d}" in body or f"net benefit {result.effect.net_benefit:+d}" in " ".join(body.split())
    assert width


def test_nothing_significant_still_reports_the_ranking_and_the_top_features(credit_report):
    analysis, _, _ = credit_report
    result = analysis.attribute(analysis.group("bad", "good"), "relabel", "gt_prob", 10, alpha=1e-12)
    assert result.effect is None and not result.selected
    page = build_report(analysis, result)
    text = " ".join(text_of(page).split())
    assert "Nothing has a significant improving effect at alpha = 1e-12" in text
    top = [int(i) for i in result.ranking.index[:5]]
    assert all(f"train {i}" in text for i in top)  # the feature attributions of the top of the ranking
    assert "No training sample has a significant improving effect" in text  # the warning


def test_a_report_of_add_lists_pool_samples(credit, tmp_path):
    from tda_core.recipes._registry import default_recipe

    analysis = Analysis(credit, default_recipe(credit), RunConfig(ensemble=3, cache_dir=str(tmp_path)))
    group = analysis.errors.find("bad", "good")
    result = analysis.attribute(group, "add", "loss", 5)
    page = build_report(analysis, result)
    assert "<th>pool index</th>" in page and "<th>train index</th>" not in page
    top = int(result.ranking.index[0])
    label = credit.classes[credit.y_pool[top]]
    assert f"<td>1</td><td>{top}</td><td class='l'>{credit.pool_id(top)}</td><td class='l'>{label}</td>" in page
    assert f"pool samples added</td><td class=\"l\">{', '.join(map(str, result.effect.indices))}" in page
    assert "Not shown for add" in page and "scored pool samples" in page


def test_a_report_of_candidate_groups(credit, tmp_path):
    from tda_core.recipes._registry import default_recipe

    analysis = Analysis(credit, default_recipe(credit), RunConfig(ensemble=3, cache_dir=str(tmp_path)))
    result = analysis.attribute(analysis.errors.find("bad", "good"), "remove", "loss", 10, unit="group")
    page = build_report(analysis, result)
    assert "<th class='l'>candidate group</th>" in page and result.ranking.groups[0].group_id in page


def test_the_report_colours_cells_as_the_dashboard_does_and_they_read(credit_report):
    """Errors orange to red and correct counts blue, as the dashboard draws them (issue 21, item 8);
    every count readable on its cell (WCAG AA, 4.5:1), the chosen one included."""
    from tda_core._report import ERROR_RAMP, cell_colours, contrast

    analysis, _, page = credit_report
    confusion = analysis.errors.confusion
    colours = cell_colours(confusion)
    classes = list(analysis.data.classes)
    t, p = classes.index("bad"), classes.index("good")
    fill, ink = colours[t][p]
    assert fill == ERROR_RAMP[-1] or int(confusion[t, p]) < int(confusion[p, t])  # the largest error is darkest red
    red, green, blue = (int(fill[k:k + 2], 16) for k in (1, 3, 5))
    assert red > blue and red > green  # an error cell is red/orange, not blue
    d_fill = colours[t][t][0]
    assert int(d_fill[5:7], 16) > int(d_fill[1:3], 16)  # the diagonal is blue
    for row in colours:
        for fill, ink in row:
            assert contrast(fill, ink) >= 4.5
    for i in range(len(classes)):
        for j in range(len(classes)):
            assert f"background:{colours[i][j][0]};color:{colours[i][j][1]}" in page


def test_names_from_the_data_are_escaped():
    """A class and a feature named like markup are text in the report, never markup: the template
    escapes them (autoescape), in the title, the tables and the feature attributions."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from tda_core.data import tabular_dataset
    from tda_core.recipes._preprocessing import tabular_preprocessor
    from tda_core.recipes._sklearn_recipe import SklearnRecipe

    script = "<script>alert(1)</script>"
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    rng = np.random.default_rng(0)

    def table(n):
        x = rng.normal(size=n)
        return pd.DataFrame({"x": x, script: rng.normal(size=n),
                             "label": np.where(x + rng.normal(scale=0.8, size=n) > 0, script, "ok")})

    data = tabular_dataset(table(80), table(40), "label", name="hostile")
    model = make_pipeline(tabular_preprocessor(), LogisticRegression(max_iter=500))
    analysis = Analysis(data, SklearnRecipe(model), RunConfig(ensemble=1, use_cache=False))
    group = analysis.errors.groups[0]
    page = build_report(analysis, analysis.attribute(group, "remove", "loss", 3))
    assert script not in page and "<script>" not in page
    assert set(re.findall(r"<script[^>]*>", page)) == {'<script type="application/vnd.vegalite+json">'}
    assert f"<h1>Triage: {html.escape(group.true)} → {html.escape(group.pred)} in hostile</h1>" in page
    assert f"<td>classes</td><td class=\"l\">{', '.join(map(html.escape, data.classes))}</td>" in page and script in data.classes
    assert f"<th>{escaped}</th>" in page  # a column of the confusion matrix
    assert re.search(rf"<th>{re.escape(escaped)}( ★)?</th>", page.split("<h2>Feature attributions</h2>")[1])  # the feature
    assert script in text_of(page)  # shown as the name itself
