"""Hostile uploads through the dashboard (Streamlit AppTest, issue 10): every case shows exactly one
error message on the data page, or on the errors page where the problem only shows in training,
and never an exception block."""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = str(ROOT / "dashboard.py")
ERRORS_PAGE = "pages/2_errors.py"
N = 120


def _base() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=N).round(3), "c": rng.choice(["r", "g"], N), "y": rng.choice(["a", "b"], N)})


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _uploads() -> dict[str, tuple[str, bytes, str]]:
    """case -> (file name, bytes, a phrase the one error must hold). The target is the last column."""
    base = _base()
    rng = np.random.default_rng(1)
    return {
        "inf value": ("inf.csv", _csv(base.assign(x=base.x.where(base.index % 30 != 3, np.inf))),
                      "infinite or too large values (first inf in row"),
        "1e308": ("big.csv", _csv(base.assign(x=base.x.where(base.index != 5, 1e308))), "infinite or too large values (first 1e+308"),
        "decimal commas": ("comma.csv", _csv(base.assign(x=[f"{v:.2f}".replace(".", ",") for v in base.x])),
                           "holds numbers written with a decimal comma or thousands separators"),
        "question marks": ("q.csv", _csv(base.assign(x=base.x.astype(str).where(base.index % 20 != 0, "?"))),
                           "looks numeric but was read as text because of values such as '?'"),
        "500-class target": ("regression.csv", _csv(pd.DataFrame({"x": rng.normal(size=500), "y": rng.normal(size=500).round(4)})),
                             "more than 100 classes looks like a regression target"),
        "list column": ("list.parquet", _parquet(base[["x", "c"]].assign(l=[[1, 2]] * N, y=base.y)),
                        "holds ndarray values (nested data such as lists or structs)"),
        "parquet bomb": ("bomb.parquet", _parquet(pd.DataFrame({"x": np.zeros(2_000_000, np.int8), "y": np.arange(2_000_000) % 2})),
                         "2,000,000 rows x 2 columns is more than this tool takes"),
        "10,000-level text column": ("levels.csv", _csv(pd.DataFrame({"x": rng.normal(size=10_000), "c": [f"v{i}" for i in range(10_000)],
                                                                       "y": rng.choice(["a", "b"], 10_000)})),
                                     "distinct text values (at most 1,000): one-hot encoding it would be too large"),
        "empty column": ("empty.csv", _csv(base[["x"]].assign(e=np.nan, y=base.y)), "the column 'e' has no values at all; drop it"),
        "duplicate names": ("dup.parquet", b"", ""),  # filled below: Parquet keeps duplicate names that CSV would rename
    }


def _duplicate_names() -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table([pa.array([1.0, 2.0] * 10), pa.array([3.0, 4.0] * 10), pa.array(["a", "b"] * 10)], names=["x", "x", "y"])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


@functools.cache
def uploads() -> dict[str, tuple[str, bytes, str]]:
    """Built on first use, not when the tests are collected (the Parquet bomb takes a moment)."""
    cases = _uploads()
    cases["duplicate names"] = ("dup.parquet", _duplicate_names(), "the column names x appear more than once")
    return cases


CASES = ["inf value", "1e308", "decimal commas", "question marks", "500-class target", "list column", "parquet bomb",
         "10,000-level text column", "empty column", "duplicate names"]


def upload(name: str, data: bytes) -> AppTest:
    at = AppTest.from_file(DASHBOARD, default_timeout=120).run()
    at.radio(key="source").set_value("table").run()
    mime = "text/csv" if name.endswith(".csv") else "application/octet-stream"
    at.file_uploader(key="table_file").set_value((name, data, mime)).run()
    return at


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_upload_shows_one_error_and_no_exception(case):
    name, data, phrase = uploads()[case]
    at = upload(name, data)
    assert not at.exception, [e.value for e in at.exception]
    shown = errors(at)
    assert len(shown) == 1, shown
    assert phrase in shown[0] and "\n" not in shown[0].strip(), shown[0]
    at.switch_page(ERRORS_PAGE).run()  # the next page says the same in one message, with no exception block
    assert not at.exception, [e.value for e in at.exception]
    assert len(errors(at)) == 1 and phrase in errors(at)[0]


#: Files a reader refuses, and the data page's one message: the engine's words, shown as they are.
UNREADABLE = {
    "photo.csv": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
                  "photo.csv: could not read the file as csv: it holds bytes that are not text (is it an image, a "
                  "spreadsheet or a compressed file?). Save it as CSV (UTF-8) or Parquet."),
    "empty.csv": (b"", "empty.csv: could not read the file as csv: the file is empty (no header row, no rows). Give a table "
                       "with a header row naming the columns, the target column among them, and at least one row per class."),
    "ragged.csv": (b"x,y\n1,a\n2,b,3,4\n", "ragged.csv: could not read the file as csv: its rows are not laid out as a CSV or "
                                            "Parquet table."),
    "garbage.parquet": (b"PAR1 this is no parquet", "garbage.parquet: could not read the file as parquet: it is not a Parquet "
                                                    "file, or it is damaged or cut short."),
}


@pytest.mark.parametrize("name", list(UNREADABLE))
def test_an_unreadable_upload_is_one_message_in_words(name):
    data, message = UNREADABLE[name]
    at = upload(name, data)
    assert not at.exception, [e.value for e in at.exception]
    assert errors(at) == [message]


def test_a_model_that_fails_in_any_way_is_one_message():
    """A pipeline with sparse output into HistGradientBoosting raises TypeError inside fit: one message on the errors page."""
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    at = upload("ok.csv", _csv(_base()))
    assert not at.exception and not errors(at), errors(at)
    at.radio(key="model_source").set_value("upload").run()
    model = make_pipeline(OneHotEncoder(handle_unknown="ignore"), HistGradientBoostingClassifier(max_iter=3))
    at.file_uploader(key="model_file").set_value(("sparse.skops", sio.dumps(model), "application/octet-stream")).run()
    if at.checkbox and any(c.key == "trust" for c in at.checkbox):
        at.checkbox(key="trust").check().run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(ERRORS_PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = errors(at)
    assert len(shown) == 1 and "HistGradientBoostingClassifier" in shown[0] and "failed to train" in shown[0], shown


def stale_jobs(n_jobs: int) -> AppTest:
    """The errors page with a number of jobs a stale session could hold."""
    at = AppTest.from_file(DASHBOARD, default_timeout=120).run()
    at.session_state["n_jobs"] = n_jobs
    at.switch_page(ERRORS_PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_zero_parallel_jobs_is_auto_and_the_page_trains():
    """0 is the default (tda_core.limits.AUTO_JOBS: the idle cores, for long work): the page trains."""
    at = stale_jobs(0)
    assert not errors(at)
    assert at.session_state["n_jobs"] == 0 and [m.label for m in at.metric][:1] == ["Test accuracy"]


def test_too_many_parallel_jobs_is_one_message():
    """More jobs than cores lies within the widget's bounds (-1 to 64): the engine refuses it in one line."""
    at = stale_jobs((os.cpu_count() or 1) + 1)
    assert errors(at) == [f"the number of parallel jobs must lie between 1 and the {os.cpu_count()} cores of this machine, "
                          f"or be -1 for all of them or 0 (auto) for the idle ones, not {(os.cpu_count() or 1) + 1}"]


def test_parallel_jobs_beyond_the_widget_are_corrected_to_all_cores():
    """10,000 lies beyond the widget's bounds: Streamlit resets it to the widget's default, its minimum -1
    (every core), and the page trains."""
    at = stale_jobs(10_000)
    assert not errors(at)
    assert at.session_state["n_jobs"] == -1
    assert [m.label for m in at.metric][:1] == ["Test accuracy"]


def test_a_ranking_beyond_the_memory_budget_is_one_message_before_it_runs():
    """100,000 rows of noise: the baseline fits in memory, and a full ranking keeps its errors' rows
    (80,000 edits x about 6,500 kept test rows x 2 classes): some 17 GB whatever the plan, so the
    attribution page refuses it in one message that names the way out, before the ranking allocates
    anything."""
    rng = np.random.default_rng(2)
    n = 100_000
    x = rng.normal(size=n).round(3)
    frame = pd.DataFrame({"x": x, "z": rng.normal(size=n).round(3), "y": rng.choice(["a", "b"], size=n)})
    at = upload("big.csv", _csv(frame))
    assert not at.exception and not errors(at), errors(at)
    at.switch_page(ERRORS_PAGE).run()
    assert not at.exception and not errors(at), errors(at)
    at.switch_page("pages/3_attribution.py").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = errors(at)
    # The default recipe trains one model per seed-free edit (tda_core.limits.trained_members): 80,000 models,
    # under the hours limit, refused for its memory, with candidate mode as the way out.
    assert len(shown) == 1 and "of memory" in shown[0] and "over the 4.0 GiB limit" in shown[0], shown
    assert "use candidate mode" in shown[0] and "80,000 training samples" in shown[0], shown
