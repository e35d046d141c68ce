"""The screenshots of the documentation (docs/images/), taken in a real Chromium on the credit demo.

One walk through the dashboard's steps with its defaults (remove, true-class probability, size 10,
the largest error group bad → good): the data page, the errors, the attribution (also the README's
picture), the fix and the comparison of actions. Each picture is the top of the page at 1280 px
wide, reduced to 256 colours so that the files stay small. The server, the browser and the tab
(which fails on any request that leaves the machine) are those of tests/ui/test_browser.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_browser import browser, drawn, go, header, page, server  # noqa: F401  (fixtures used by name)

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
#: The top of each page that a picture keeps, in CSS pixels at a width of 1280.
WIDTH, MAX_HEIGHT = 1280, 1900

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def picture(page, name: str, charts: int) -> Path:  # noqa: F811  (the tab, not the fixture)
    """Once the script has finished and its charts are drawn: the top of the page as docs/images/NAME.png."""
    from PIL import Image

    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=120_000)
    drawn(page, charts)
    assert page.locator('[data-testid="stException"]').count() == 0, f"exception on the {name} page"
    full = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": WIDTH, "height": min(MAX_HEIGHT, max(800, int(full)))})
    page.wait_for_timeout(400)  # charts re-measure their container on resize
    drawn(page, charts)
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / f"{name}.png"
    raw = path.with_suffix(".raw.png")
    page.screenshot(path=str(raw))
    with Image.open(raw) as shot:
        shot.convert("RGB").quantize(colors=256).save(path, optimize=True)
    raw.unlink()
    page.set_viewport_size({"width": WIDTH, "height": 800})
    return path


def test_docs_screenshots_of_every_step(server, page):  # noqa: F811
    from PIL import Image
    from playwright.sync_api import expect

    expect.set_options(timeout=90_000)
    page.goto(server)
    expect(page.get_by_role("heading", name="Data and model")).to_be_visible()
    expect(page.get_by_text("Training rows", exact=True)).to_be_visible()
    shots = [picture(page, "1-data-and-model", charts=1)]

    go(page, "2 · Errors")
    expect(page.get_by_role("heading", name="Test samples of bad → good")).to_be_visible()
    shots.append(picture(page, "2-errors", charts=1))

    go(page, "3 · Attribution")
    expect(page.get_by_role("combobox", name="Action on training samples")).to_have_value(re.compile(r"^Remove"))
    expect(page.get_by_role("heading", name="Ranked training samples")).to_be_visible()
    expect(header(page, "improvement")).to_be_attached()
    shots.append(picture(page, "3-attribution", charts=5))

    go(page, "4 · Fix")
    expect(page.get_by_role("heading", name="Before and after, measured by retraining")).to_be_visible()
    shots.append(picture(page, "4-fix", charts=3))

    go(page, "3 · Attribution")
    page.get_by_role("link", name=re.compile(r"^Compare every action at sizes 1, 5, 10")).click()
    expect(page.get_by_role("heading", name="Compare actions")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Best setting: \w+ with \d+ samples?"))).to_be_visible()
    shots.append(picture(page, "5-compare", charts=1))

    for path in shots:  # each picture is the page's top at the docs' width, in 256 colours
        with Image.open(path) as shot:
            assert shot.width == WIDTH and 800 <= shot.height <= MAX_HEIGHT, (path.name, shot.size)
            assert shot.mode == "P" and len(shot.getcolors(256) or ()) > 16, f"{path.name} is blank"
