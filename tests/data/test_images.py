"""Image datasets: folders and ZIPs in the ImageFolder layout, the transform, and every way the
layout or an image can be wrong. (Archive safety itself: test_archive.py.)"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from helpers import make_zip
from PIL import Image

from tda_core._exceptions import DataError
from tda_core.data._images import IMAGE_SIZE, THUMBNAIL_SIZE, image_transform, load_images


def png(value, size: tuple[int, int] = (20, 12), mode: str = "L") -> bytes:
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


def refused(source: object, match: str, **kwargs: object) -> str:
    with pytest.raises(DataError, match=match) as info:
        load_images(source, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return message


def without(*prefixes: str) -> dict[str, bytes]:
    return {k: v for k, v in LAYOUT.items() if not k.startswith(prefixes)}


def test_folder_loads_into_a_normalised_dataset(tmp_path: Path) -> None:
    data = load_images(write_folder(tmp_path / "pets", LAYOUT))
    assert data.kind == "images" and data.name == "pets" and data.target == "class"
    assert data.classes == ("cat", "dog")
    assert data.X_train.shape == (5, 1, IMAGE_SIZE, IMAGE_SIZE) and data.X_train.dtype == np.float32
    assert data.X_test.shape == (2, 1, IMAGE_SIZE, IMAGE_SIZE)
    assert data.y_train.tolist() == [0, 0, 1, 1, 1] and data.y_train.dtype == np.int64
    assert data.y_test.tolist() == [0, 1]
    assert list(data.train_ids) == sorted(n for n in LAYOUT if n.startswith("train/"))
    assert list(data.test_ids) == ["test/cat/t1.png", "test/dog/t2.png"]
    # ToTensor + Normalize(0.5, 0.5): black -> -1, white -> +1.
    np.testing.assert_array_equal(data.X_train[0], -1.0)
    np.testing.assert_array_equal(data.X_train[4], 1.0)
    assert data.thumbnails_train.shape == (5, THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3)
    assert data.thumbnails_train.dtype == np.uint8
    assert data.thumbnails_train[4].min() == 255 and data.thumbnails_test[0].max() == 0
    assert data.description == "2 classes, 5 train / 2 test images, grayscale 28x28"


def test_grey_levels_map_linearly_to_minus_one_one(tmp_path: Path) -> None:
    files = dict(LAYOUT) | {"train/cat/grey.png": png(51)}  # 51/255 = 0.2 -> (0.2 - 0.5) / 0.5 = -0.6
    data = load_images(make_zip(files))
    grey = list(data.train_ids).index("train/cat/grey.png")
    np.testing.assert_allclose(data.X_train[grey], -0.6, atol=1e-6)
    assert data.thumbnails_train[grey].min() == data.thumbnails_train[grey].max() == 51


def test_sixteen_bit_greyscale_keeps_its_levels() -> None:
    """A 16-bit PNG (I;16) is scaled to 8 bits, not clipped: 0, 16448 and 65535 are black,
    a quarter grey and white (clipping at 255 made everything above 255 white)."""
    def png16(value: int) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(np.full((10, 10), value, dtype=np.uint16)).save(buffer, format="PNG")
        return buffer.getvalue()

    files = {
        "train/a/0.png": png16(0), "train/a/1.png": png16(16448),
        "train/b/0.png": png16(65535), "test/a/0.png": png16(16448), "test/b/0.png": png16(65535),
    }
    assert Image.open(io.BytesIO(files["train/a/0.png"])).mode == "I;16"
    data = load_images(make_zip(files))
    assert data.X_train.shape[1] == 1
    np.testing.assert_allclose(data.X_train[:, 0, 0, 0], [-1.0, 64 / 255 * 2 - 1, 1.0], atol=1e-6)
    assert data.thumbnails_train[:, 0, 0, 0].tolist() == [0, 64, 255]


def test_zip_bytes_give_the_same_dataset_as_the_folder(tmp_path: Path) -> None:
    from_folder = load_images(write_folder(tmp_path / "pets", LAYOUT))
    from_zip = load_images(make_zip(LAYOUT), name="pets.zip")
    assert from_zip.name == "pets"
    assert from_zip.fingerprint == from_folder.fingerprint
    np.testing.assert_array_equal(from_zip.X_train, from_folder.X_train)
    assert list(from_zip.train_ids) == list(from_folder.train_ids)
    (tmp_path / "pets.zip").write_bytes(make_zip(LAYOUT))
    from_file = load_images(tmp_path / "pets.zip")
    assert from_file.name == "pets" and from_file.fingerprint == from_folder.fingerprint


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


def test_folder_with_a_wrapping_folder(tmp_path: Path) -> None:
    write_folder(tmp_path / "outer" / "pets", LAYOUT | {"notes.txt": b"hi"})
    data = load_images(tmp_path / "outer")
    assert data.n_train == 5 and data.train_ids[0] == "train/cat/c1.png"


def test_colour_images_give_rgb_and_jpeg_is_read() -> None:
    files = dict(LAYOUT)
    files["train/cat/red.jpg"] = jpeg((255, 0, 0))
    data = load_images(make_zip(files))
    assert data.X_train.shape[1] == 3 and data.description.endswith("RGB 28x28")
    red = list(data.train_ids).index("train/cat/red.jpg")
    assert data.X_train[red, 0].mean() > 0.9 and data.X_train[red, 1].mean() < -0.9
    forced = load_images(make_zip(files), channels=1)
    assert forced.X_train.shape[1] == 1
    small = load_images(make_zip(LAYOUT), size=12, channels=3)
    assert small.X_train.shape == (5, 3, 12, 12)
    with pytest.raises(DataError, match="channels must be 1 \\(grayscale\\) or 3 \\(RGB\\), not 2"):
        image_transform(12, 2)


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
    message = refused(make_zip(LAYOUT | {"train/cat/notes.txt": b"hello"}), r"train/cat/notes.txt is not an image file")
    assert ".png" in message
    refused(write_folder(tmp_path / "d", LAYOUT | {"test/dog/a.csv": b"1,2"}), r"test/dog/a.csv")


def test_refuses_corrupt_images() -> None:
    refused(make_zip(LAYOUT | {"train/dog/broken.png": b"\x89PNG\r\n\x1a\n garbage"}), r"train/dog/broken.png is not a readable image")
    truncated = png(128, size=(64, 64))[:60]
    refused(make_zip(LAYOUT | {"train/dog/cut.png": truncated}), r"train/dog/cut.png is not a readable image")


def test_refuses_images_outside_class_folders() -> None:
    refused(make_zip(LAYOUT | {"train/loose.png": png(0)}), r"train/loose.png is not inside a class folder")


def test_refuses_pictures_over_the_pixel_limit() -> None:
    refused(make_zip(LAYOUT), r"upload.zip: test/cat/t1.png is 20x12 pixels, more than the limit of 200; shrink the image", max_pixels=200)


def test_refuses_what_is_not_a_dataset(tmp_path: Path) -> None:
    refused(b"not a zip at all", r"not a readable ZIP archive")
    refused(tmp_path / "missing", r"not found")
    (tmp_path / "notes.txt").write_text("hi")
    refused(tmp_path / "notes.txt", r"not a folder or a .zip archive")


# --- the input a network expects, and the budgets ------------------------------------------


def test_the_input_sets_size_channels_and_normalisation() -> None:
    from tda_core.data._images import IMAGENET_INPUT, IMAGENET_MEAN, IMAGENET_STD, SMALL_INPUT

    data = load_images(make_zip(LAYOUT), image_input=IMAGENET_INPUT.with_size(16))
    assert data.X_train.shape == (5, 3, 16, 16)  # grayscale pictures, an RGB network: three equal channels
    assert data.description == "2 classes, 5 train / 2 test images, RGB 16x16, ImageNet mean/std"
    white = (1.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(data.X_train[4, :, 3, 3], white, atol=1e-6)
    np.testing.assert_allclose(data.X_train[0, :, 3, 3], -np.array(IMAGENET_MEAN) / np.array(IMAGENET_STD), atol=1e-6)
    # size= and channels= override the input's; the default input is the small networks'.
    assert load_images(make_zip(LAYOUT), size=20, image_input=IMAGENET_INPUT).X_train.shape == (5, 3, 20, 20)
    default = load_images(make_zip(LAYOUT))
    assert default.X_train.shape == (5, 1, 28, 28) and SMALL_INPUT.size == IMAGE_SIZE == 28
    np.testing.assert_array_equal(load_images(make_zip(LAYOUT), image_input=SMALL_INPUT).X_train, default.X_train)
    with pytest.raises(DataError, match=r"the normalisation mean has 3 values, for images with 1 channels"):
        load_images(make_zip(LAYOUT), image_input=IMAGENET_INPUT, channels=1)


@pytest.mark.parametrize("size", [0, 7, 1025, 2.5, True, "32"])
def test_refuses_image_sizes_out_of_range(size: object) -> None:
    refused(make_zip(LAYOUT), r"the image size must be a whole number of pixels between 8 and 1024", size=size)


def test_refuses_a_total_decoded_pixel_budget_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    from tda_core.data import _images as images

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded before the budget was checked")

    monkeypatch.setattr(images, "_convert", no_decoding)
    files = LAYOUT | {"train/dog/big.png": png(255, size=(400, 300))}  # 7 x 20x12 = 1680 + 120000 pixels
    message = refused(make_zip(files), r"upload.zip: the 8 images decode to 0.1 megapixels together, more than the "
                                       r"limit of 0.1 megapixels; shrink the pictures \(the network sees 28x28\) or use fewer",
                      max_total_pixels=100_000)
    assert "max" not in message
    # The network's inputs: 7 pictures x 3 x 224 x 224 float32 = 4.0 MB.
    refused(make_zip(LAYOUT), r"upload.zip: 7 images at 224x224 with 3 channels take 0.0 GB as network inputs, more than "
                              r"the limit of 0.0 GB; choose a smaller image size or use fewer images",
            image_input=images.IMAGENET_INPUT, max_input_bytes=4_000_000)


def test_the_default_budgets_hold_a_large_dataset_at_224() -> None:
    from tda_core.data._images import MAX_INPUT_BYTES, MAX_TOTAL_PIXELS, check_budget

    check_budget("x", [500 * 375] * 3000, 3, 224, MAX_TOTAL_PIXELS, MAX_INPUT_BYTES)  # 3000 photos: 1.7 GB of inputs
    with pytest.raises(DataError, match=r"x: 5000 images at 224x224 with 3 channels take 2.8 GB as network inputs"):
        check_budget("x", [500 * 375] * 5000, 3, 224, MAX_TOTAL_PIXELS, MAX_INPUT_BYTES)
    assert check_budget("x", [500 * 375] * 5000, 3, 128, MAX_TOTAL_PIXELS, MAX_INPUT_BYTES) is None  # a smaller size fits
    with pytest.raises(DataError, match=r"x: the 30 images decode to 1,191 megapixels together, more than the limit of 1,000 megapixels"):
        check_budget("x", [39_700_000] * 30, 1, 28, MAX_TOTAL_PIXELS, MAX_INPUT_BYTES)  # many small files of huge pictures


def test_the_digits_demo_for_another_input() -> None:
    from tda_core.data._demos import load_digits
    from tda_core.data._images import IMAGENET_INPUT

    small = load_digits(train_per_class=2, test_per_class=1)
    assert small.X_train.shape == (20, 1, 28, 28) and small.description.endswith("grayscale 28x28")
    rgb = load_digits(train_per_class=2, test_per_class=1, image_input=IMAGENET_INPUT.with_size(32))
    assert rgb.X_train.shape == (20, 3, 32, 32) and rgb.description.endswith("RGB 32x32, ImageNet mean/std")
    assert (rgb.y_train == small.y_train).all()


def test_load_demo_prepares_image_demos_only() -> None:
    from tda_core.data import load_demo
    from tda_core.data._images import IMAGENET_INPUT

    digits = load_demo("digits", image_input=IMAGENET_INPUT.with_size(16))
    assert digits.X_train.shape == (300, 3, 16, 16)
    credit = load_demo("credit", image_input=IMAGENET_INPUT)  # tables: ignored
    assert credit.kind == "tabular"
