"""Errors are translated once, where they arise: the data layer turns a third-party reader's failure
into a DataError in the user's words, keeps the original as its cause (``raise ... from exc``) and
names no exception class; the UI prints ``str(exc)`` and scrubs nothing (issue 20)."""

from __future__ import annotations

import importlib
import io
import re
import zipfile
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image, UnidentifiedImageError

from tda_core._actions import get_action
from tda_core._exceptions import (
    EMPTY_TABLE,
    NOT_A_TABLE,
    NOT_A_ZIP,
    NOT_PARQUET,
    NOT_TEXT,
    TOO_LARGE,
    DataError,
    ModelError,
    TDAError,
    UsageError,
    read_failure,
    reason,
)
from tda_core._manifest import AGAIN, read_manifest
from tda_core._metrics import get_metric
from tda_core._writing import real_path
from tda_core.data import attach_pool, read_table, split_table, tabular_dataset
from tda_core.data._images import load_images

ROOT = Path(__file__).resolve().parents[1]
#: The module (``tda_core.feature_attribution`` is also the name of a function the package exports).
feature_attribution = importlib.import_module("tda_core._feature_attribution")

#: A Python class name in a message: "UnicodeDecodeError", "BadZipFile", "ArrowInvalid", "OSError".
CLASS_NAME = re.compile(r"\b\w*[a-z][A-Z]\w*\b|\b[A-Z]{2,}[a-z]\w*\b")


def refusal(call, *args, cls: type[TDAError] = DataError, **kwargs) -> TDAError:
    """The one-line TDAError of ``call``, checked to name no exception class (not even its cause's)."""
    with pytest.raises(cls) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert not CLASS_NAME.search(message), message
    if info.value.__cause__ is not None:
        assert type(info.value.__cause__).__name__ not in message
    return info.value


def parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame({"x": np.arange(40) * 0.5, "y": ["a", "b"] * 20}).to_parquet(buffer, index=False)
    return buffer.getvalue()


# --- tables -----------------------------------------------------------------------------------


def test_bytes_that_are_not_text_are_named_so():
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    exc = refusal(read_table, png, "photo.csv")
    assert str(exc) == ("photo.csv: could not read the file as csv: it holds bytes that are not text (is it an image, "
                        "a spreadsheet or a compressed file?). Save it as CSV (UTF-8) or Parquet.")
    assert isinstance(exc.__cause__, UnicodeDecodeError)
    exc = refusal(read_table, "x,y\n1,p\n".encode("utf-16"), "u16.csv")
    assert str(exc) == f"u16.csv: could not read the file as csv: {NOT_TEXT}"
    assert isinstance(exc.__cause__, UnicodeDecodeError)


@pytest.mark.parametrize("raw", [b"", b"\n\n\n"])
def test_an_empty_csv_is_named_empty(raw):
    exc = refusal(read_table, raw, "empty.csv")
    assert str(exc) == ("empty.csv: could not read the file as csv: the file is empty (no header row, no rows). Give a "
                        "table with a header row naming the columns, the target column among them, and at least one "
                        "row per class.")
    assert isinstance(exc.__cause__, pd.errors.EmptyDataError)


@pytest.mark.parametrize("raw", [b"a,y\n1,2\n1,2,3,4\n", b'a,y\n"1,2\n3,4\n'])
def test_rows_that_do_not_parse_are_said_in_words(raw):
    exc = refusal(read_table, raw, "ragged.csv")
    assert str(exc) == "ragged.csv: could not read the file as csv: its rows are not laid out as a CSV or Parquet table."
    assert isinstance(exc.__cause__, pd.errors.ParserError)


def test_bytes_that_are_not_parquet_are_said_in_words():
    exc = refusal(read_table, b"PAR1 this is no parquet", "t.parquet")
    assert str(exc) == "t.parquet: could not read the file as parquet: it is not a Parquet file, or it is damaged or cut short."
    assert isinstance(exc.__cause__, pa.ArrowInvalid)
    good = parquet_bytes()
    exc = refusal(read_table, good[: len(good) // 2], "cut.pq")  # the footer is gone
    assert str(exc) == f"cut.pq: could not read the file as pq: {NOT_PARQUET}"
    assert isinstance(exc.__cause__, pa.ArrowInvalid)


def test_a_parquet_file_damaged_inside_is_said_in_words():
    """The footer is whole, the first page's header is not: pyarrow raises an OSError ("Couldn't
    deserialize thrift: TProtocolException") when it decodes the rows."""
    good = parquet_bytes()
    damaged = good[:4] + b"\x00" * 20 + good[24:]
    exc = refusal(read_table, damaged, "mid.parquet")
    assert str(exc) == f"mid.parquet: could not read the file as parquet: {NOT_PARQUET}"
    assert type(exc.__cause__) is OSError


def test_a_table_beyond_memory_is_said_so(monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(pd, "read_csv", out_of_memory)
    exc = refusal(read_table, b"x,y\n1,a\n2,b\n", "big.csv")
    assert str(exc) == "big.csv: the table does not fit in memory"
    assert isinstance(exc.__cause__, MemoryError)


def test_an_unreadable_path_keeps_the_system_reason(tmp_path, monkeypatch):
    table = tmp_path / "t.csv"
    table.write_text("x,y\n1,a\n")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    exc = refusal(read_table, table)
    assert str(exc) == f"{table}: cannot read the file (Permission denied)"
    assert isinstance(exc.__cause__, PermissionError)


def test_a_split_that_cannot_be_made_keeps_its_cause():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "a", "b"]})
    exc = refusal(split_table, frame, "y", 0.25)
    assert str(exc).startswith("cannot split 4 rows with test size 0.25: ")
    assert isinstance(exc.__cause__, ValueError)


# --- archives and images ------------------------------------------------------------------------


def png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((12, 20), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


LAYOUT = {f"{split}/{c}/{i}.png": png(40 * i + (100 if c == "dog" else 0)) for split in ("train", "test")
          for c in ("cat", "dog") for i in range(2)}


def make_zip(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("raw", [b"", b"not a zip at all", make_zip(LAYOUT)[:200]])
def test_a_broken_zip_is_one_line_with_its_cause(raw):
    exc = refusal(load_images, raw, name="up.zip")
    assert str(exc) == "up.zip: not a readable ZIP archive (File is not a zip file); upload a .zip of train/ and test/ folders"
    assert isinstance(exc.__cause__, zipfile.BadZipFile)


def test_an_archive_entry_whose_compressed_bytes_are_damaged_is_said_in_words():
    raw = make_zip(LAYOUT)
    first = zipfile.ZipFile(io.BytesIO(raw)).infolist()[0]
    start = first.header_offset + 30 + len(first.filename) + 5  # inside its deflated bytes
    damaged = raw[:start] + bytes(b ^ 0xFF for b in raw[start:start + 20]) + raw[start + 20:]
    exc = refusal(load_images, damaged, name="up.zip")
    assert str(exc) == (f"up.zip: cannot read {first.filename!r} from the archive (its compressed bytes are damaged); "
                        "re-create the archive")
    assert isinstance(exc.__cause__, zlib.error)


def test_an_archive_entry_with_a_wrong_checksum_keeps_zipfiles_words():
    raw = bytearray(make_zip(LAYOUT, zipfile.ZIP_STORED))
    first = zipfile.ZipFile(io.BytesIO(bytes(raw))).infolist()[0]
    raw[first.header_offset + 30 + len(first.filename) + 40] ^= 0xFF  # a stored byte: the CRC no longer matches
    exc = refusal(load_images, bytes(raw), name="up.zip")
    assert str(exc) == (f"up.zip: cannot read {first.filename!r} from the archive (Bad CRC-32 for file {first.filename!r}); "
                        "re-create the archive")
    assert isinstance(exc.__cause__, zipfile.BadZipFile)


def test_a_broken_image_is_one_line_with_its_cause():
    exc = refusal(load_images, make_zip(LAYOUT | {"train/dog/broken.png": b"\x89PNG\r\n\x1a\n garbage"}))
    assert str(exc) == "upload.zip: train/dog/broken.png is not a readable image (Truncated File Read); replace or remove the file"
    assert type(exc.__cause__) is OSError
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(buffer, format="PNG")
    exc = refusal(load_images, make_zip(LAYOUT | {"train/dog/cut.png": buffer.getvalue()[:200]}))
    assert str(exc) == "upload.zip: train/dog/cut.png is not a readable image (image file is truncated); replace or remove the file"
    assert type(exc.__cause__) is OSError


def test_a_file_pil_does_not_know_is_not_a_readable_image():
    """PIL's "cannot identify image file <_io.BytesIO object at 0x...>" adds nothing: no reason in brackets."""
    exc = refusal(load_images, make_zip(LAYOUT | {"train/dog/notes.png": b"hello, not a picture"}))
    assert str(exc) == "upload.zip: train/dog/notes.png is not a readable image; replace or remove the file"
    assert isinstance(exc.__cause__, UnidentifiedImageError)


def test_a_pool_that_breaks_a_reader_unforeseen_is_one_line_in_words(monkeypatch):
    """attach_pool says any failure to read the upload in words, so the data page never shows a traceback."""
    from tda_core.data import _pools as pools

    frame = pd.DataFrame({"x": np.arange(40) * 1.0, "y": ["a", "b"] * 20})
    data = tabular_dataset(*split_table(frame, "y"), "y")

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(pools, "table_pool", out_of_memory)
    exc = refusal(attach_pool, data, frame.to_csv(index=False).encode(), name="pool.csv")
    assert str(exc) == "pool.csv: could not read the pool: it is too large to read into memory here."
    assert isinstance(exc.__cause__, MemoryError)


# --- the words themselves -----------------------------------------------------------------------


def test_read_failure_words_the_common_failures():
    assert read_failure(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")) == NOT_TEXT
    assert read_failure(pd.errors.EmptyDataError("No columns to parse from file")) == EMPTY_TABLE
    assert read_failure(pd.errors.ParserError("Error tokenizing data. C error: Expected 2 fields")) == NOT_A_TABLE
    assert read_failure(zipfile.BadZipFile("File is not a zip file")) == NOT_A_ZIP
    assert read_failure(EOFError()) == NOT_A_ZIP == "it is not a complete ZIP file: it may be damaged or cut short."
    assert read_failure(MemoryError()) == TOO_LARGE == "it is too large to read into memory here."
    assert read_failure(pa.ArrowInvalid("Parquet magic bytes not found"), parquet=True) == NOT_PARQUET
    assert read_failure(OSError("Couldn't deserialize thrift"), parquet=True) == NOT_PARQUET
    # Anything else: its message's first line, without the exception's name.
    assert read_failure(pa.ArrowInvalid("Parquet magic bytes not found")) == "Parquet magic bytes not found"
    assert read_failure(ValueError("the value is odd\nsecond line")) == "the value is odd"
    assert read_failure(RuntimeError()) == ""
    assert reason(KeyError("colour")) == "'colour'"


def test_refusals_of_bad_names_keep_their_cause():
    exc = refusal(get_action, "delete", cls=UsageError)
    assert str(exc) == "unknown action 'delete': choose one of remove, relabel, upweight, add"
    assert isinstance(exc.__cause__, KeyError)
    exc = refusal(get_metric, "accuracy", cls=UsageError)
    assert str(exc) == "unknown metric 'accuracy': choose one of loss, gt_prob, pred_prob"
    assert isinstance(exc.__cause__, KeyError)
    frame = pd.DataFrame({"x": np.arange(40) * 1.0, "y": ["a", "b"] * 20})
    exc = refusal(tabular_dataset(*split_table(frame, "y"), "y").class_index, "c", cls=UsageError)
    assert str(exc) == "unknown class 'c': the classes are a, b"
    assert isinstance(exc.__cause__, ValueError)


def test_a_manifest_that_is_not_text_or_json_keeps_its_cause():
    exc = refusal(read_manifest, b"\xff\xfe{}", cls=UsageError)
    assert str(exc) == f"the manifest is not UTF-8 text; {AGAIN}"
    assert isinstance(exc.__cause__, UnicodeDecodeError)
    exc = refusal(read_manifest, '{"a": ', cls=UsageError)
    assert str(exc) == "the manifest is not valid JSON (Expecting value: line 1 column 7 (char 6))"
    assert isinstance(exc.__cause__, ValueError)


def test_a_symlink_loop_keeps_its_cause(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(UsageError) as info:
        real_path(loop / "out.json", "--out")
    assert str(info.value).startswith(f"--out {loop / 'out.json'} cannot be resolved: it is a symlink loop")
    assert isinstance(info.value.__cause__, (OSError, RuntimeError))


def test_a_model_failing_in_feature_attribution_names_no_exception_class(monkeypatch):
    def broken(*args):
        raise TypeError("X has 3 features, but the model expects 4")

    monkeypatch.setattr(feature_attribution, "_fit_sklearn", broken)
    recipe = SimpleNamespace(display_name="my pipeline")
    exc = refusal(feature_attribution.fit_sklearn, recipe, None, 0, (0,), 0, 1, cls=ModelError)
    assert str(exc) == "my pipeline failed while computing feature attributions: X has 3 features, but the model expects 4"
    assert isinstance(exc.__cause__, TypeError)


# --- the UI scrubs nothing ------------------------------------------------------------------------


def test_the_ui_prints_engine_messages_as_they_are():
    """No regex over an exception's message and no second map of third-party exceptions in ui/ or
    pages/: the engine's message is the text shown."""
    banned = re.compile(r"_JARGON|\bin_words\b|\bread_problem\b|re\.sub\([^\n]*\b(exc|message)\b")
    found = []
    for path in sorted([*ROOT.joinpath("ui").rglob("*.py"), *ROOT.joinpath("pages").rglob("*.py")]):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if banned.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, found
