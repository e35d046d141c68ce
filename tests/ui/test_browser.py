"""The dashboard in a real Chromium: demo -> errors -> largest group -> attribution (single samples,
then candidate groups) -> fix, the digits image demo (head mode) -> errors -> attribution, and
candidate mode.

Starts ``streamlit run dashboard.py`` on a free port with the session's TDA_CACHE_DIR, drives it with
Playwright (the system Chromium, never a downloaded one), checks that no page shows a Streamlit
exception, and saves a screenshot of each page at two window sizes (1440x900 and 1024x768) under
test-artifacts/. Without /usr/bin/chromium these tests skip, except under CI (the CI variable
set), where they fail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
#: Window sizes of the screenshots: a laptop and a small screen. The flow runs at the first.
SIZES = [(1440, 900), (1024, 768)]

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def require_chromium() -> None:
    """Skip without Chromium on a developer's machine; fail under CI, where it must be installed."""
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} is missing: apt-get install -y chromium"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    port = free_port()
    # The session's empty cache from tests/conftest.py: shared with the AppTest pages, so the
    # digits retrains run once per session (whichever test comes first pays for them).
    cache = os.environ.get("TDA_CACHE_DIR") or str(tmp_path_factory.mktemp("tda-cache"))
    env = dict(os.environ, TDA_CACHE_DIR=cache)
    with open(tmp_path_factory.mktemp("streamlit") / "server.log", "w+") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
             "--server.headless", "true", "--server.fileWatcherType", "none", "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                proc.kill()
                pytest.fail(f"streamlit did not start:\n{log.read()}")
            time.sleep(0.3)
        yield url
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        width, height = SIZES[0]
        context = browser.new_context(viewport={"width": width, "height": height})
        tab = context.new_page()
        tab.set_default_timeout(60_000)
        yield tab
        browser.close()


def drawn(page, charts: int) -> None:
    """Every chart and image is drawn (not a placeholder), and nothing sticks out sideways."""
    page.wait_for_function(f"document.querySelectorAll('[data-testid=\"stVegaLiteChart\"]').length >= {charts}")
    page.wait_for_function("document.querySelectorAll('[data-testid=\"stSkeleton\"]').length === 0")
    for chart in page.locator('[data-testid="stVegaLiteChart"]').all():
        chart.locator("canvas, svg").first.wait_for(state="visible")
    page.wait_for_function(  # every image has arrived (a gallery's thumbnails load after the script ends)
        "[...document.querySelectorAll('[data-testid=\"stImage\"] img')].every(i => i.complete && i.naturalWidth > 0)")


OVERFLOW = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const limit = main.getBoundingClientRect().right + 1;
  const wide = [...main.querySelectorAll('[data-testid="stVegaLiteChart"], [data-testid="stMetric"], '
      + '[data-testid="stImage"], [data-testid="stAlert"], [data-testid="stMarkdownContainer"]')]
    .filter(e => e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().right > limit);
  return wide.map(e => e.getAttribute('data-testid') + ': ' + (e.innerText || '').slice(0, 40));
}"""


def shoot(page, name: str, charts: int) -> None:
    """Save the whole page at each window size (the viewport grows to the page's height: Streamlit
    scrolls inside its main area, so a plain full-page screenshot would stop at the window), then
    check that no element sticks out of the main area sideways at either size."""
    ARTIFACTS.mkdir(exist_ok=True)
    problems = []
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(400)  # charts re-measure their container on resize
        drawn(page, charts)
        problems += [f"{width}x{height}: {p}" for p in page.evaluate(OVERFLOW)]
        full = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
        page.set_viewport_size({"width": width, "height": max(height, int(full))})
        page.wait_for_timeout(400)
        drawn(page, charts)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}x{height}.png"), full_page=True)
    page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
    assert not problems, f"{name}: elements overflow the page: {problems}"


def settle(page, name: str, charts: int) -> None:
    """The script has finished (no running indicator), its ``charts`` are drawn, no exception is shown;
    save screenshots."""
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=90_000)
    drawn(page, charts)
    assert page.locator('[data-testid="stException"]').count() == 0, f"exception on the {name} page"
    shoot(page, name, charts)


def go(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()


def test_workflow_in_chromium(server, page):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)  # the first run imports the engine and loads the demo
    page.goto(server)
    expect(page.get_by_role("heading", name="Data and model")).to_be_visible()
    expect(page.get_by_text("Training rows", exact=True)).to_be_visible()
    expect(page.get_by_text("First training rows")).to_be_visible()
    expect(page.get_by_text("German credit (UCI)", exact=False).first).to_be_visible()
    settle(page, "1-data", charts=1)

    pick_largest_error_group(page)
    expect(page.get_by_role("heading", name="Test samples of bad → good")).to_be_visible()
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(2)  # the groups and the group's samples
    settle(page, "2-errors", charts=1)

    go(page, "3 · Attribution")
    expect(page.get_by_role("combobox", name="Action on training samples")).to_have_value(
        "Relabel to the next most likely class")
    expect(page.get_by_role("combobox", name="Metric on the chosen test samples")).to_have_value("true-class probability")
    expect(page.get_by_role("slider", name="Group size")).to_have_value("10")
    expect(page.get_by_role("heading", name="Ranked training samples")).to_be_visible(timeout=90_000)
    expect(page.get_by_role("heading", name="Effect of relabel on the 10 selected sample(s)")).to_be_visible()
    expect(page.get_by_text("Global test accuracy")).to_be_visible()
    expect(page.get_by_text("Reliability of the ranking")).to_be_visible()
    expect(page.get_by_text("Reliability is high: a retrained ensemble would rank these samples almost the same way",
                            exact=False)).to_be_visible()
    expect(page.get_by_text("Net benefit", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Group effect in detail")).to_be_visible()
    settle(page, "3-attribution", charts=4)

    page.get_by_text("candidate groups", exact=True).click()
    expect(page.get_by_role("heading", name="Candidate training groups")).to_be_visible(timeout=90_000)
    expect(page.get_by_role("heading", name="Effect of relabel on the best candidate group", exact=False)).to_be_visible()
    expect(page.get_by_role("combobox", name="Show the training samples of")).to_be_visible()
    # groups, their members, and (in the collapsed expander) per test sample and per class
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(4)
    settle(page, "3-attribution-groups", charts=4)

    go(page, "4 · Fix")
    expect(page.get_by_role("heading", name="Before and after, measured by retraining")).to_be_visible()
    expect(page.get_by_text("Corrected training set (CSV)")).to_be_visible()
    settle(page, "4-fix", charts=2)


def pick_largest_error_group(page) -> None:
    """Open the errors page and pick the largest group with the keyboard-accessible selectbox."""
    from playwright.sync_api import expect

    go(page, "2 · Errors")
    expect(page.get_by_text("Test accuracy")).to_be_visible()
    page.get_by_role("combobox", name="Error group (true → predicted)").click()
    page.get_by_role("option").first.click()


def set_number(page, label: str, value: int) -> None:
    box = page.get_by_role("spinbutton", name=label)
    box.fill(str(value))
    box.press("Enter")
    expect_value(box, str(value))


def expect_value(locator, value: str) -> None:
    from playwright.sync_api import expect

    expect(locator).to_have_value(value)


def test_image_demo_in_chromium(server, page):
    """Digits, head mode, 1 epoch, 2 members: errors with the group's gallery, attribution with the ranked gallery."""
    from playwright.sync_api import expect

    expect.set_options(timeout=90_000)
    page.goto(server)
    expect(page.get_by_role("heading", name="Data and model")).to_be_visible()
    page.get_by_role("combobox", name="Demo").click()
    page.get_by_role("option", name="digits", exact=False).click()
    expect(page.get_by_text("Image shape")).to_be_visible()
    page.get_by_text("Head only (fast): retrains only the last layer on frozen features").click()
    set_number(page, "Epochs", 1)
    page.get_by_text("Run settings: ensemble, seeds, parallelism, candidate mode").click()
    set_number(page, "Ensemble members", 2)
    expect(page.get_by_text("head only", exact=False).first).to_be_visible()
    settle(page, "5-images-data", charts=1)

    pick_largest_error_group(page)
    expect(page.get_by_text("Misclassified test images")).to_be_visible()
    expect(page.locator('[data-testid="stImage"]').first).to_be_visible()
    settle(page, "5-images-errors", charts=1)

    go(page, "3 · Attribution")
    expect(page.get_by_role("heading", name="Ranked training samples")).to_be_visible(timeout=180_000)
    expect(page.get_by_text("Top 24 ranked training images", exact=False)).to_be_visible()
    expect(page.locator('[data-testid="stImage"]')).to_have_count(24)
    settle(page, "6-images-attribution", charts=2)


def test_candidate_mode_in_chromium(server, page):
    """Credit with candidate mode: the banner, the retrained-only table and the estimates expander."""
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    page.goto(server)
    expect(page.get_by_role("heading", name="Data and model")).to_be_visible()
    page.get_by_text("Run settings: ensemble, seeds, parallelism, candidate mode").click()
    page.get_by_text("Retrain only the top N candidates (estimated first)").click()
    set_number(page, "N candidates", 30)
    go(page, "2 · Errors")
    expect(page.get_by_text("Test accuracy")).to_be_visible()
    go(page, "3 · Attribution")
    expect(page.get_by_test_id("stAlertContentInfo").get_by_text("Candidate mode:")).to_be_visible()
    expect(page.get_by_text("Spearman ρ(estimate, retrained)", exact=False)).to_be_visible()
    page.get_by_text("Estimates only, not retrained", exact=False).click()
    # ranking, estimates, and (in the collapsed expander) per test sample and per class
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(4)
    settle(page, "7-candidates", charts=4)


def test_deterministic_model_in_chromium(server, page, tmp_path):
    """An uploaded table (100 credit rows) with logistic-lbfgs, a deterministic model: exact effects
    and a dash for every p-value, for single samples and for candidate groups."""
    from playwright.sync_api import expect

    from tda_core.data import load_demo

    credit = load_demo("credit")
    table = tmp_path / "credit-100.csv"
    credit.X_train.assign(credit_risk=[credit.classes[c] for c in credit.y_train]).head(100).to_csv(table, index=False)

    expect.set_options(timeout=90_000)
    page.goto(server)
    expect(page.get_by_role("heading", name="Data and model")).to_be_visible()
    page.get_by_text("Upload a table", exact=True).click()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(table))
    expect(page.get_by_role("combobox", name="Target column (the class to predict)")).to_have_value("credit_risk")
    page.get_by_role("combobox", name="Training recipe").click()
    page.get_by_role("option", name="logistic-lbfgs", exact=False).click()
    expect(page.get_by_test_id("stMainBlockContainer").get_by_text("logistic-lbfgs", exact=True)).to_be_visible()
    expect(page.get_by_text("Training rows", exact=True)).to_be_visible()
    pick_largest_error_group(page)
    expect(page.get_by_text("a deterministic model", exact=False)).to_be_visible()
    go(page, "3 · Attribution")
    expect(page.get_by_role("heading", name="Ranked training samples")).to_be_visible()
    expect(page.get_by_text("Deterministic model: effects are exact.", exact=True)).to_be_visible()
    p_value = page.get_by_test_id("stMetric").filter(has_text="p-value of the group effect")
    expect(p_value.get_by_test_id("stMetricValue")).to_have_text("—")
    settle(page, "8-deterministic", charts=4)

    page.get_by_text("candidate groups", exact=True).click()
    expect(page.get_by_role("heading", name="Candidate training groups")).to_be_visible()
    expect(page.get_by_text("Deterministic model: effects are exact.", exact=True)).to_be_visible()
    expect(p_value.get_by_test_id("stMetricValue")).to_have_text("—")
