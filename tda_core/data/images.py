"""Loading and validating image datasets: a folder or a ZIP in the ImageFolder layout.

The layout is ``train/<class>/*.png|jpg|jpeg`` and ``test/<class>/*`` (one wrapping folder
around ``train/`` and ``test/`` is allowed). Classes are the sorted folder names of ``train/``;
every one must also appear in ``test/``. Files are read in sorted path order, so training
index ``i`` is always the same file (``Dataset.train_ids[i]`` is its relative path).

Every image goes through one torchvision transform (:func:`image_transform`), after 16-bit
greyscale pictures are scaled to 8 bits (65535 -> 255; PIL would clip them at 255):

* convert to grayscale (1 channel) when every image of the dataset is grayscale, otherwise to
  RGB (3 channels); ``channels=1|3`` forces one;
* resize to ``size`` x ``size`` (default 28) with bilinear interpolation (aspect not kept);
* ``ToTensor`` (values in [0, 1]) and ``Normalize(mean=0.5, std=0.5)`` per channel, so the
  network sees values in [-1, 1].

``thumbnails_train``/``thumbnails_test`` are uint8 RGB pictures of ``THUMBNAIL_SIZE`` pixels
for galleries. A ZIP is read member by member in memory and never extracted, so nothing is
written to disk. Archives are checked for unsafe paths (absolute, ``..``), for their declared
uncompressed size *and* the bytes actually decompressed (zip bombs), and for the number of
entries.

torch and torchvision are imported inside the functions: the tabular path never pays for them.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import DataError
from .archive import Entry, folder_entries, zip_entries
from .dataset import Dataset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Side of the square the network sees.
IMAGE_SIZE = 28
#: Side of the square gallery thumbnails.
THUMBNAIL_SIZE = 64
#: Normalisation after ToTensor: (x - 0.5) / 0.5 maps [0, 1] to [-1, 1].
NORMALIZE_MEAN = 0.5
NORMALIZE_STD = 0.5
#: Default limit on the uncompressed bytes of all files (declared and actually read).
MAX_BYTES = 512 * 1024 * 1024
#: Default limit on the number of files (or ZIP entries).
MAX_FILES = 50_000
#: Largest picture accepted, in pixels (a decompression bomb guard for PNG/JPEG themselves).
MAX_PIXELS = 40_000_000
GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


# ---------------------------------------------------------------------------------------
# The transform


def image_transform(size: int = IMAGE_SIZE, channels: int = 1) -> Any:
    """The torchvision transform every image goes through (see the module docstring)."""
    from torchvision import transforms

    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (grayscale) or 3 (RGB), not {channels}")
    convert = transforms.Grayscale(num_output_channels=1) if channels == 1 else transforms.Lambda(_to_rgb)
    return transforms.Compose(
        [
            convert,
            transforms.Resize((size, size), interpolation=transforms.InterpolationMode.BILINEAR, antialias=True),
            transforms.ToTensor(),
            transforms.Normalize([NORMALIZE_MEAN] * channels, [NORMALIZE_STD] * channels),
        ]
    )


def _to_rgb(image: Any) -> Any:
    return image.convert("RGB")


#: Greyscale modes with more than 8 bits per pixel (16-bit PNGs); PIL's convert("L") clips them at 255.
WIDE_GRAYSCALE_MODES = {"I", "I;16", "I;16B", "I;16L"}


def _eight_bit(image: Any) -> Any:
    """A 16-bit greyscale picture scaled to 8 bits (65535 -> 255), as every viewer shows it;
    other pictures unchanged. PNG holds at most 16 bits, so mode "I" holds 0..65535 too."""
    if image.mode not in WIDE_GRAYSCALE_MODES:
        return image
    from PIL import Image

    levels = np.asarray(image, dtype=np.float64)
    return Image.fromarray(np.clip(np.rint(levels / 257.0), 0, 255).astype(np.uint8))  # mode L


def _thumbnail(image: Any, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    from PIL import Image

    return np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


# ---------------------------------------------------------------------------------------
# Validation and decoding


def _check_layout(entries: list[Entry], label: str) -> tuple[str, ...]:
    splits = {e.split for e in entries}
    for split in ("train", "test"):
        if split not in splits:
            raise DataError(
                f"{label}: no {split}/ folder with images; the layout is train/<class>/*.png and "
                "test/<class>/*.png (jpg and jpeg work too)"
            )
    bad = [e.path for e in entries if not e.path.lower().endswith(IMAGE_SUFFIXES)]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise DataError(
            f"{label}: {', '.join(bad[:3])}{more} {'is not an image file' if len(bad) == 1 else 'are not image files'} "
            f"({', '.join(IMAGE_SUFFIXES)}); "
            "remove other files from train/ and test/"
        )
    classes = tuple(sorted({e.label for e in entries if e.split == "train"}))
    if len(classes) < 2:
        raise DataError(
            f"{label}: train/ has {len(classes)} class folder{'' if len(classes) == 1 else 's'}"
            f"{' (' + classes[0] + ')' if classes else ''}; a classifier needs at least two, as train/<class>/"
        )
    test_classes = {e.label for e in entries if e.split == "test"}
    missing = [c for c in classes if c not in test_classes]
    if missing:
        raise DataError(
            f"{label}: test/ has no images of the class{'es' if len(missing) > 1 else ''} {', '.join(missing)}; "
            "add test/<class>/ folders for every class of train/"
        )
    unknown = sorted(test_classes - set(classes))
    if unknown:
        raise DataError(f"{label}: test/ has classes that train/ lacks: {', '.join(unknown)}; add them to train/ or remove them")
    return classes


def _probe(entry: Entry, label: str, max_pixels: int) -> tuple[bytes, str]:
    """Read a file's bytes and its image header (mode and size, without decoding the pixels)."""
    from PIL import Image

    data = entry.read()
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            mode = probe.mode
    except Exception as exc:  # PIL raises many types for broken files; the user needs one line
        raise _unreadable(entry, label, exc) from None
    if width * height > max_pixels:
        raise DataError(
            f"{label}: {entry.path} is {width}x{height} pixels, more than the limit of {max_pixels}; shrink the image"
        )
    return data, mode


def _unreadable(entry: Entry, label: str, exc: Exception) -> DataError:
    return DataError(
        f"{label}: {entry.path} is not a readable image ({exc.__class__.__name__}: {exc}); replace or remove the file"
    )


def _convert(entries: list[tuple[Entry, bytes]], transform: Any, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode each image once: the network's input through ``transform`` and the thumbnail."""
    from PIL import Image

    X, thumbs = [], []
    for entry, data in entries:
        try:
            with Image.open(io.BytesIO(data)) as opened:
                opened.load()
                image = _eight_bit(opened)
                X.append(transform(image).numpy())
                thumbs.append(_thumbnail(image))
        except DataError:
            raise
        except Exception as exc:
            raise _unreadable(entry, label, exc) from None
    return np.stack(X).astype(np.float32, copy=False), np.stack(thumbs)


def stack_images(images: list[Any], transform: Any) -> tuple[np.ndarray, np.ndarray]:
    """The network's inputs (N, channels, H, W) and the thumbnails of PIL ``images``."""
    images = [_eight_bit(im) for im in images]
    X = np.stack([transform(im).numpy() for im in images]).astype(np.float32, copy=False)
    thumbs = np.stack([_thumbnail(im) for im in images])
    return X, thumbs


def _dataset(
    entries: list[Entry],
    name: str,
    label: str,
    size: int,
    channels: int | None,
    max_pixels: int,
) -> Dataset:
    classes = _check_layout(entries, label)
    codes = {c: i for i, c in enumerate(classes)}
    entries = sorted(entries, key=lambda e: e.path)
    probed = [(e, *_probe(e, label, max_pixels)) for e in entries]  # compressed bytes only, not pixels
    if channels is None:
        channels = 1 if all(mode in GRAYSCALE_MODES for _, _, mode in probed) else 3
    transform = image_transform(size, channels)
    parts = {}
    for split in ("train", "test"):
        chosen = [(e, data) for e, data, _ in probed if e.split == split]
        X, thumbs = _convert(chosen, transform, label)
        parts[split] = (
            X,
            np.array([codes[e.label] for e, _ in chosen], dtype=np.int64),
            np.array([e.path for e, _ in chosen]),
            thumbs,
        )
    (Xtr, ytr, idtr, thtr), (Xte, yte, idte, thte) = parts["train"], parts["test"]
    kind = "grayscale" if channels == 1 else "RGB"
    return Dataset(
        name=name,
        kind="images",
        X_train=Xtr,
        y_train=ytr,
        X_test=Xte,
        y_test=yte,
        classes=classes,
        train_ids=idtr,
        test_ids=idte,
        target="class",
        description=(
            f"{len(classes)} classes, {len(ytr)} train / {len(yte)} test images, "
            f"{kind} {size}x{size}"
        ),
        thumbnails_train=thtr,
        thumbnails_test=thte,
    )


def load_images(
    path: str | Path | bytes,
    name: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_files: int = MAX_FILES,
    size: int = IMAGE_SIZE,
    channels: int | None = None,
    max_pixels: int = MAX_PIXELS,
) -> Dataset:
    """Load an image dataset from a folder, a ``.zip`` file, or the bytes of an uploaded ZIP.

    ``name`` labels the dataset (and error messages); by default the folder or file name.
    ``channels`` is 1 or 3 to force grayscale or RGB; by default grayscale only when every
    image is. Raises :class:`~tda_core.exceptions.DataError` with one line saying what is
    wrong and how to fix it.
    """
    if isinstance(path, (bytes, bytearray, memoryview)):
        label = name or "upload.zip"
        entries, archive = zip_entries(io.BytesIO(bytes(path)), label, max_bytes, max_files)
        with archive:
            return _dataset(entries, Path(label).stem, label, size, channels, max_pixels)
    source = Path(path)
    label = name or source.name or str(source)
    if source.is_dir():
        entries = folder_entries(source, label, max_bytes, max_files)
        return _dataset(entries, name or source.resolve().name, label, size, channels, max_pixels)
    if not source.exists():
        raise DataError(f"{label}: not found; give a folder with train/ and test/, or a .zip of them")
    if source.suffix.lower() != ".zip" and not zipfile.is_zipfile(source):
        raise DataError(f"{label}: not a folder or a .zip archive; give a folder with train/ and test/, or a .zip of them")
    entries, archive = zip_entries(source, label, max_bytes, max_files)
    with archive:
        return _dataset(entries, name or source.stem, label, size, channels, max_pixels)


