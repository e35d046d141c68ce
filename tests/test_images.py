"""Image datasets: folders and ZIPs in the ImageFolder layout, and every way an upload can be bad."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tda_core.exceptions import DataError
from tda_core.images import IMAGE_SIZE, THUMBNAIL_SIZE, load_image_demo, load_images


def png(value: int | tuple[int, int, int], size: tuple[int, int] = (20, 12), mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, value).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(value: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), value).save(buffer, format="JPEG")
    return buffer.getvalue()


# A small valid layout: class "cat" is black, class "dog" is white.
LAYOUT = {
    "train/cat/c1.png": png(0),
    "train/cat/c2.png": png(0),
    "train/dog/d1.png": png(255),
    "train/dog/d2.png": png(255),
    "train/dog/d3.png": png(255),
    "test/cat/t1.png": png(0),
    "test/dog/t2.png": png(255),
}


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def make_zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in files.items():
            archive.writestr(zipfile.ZipInfo(name), content, compress_type=compression)
    return buffer.getvalue()


def refused(source: object, match: str, **kwargs: object) -> str:
    with pytest.raises(DataError, match=match) as info:
        load_images(source, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return message


def test_folder_loads_into_a_normalised_dataset(tmp_path: Path) -> None:
    data = load_images(write_folder(tmp_path / "pets", LAYOUT))
    assert data.kind == "images" and data.name == "pets"
    assert data.classes == ("cat", "dog")
    assert data.X_train.shape == (5, 1, IMAGE_SIZE, IMAGE_SIZE) and data.X_train.dtype == np.float32
    assert data.X_test.shape == (2, 1, IMAGE_SIZE, IMAGE_SIZE)
    assert data.y_train.tolist() == [0, 0, 1, 1, 1] and data.y_train.dtype == np.int64
    assert data.y_test.tolist() == [0, 1]
    assert list(data.train_ids) == sorted(n for n in LAYOUT if n.startswith("train/"))
    assert list(data.test_ids) == ["test/cat/t1.png", "test/dog/t2.png"]
    # ToTensor + Normalize(0.5, 0.5): black -> -1, white -> +1.
    np.testing.assert_allclose(data.X_train[0], -1.0)
    np.testing.assert_allclose(data.X_train[4], 1.0)
    assert data.thumbnails_train.shape == (5, THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3)
    assert data.thumbnails_train.dtype == np.uint8
    assert data.thumbnails_train[4].min() == 255 and data.thumbnails_test[0].max() == 0


def test_zip_bytes_give_the_same_dataset_as_the_folder(tmp_path: Path) -> None:
    from_folder = load_images(write_folder(tmp_path / "pets", LAYOUT))
    from_zip = load_images(make_zip(LAYOUT), name="pets.zip")
    assert from_zip.name == "pets"
    assert from_zip.fingerprint == from_folder.fingerprint
    np.testing.assert_array_equal(from_zip.X_train, from_folder.X_train)
    assert list(from_zip.train_ids) == list(from_folder.train_ids)


def test_zip_file_with_a_wrapping_folder_and_os_junk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {f"pets/{k}": v for k, v in LAYOUT.items()}
    files["__MACOSX/pets/train/cat/._c1.png"] = b"junk"
    files["pets/train/.DS_Store"] = b"junk"
    files["pets/README.txt"] = b"not part of train/ or test/"
    archive = tmp_path / "upload.zip"
    archive.write_bytes(make_zip(files))
    monkeypatch.chdir(tmp_path)
    data = load_images(archive)
    assert data.classes == ("cat", "dog") and data.n_train == 5
    assert data.train_ids[0] == "train/cat/c1.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upload.zip"]  # nothing extracted


def test_colour_images_give_rgb_and_jpeg_is_read(tmp_path: Path) -> None:
    files = dict(LAYOUT)
    files["train/cat/red.jpg"] = jpeg((255, 0, 0))
    data = load_images(make_zip(files))
    assert data.X_train.shape[1] == 3
    red = list(data.train_ids).index("train/cat/red.jpg")
    assert data.X_train[red, 0].mean() > 0.9 and data.X_train[red, 1].mean() < -0.9
    forced = load_images(make_zip(files), channels=1)
    assert forced.X_train.shape[1] == 1


def test_demo_is_a_stratified_sample_of_mnist() -> None:
    data = load_image_demo()
    assert data.name == "digits" and data.classes == tuple(str(i) for i in range(10))
    assert data.X_train.shape == (300, 1, 28, 28) and data.X_test.shape == (300, 1, 28, 28)
    assert np.bincount(data.y_train).tolist() == [30] * 10
    assert np.bincount(data.y_test).tolist() == [30] * 10
    assert not set(data.train_ids) & set(data.test_ids)
    assert -1.0 <= data.X_train.min() and data.X_train.max() <= 1.0
    assert data.thumbnails_test.shape == (300, THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3)
    assert load_image_demo().fingerprint == data.fingerprint


def without(*prefixes: str) -> dict[str, bytes]:
    return {k: v for k, v in LAYOUT.items() if not k.startswith(prefixes)}


def test_refuses_missing_train_or_test_folder() -> None:
    refused(make_zip(without("test/")), r"no test/ folder")
    refused(make_zip(without("train/")), r"no train/ folder")


def test_refuses_a_single_class() -> None:
    refused(make_zip(without("train/dog", "test/dog")), r"1 class folder \(cat\); a classifier needs at least two")


def test_refuses_classes_missing_from_test() -> None:
    refused(make_zip(without("test/dog")), r"test/ has no images of the class dog")


def test_refuses_test_classes_unknown_to_train() -> None:
    refused(make_zip(LAYOUT | {"test/cow/x.png": png(9)}), r"test/ has classes that train/ lacks: cow")


def test_refuses_files_that_are_not_images(tmp_path: Path) -> None:
    message = refused(make_zip(LAYOUT | {"train/cat/notes.txt": b"hello"}), r"train/cat/notes.txt .*not an image file")
    assert ".png" in message
    refused(write_folder(tmp_path / "d", LAYOUT | {"test/dog/a.csv": b"1,2"}), r"test/dog/a.csv")


def test_refuses_corrupt_images() -> None:
    refused(make_zip(LAYOUT | {"train/dog/broken.png": b"\x89PNG\r\n\x1a\n garbage"}), r"train/dog/broken.png is not a readable image")
    truncated = png(128, size=(64, 64))[:60]
    refused(make_zip(LAYOUT | {"train/dog/cut.png": truncated}), r"train/dog/cut.png is not a readable image")


def test_refuses_images_outside_class_folders() -> None:
    refused(make_zip(LAYOUT | {"train/loose.png": png(0)}), r"train/loose.png is not inside a class folder")


@pytest.mark.parametrize(
    "name, match",
    [
        ("../evil.png", r"points outside the archive"),
        ("train/cat/../../../evil.png", r"points outside the archive"),
        ("/etc/evil.png", r"absolute path"),
        ("C:/evil.png", r"absolute path"),
        ("..\\evil.png", r"points outside the archive"),
    ],
)
def test_refuses_zip_slip(name: str, match: str) -> None:
    refused(make_zip(LAYOUT | {name: png(0)}), match)


def test_refuses_a_zip_bomb_by_declared_size() -> None:
    bomb = make_zip(LAYOUT | {"train/cat/bomb.png": b"\0" * 3_000_000})
    assert len(bomb) < 50_000
    refused(bomb, r"more than 1 MB \(declared sizes\).*zip bomb", max_bytes=1024 * 1024)


def test_refuses_an_archive_whose_sizes_lie() -> None:
    """A member that declares 1 kB but holds 2 MB: reading stops at the declared size, and the
    archive is refused instead of decompressing on."""
    content = b"\0" * 2_000_000
    archive = bytearray(make_zip(LAYOUT | {"train/cat/liar.png": content}))
    # Rewrite the uncompressed size in the central directory entry of that member.
    name = b"train/cat/liar.png"
    start = archive.rfind(name) - 46  # the central directory header comes after the data
    assert archive[start : start + 4] == b"PK\x01\x02"
    struct.pack_into("<I", archive, start + 24, 1000)
    refused(bytes(archive), r"liar.png", max_bytes=1024 * 1024)


def test_refuses_too_many_files() -> None:
    refused(make_zip(LAYOUT), r"7 entries, more than the limit of 5", max_files=5)


def test_refuses_a_folder_over_the_size_limit(tmp_path: Path) -> None:
    refused(write_folder(tmp_path / "d", LAYOUT), r"more than 0 MB", max_bytes=100)


def test_refuses_what_is_not_a_dataset(tmp_path: Path) -> None:
    refused(b"not a zip at all", r"not a readable ZIP archive")
    refused(tmp_path / "missing", r"not found")
    (tmp_path / "notes.txt").write_text("hi")
    refused(tmp_path / "notes.txt", r"not a folder or a .zip archive")
