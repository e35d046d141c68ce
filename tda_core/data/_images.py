"""Loading and validating image datasets: a folder or a ZIP in the ImageFolder layout.

The layout is ``train/<class>/*.png|jpg|jpeg`` and ``test/<class>/*`` (one wrapping folder
around ``train/`` and ``test/`` is allowed). Classes are the sorted folder names of ``train/``;
every one must also appear in ``test/``. Files are read in sorted path order, so training
index ``i`` is always the same file (``Dataset.train_ids[i]`` is its relative path).

An optional ``pool/<class>/*`` beside them is the dataset's pool (the samples the ``add``
action may add); its classes must be training classes, not necessarily all of them. A pool may
also come on its own (:func:`image_pool`, a folder or ZIP of ``<class>/*`` or ``pool/<class>/*``),
read with the same checks and the same transform as the training images.

Every image goes through one torchvision transform (:func:`image_transform`), after 16-bit
greyscale pictures are scaled to 8 bits (65535 -> 255; PIL would clip them at 255). What the
transform does is an :class:`ImageInput`, the input an architecture expects
(:func:`tda_core.recipes.torch._networks.image_input` gives the one of each architecture):

* convert to grayscale (1 channel) or RGB (3 channels): the input's ``channels``, or, when it
  leaves them open (the small networks), grayscale only when every image of the dataset is;
* resize to ``size`` x ``size`` with bilinear interpolation (aspect not kept): 28 for the small
  networks (:data:`SMALL_INPUT`), 224 for torchvision's classifiers (:data:`IMAGENET_INPUT`);
* ``ToTensor`` (values in [0, 1]) and ``Normalize(mean, std)`` per channel: 0.5/0.5 for the
  small networks, so that they see values in [-1, 1]; ImageNet's mean and std for torchvision's
  classifiers, as their pretrained weights expect.

Before any picture is decoded, two budgets are checked from the files' headers, each refused
with one :class:`~tda_core._exceptions.DataError`: the pixels decoded from all files together
(``max_total_pixels``, :data:`MAX_TOTAL_PIXELS`; a bomb of many large pictures takes minutes),
and the memory of the network's inputs, N x channels x size x size float32
(``max_input_bytes``, :data:`MAX_INPUT_BYTES`; 224x224 RGB is 0.6 MB an image).

``thumbnails_train``/``thumbnails_test`` are uint8 RGB pictures of ``THUMBNAIL_SIZE`` pixels
for galleries. A ZIP is read member by member in memory and never extracted, so nothing is
written to disk. Archives are checked for unsafe paths (absolute, ``..``), for their declared
uncompressed size *and* the bytes actually decompressed (zip bombs), and for the number of
entries.

torch and torchvision are imported inside the functions: the tabular path never pays for them.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._exceptions import TOO_LARGE, DataError, reason
from ._archive import IMAGE_SUFFIXES, Entry, folder_entries, zip_entries
from ._dataset import Dataset

#: Side of the square the small networks see (the default input).
IMAGE_SIZE = 28
#: Side of the square torchvision's classifiers see.
IMAGENET_SIZE = 224
#: Side of the square gallery thumbnails.
THUMBNAIL_SIZE = 64
#: Normalisation of the small networks after ToTensor: (x - 0.5) / 0.5 maps [0, 1] to [-1, 1].
NORMALIZE_MEAN = 0.5
NORMALIZE_STD = 0.5
#: ImageNet's per-channel mean and std (RGB), the normalisation of torchvision's pretrained classifiers.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Smallest and largest side accepted for the network's input.
MIN_IMAGE_SIZE = 8
MAX_IMAGE_SIZE = 1024
#: Default limit on the uncompressed bytes of all files (declared and actually read).
MAX_BYTES = 512 * 1024 * 1024
#: Default limit on the number of files (or ZIP entries).
MAX_FILES = 50_000
#: Largest picture accepted, in pixels (a decompression bomb guard for PNG/JPEG themselves).
MAX_PIXELS = 40_000_000
#: Default limit on the pixels decoded from all files of a dataset together (width x height
#: summed over the files, read from their headers before decoding): 1 gigapixel, about 25 s of
#: decoding on a laptop core, and 5000 photos of 500x375.
MAX_TOTAL_PIXELS = 1_000_000_000
#: Default limit on the memory of the network's inputs: N x channels x size x size float32.
MAX_INPUT_BYTES = 2 * 1024**3
GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


# ---------------------------------------------------------------------------------------
# The input a network expects, and the transform


@dataclass(frozen=True)
class ImageInput:
    """The input an architecture expects: a square of ``size`` pixels, ``channels`` (1, 3, or
    None: grayscale when every image of the dataset is, otherwise RGB), normalised per channel
    by ``mean`` and ``std`` after ToTensor (one value applies to every channel). ``label``
    names the normalisation for people."""

    size: int = IMAGE_SIZE
    channels: int | None = None
    mean: tuple[float, ...] = (NORMALIZE_MEAN,)
    std: tuple[float, ...] = (NORMALIZE_STD,)
    label: str = "[-1, 1]"

    def with_size(self, size: int | None) -> ImageInput:
        """The same input at another size (None: unchanged); refuses sizes the loader refuses."""
        if size is None:
            return self
        return replace(self, size=check_size(size))

    def mean_std(self, channels: int) -> tuple[list[float], list[float]]:
        """Per-channel mean and std for ``channels`` channels."""
        return _per_channel(self.mean, channels, "mean"), _per_channel(self.std, channels, "std")

    def describe(self, channels: int) -> str:
        """For example "grayscale 28x28" or "RGB 224x224, ImageNet mean/std" (the default
        normalisation, to [-1, 1], is not named)."""
        kind = "grayscale" if channels == 1 else "RGB"
        norm = "" if self.label == "[-1, 1]" else f", {self.label}"
        return f"{kind} {self.size}x{self.size}{norm}"


#: The small networks' input (small_cnn, mlp, resnet18_small): 28x28, the data's channels, [-1, 1].
SMALL_INPUT = ImageInput()
#: torchvision's classifiers: 224x224 RGB, ImageNet mean/std.
IMAGENET_INPUT = ImageInput(IMAGENET_SIZE, 3, IMAGENET_MEAN, IMAGENET_STD, "ImageNet mean/std")


def check_size(size: int) -> int:
    """``size`` as an int, or a :class:`DataError` when it is not a side the loader accepts."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE:
        raise DataError(f"the image size must be a whole number of pixels between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE}, not {size!r}")
    return int(size)


def _per_channel(values: Sequence[float], channels: int, what: str) -> list[float]:
    values = [float(v) for v in values]
    if len(values) == 1:
        return values * channels
    if len(values) != channels:
        raise DataError(f"the normalisation {what} has {len(values)} values, for images with {channels} channels")
    return values


def image_transform(
    size: int = IMAGE_SIZE,
    channels: int = 1,
    mean: Sequence[float] = (NORMALIZE_MEAN,),
    std: Sequence[float] = (NORMALIZE_STD,),
) -> Any:
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
            transforms.Normalize(_per_channel(mean, channels, "mean"), _per_channel(std, channels, "std")),
        ]
    )


def input_transform(image_input: ImageInput, channels: int) -> Any:
    """:func:`image_transform` for ``image_input`` with ``channels`` channels."""
    mean, std = image_input.mean_std(channels)
    return image_transform(image_input.size, channels, mean, std)


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


def _check_files(entries: list[Entry], label: str, folders: str) -> None:
    bad = [e.path for e in entries if not e.path.lower().endswith(IMAGE_SUFFIXES)]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise DataError(
            f"{label}: {', '.join(bad[:3])}{more} {'is not an image file' if len(bad) == 1 else 'are not image files'} "
            f"({', '.join(IMAGE_SUFFIXES)}); "
            f"remove other files from {folders}"
        )


def _check_pool_classes(pool_classes: set[str], classes: Sequence[str], label: str, where: str) -> None:
    """A pool sample is added with its label, so its class must be one the model knows."""
    unknown = sorted(pool_classes - set(classes))
    if unknown:
        raise DataError(
            f"{label}: {where} has classes that the training set lacks: {', '.join(unknown)}; the training classes are "
            f"{', '.join(classes)}: rename or remove those folders"
        )


def _check_layout(entries: list[Entry], label: str) -> tuple[str, ...]:
    splits = {e.split for e in entries}
    for split in ("train", "test"):
        if split not in splits:
            raise DataError(
                f"{label}: no {split}/ folder with images; the layout is train/<class>/*.png and "
                "test/<class>/*.png (jpg and jpeg work too)"
            )
    _check_files(entries, label, "train/, test/ and pool/" if "pool" in splits else "train/ and test/")
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
    _check_pool_classes({e.label for e in entries if e.split == "pool"}, classes, label, "pool/")
    return classes


def _probe(entry: Entry, label: str, max_pixels: int) -> tuple[bytes, str, int]:
    """Read a file's bytes and its image header: mode and pixels, without decoding them."""
    from PIL import Image

    data = entry.read()
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            mode = probe.mode
    except Exception as exc:  # PIL raises many types for broken files; the user needs one line
        raise _unreadable(entry, label, exc) from exc
    if width * height > max_pixels:
        raise DataError(
            f"{label}: {entry.path} is {width}x{height} pixels, more than the limit of {max_pixels}; shrink the image"
        )
    return data, mode, width * height


def megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:,.0f} megapixels" if pixels >= 10**7 else f"{pixels / 1e6:,.1f} megapixels"


def _gigabytes(n: int) -> str:
    return f"{n / 1024**3:.1f} GB"


def check_budget(
    label: str, pixels: Sequence[int], channels: int, size: int, max_total_pixels: int, max_input_bytes: int
) -> None:
    """Refuse, before decoding, a dataset whose files decode to more than ``max_total_pixels``
    pixels together, or whose network inputs (N x channels x size x size float32) take more
    than ``max_input_bytes``."""
    total = int(sum(pixels))
    if total > max_total_pixels:
        raise DataError(
            f"{label}: the {len(pixels)} images decode to {megapixels(total)} together, more than the limit of "
            f"{megapixels(max_total_pixels)}; shrink the pictures (the network sees {size}x{size}) or use fewer"
        )
    needed = len(pixels) * channels * size * size * 4
    if needed > max_input_bytes:
        raise DataError(
            f"{label}: {len(pixels)} images at {size}x{size} with {channels} channel{'s' if channels > 1 else ''} "
            f"take {_gigabytes(needed)} as network inputs, more than the limit of {_gigabytes(max_input_bytes)}; "
            "choose a smaller image size or use fewer images"
        )


def _unreadable(entry: Entry, label: str, exc: Exception) -> DataError:
    """A picture PIL could not open or decode, and why in words: nothing more where PIL does not
    know the format ("cannot identify image file"), too large where memory ran out, else the first
    line of its message (a truncated file, a decompression bomb), without the exception's name."""
    from PIL import UnidentifiedImageError

    if isinstance(exc, UnidentifiedImageError):
        why = ""
    else:
        why = TOO_LARGE.rstrip(".") if isinstance(exc, MemoryError) else reason(exc, 200)
    # PIL names the in-memory buffer it read from ("<_io.BytesIO object at 0x...>"): no use to a person.
    why = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "the file", why)
    return DataError(f"{label}: {entry.path} is not a readable image{f' ({why})' if why else ''}; replace or remove the file")


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
            raise _unreadable(entry, label, exc) from exc
    return np.stack(X).astype(np.float32, copy=False), np.stack(thumbs)


def stack_images(images: list[Any], transform: Any) -> tuple[np.ndarray, np.ndarray]:
    """The network's inputs (N, channels, H, W) and the thumbnails of PIL ``images``."""
    images = [_eight_bit(im) for im in images]
    X = np.stack([transform(im).numpy() for im in images]).astype(np.float32, copy=False)
    thumbs = np.stack([_thumbnail(im) for im in images])
    return X, thumbs


@dataclass(frozen=True)
class _Limits:
    max_pixels: int
    max_total_pixels: int
    max_input_bytes: int


def _probe_all(entries: list[Entry], label: str, limits: _Limits) -> list[tuple[Entry, bytes, str, int]]:
    """Every entry in sorted path order with its bytes, mode and pixels (headers only, no decoding)."""
    return [(e, *_probe(e, label, limits.max_pixels)) for e in sorted(entries, key=lambda e: e.path)]


def _decode(
    probed: list[tuple[Entry, bytes, str, int]], split: str, transform: Any, codes: dict[str, int], label: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The inputs, labels, ids (relative paths) and thumbnails of one split."""
    chosen = [(e, data) for e, data, _, _ in probed if e.split == split]
    X, thumbs = _convert(chosen, transform, label)
    labels = np.array([codes[e.label] for e, _ in chosen], dtype=np.int64)
    return X, labels, np.array([e.path for e, _ in chosen]), thumbs


def _dataset(entries: list[Entry], name: str, label: str, image_input: ImageInput, limits: _Limits) -> Dataset:
    classes = _check_layout(entries, label)
    codes = {c: i for i, c in enumerate(classes)}
    probed = _probe_all(entries, label, limits)  # compressed bytes only, not pixels
    channels = image_input.channels
    if channels is None:
        channels = 1 if all(mode in GRAYSCALE_MODES for _, _, mode, _ in probed) else 3
    size = image_input.size
    check_budget(label, [p for *_, p in probed], channels, size, limits.max_total_pixels, limits.max_input_bytes)
    transform = input_transform(image_input, channels)
    Xtr, ytr, idtr, thtr = _decode(probed, "train", transform, codes, label)
    Xte, yte, idte, thte = _decode(probed, "test", transform, codes, label)
    data = Dataset(
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
        description=f"{len(classes)} classes, {len(ytr)} train / {len(yte)} test images, {image_input.describe(channels)}",
        thumbnails_train=thtr,
        thumbnails_test=thte,
    )
    if not any(e.split == "pool" for e in entries):
        return data
    Xpo, ypo, idpo, thpo = _decode(probed, "pool", transform, codes, label)
    return replace(data.with_pool(Xpo, ypo, idpo, thpo), description=(
        f"{len(classes)} classes, {len(ytr)} train / {len(ypo)} pool / {len(yte)} test images, {image_input.describe(channels)}"
    ))


def _training_input(data: Dataset, image_input: ImageInput | None, label: str) -> ImageInput:
    """The input the training images went through, with their channels; a different size is refused
    here, in the user's words, rather than as a shape mismatch later."""
    channels, size = int(data.X_train.shape[1]), int(data.X_train.shape[-1])
    if image_input is None:
        return replace(SMALL_INPUT, size=size, channels=channels)
    if image_input.size != size:
        raise DataError(
            f"{label}: the pool would be prepared at {image_input.size}x{image_input.size}, the training images are "
            f"{size}x{size}; load the pool with the training set's image input"
        )
    return replace(image_input, channels=channels)


def image_pool(
    data: Dataset,
    source: str | Path | bytes,
    name: str | None = None,
    *,
    image_input: ImageInput | None = None,
    max_bytes: int = MAX_BYTES,
    max_files: int = MAX_FILES,
    max_pixels: int = MAX_PIXELS,
    max_total_pixels: int = MAX_TOTAL_PIXELS,
    max_input_bytes: int = MAX_INPUT_BYTES,
) -> Dataset:
    """``data`` (an image dataset) with the pool read from a folder, a ``.zip`` or the bytes of an
    uploaded ZIP, laid out ``<class>/*`` or ``pool/<class>/*`` (one wrapping folder allowed).

    The pool goes through the training images' transform: ``image_input`` (None: the small networks'
    normalisation, :data:`SMALL_INPUT`) at the training images' size and channels. Its classes must
    be training classes; pool ids are the files' paths from their class folder on (``cat/x.png``;
    a pool inside a training archive keeps ``pool/cat/x.png``). Safety checks and limits are those of :func:`load_images`."""
    if data.kind != "images":
        raise DataError(f"{data.name} is a table: give its pool as a .csv or .parquet table")
    label = (name or "pool.zip") if isinstance(source, (bytes, bytearray, memoryview)) else (name or Path(source).name or str(source))
    image_input = _training_input(data, image_input, label)
    limits = _Limits(max_pixels, max_total_pixels, max_input_bytes)
    if isinstance(source, (bytes, bytearray, memoryview)):
        entries, archive = zip_entries(io.BytesIO(bytes(source)), label, max_bytes, max_files, layout="pool", known=data.classes)
        with archive:
            return _attach_pool(data, entries, label, image_input, limits)
    path = Path(source)
    if path.is_dir():
        return _attach_pool(data, folder_entries(path, label, max_bytes, max_files, layout="pool", known=data.classes),
                            label, image_input, limits)
    if not path.exists():
        raise DataError(f"{label}: not found; give a folder of <class>/ folders of images, or a .zip of them")
    if path.suffix.lower() != ".zip" and not zipfile.is_zipfile(path):
        raise DataError(f"{label}: not a folder or a .zip archive; give a folder of <class>/ folders of images, or a .zip of them")
    entries, archive = zip_entries(path, label, max_bytes, max_files, layout="pool", known=data.classes)
    with archive:
        return _attach_pool(data, entries, label, image_input, limits)


def _attach_pool(data: Dataset, entries: list[Entry], label: str, image_input: ImageInput, limits: _Limits) -> Dataset:
    if not entries:
        raise DataError(
            f"{label}: no pool images; the layout is <class>/*.png (or pool/<class>/*.png), with the training classes "
            f"{', '.join(data.classes)} as folder names"
        )
    _check_files(entries, label, "the class folders")
    _check_pool_classes({e.label for e in entries}, data.classes, label, "the pool")
    probed = _probe_all(entries, label, limits)
    channels = int(data.X_train.shape[1])
    check_budget(label, [p for *_, p in probed], channels, image_input.size, limits.max_total_pixels, limits.max_input_bytes)
    codes = {c: i for i, c in enumerate(data.classes)}
    X, y, ids, thumbs = _decode(probed, "pool", input_transform(image_input, channels), codes, label)
    return data.with_pool(X, y, ids, thumbs)


def load_images(
    path: str | Path | bytes,
    name: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_files: int = MAX_FILES,
    size: int | None = None,
    channels: int | None = None,
    max_pixels: int = MAX_PIXELS,
    *,
    image_input: ImageInput = SMALL_INPUT,
    max_total_pixels: int = MAX_TOTAL_PIXELS,
    max_input_bytes: int = MAX_INPUT_BYTES,
) -> Dataset:
    """Load an image dataset from a folder, a ``.zip`` file, or the bytes of an uploaded ZIP.

    ``image_input`` is the input the network expects (size, channels, normalisation; by
    default the small networks' :data:`SMALL_INPUT`); ``size`` overrides its size and
    ``channels`` (1 or 3) its channels. ``name`` labels the dataset (and error messages); by
    default the folder or file name. Raises :class:`~tda_core._exceptions.DataError` with one
    line saying what is wrong and how to fix it, before decoding any picture when a budget
    (``max_total_pixels``, ``max_input_bytes``) is exceeded.
    """
    image_input = image_input.with_size(size)
    if channels is not None:
        if channels not in (1, 3):
            raise DataError(f"channels must be 1 (grayscale) or 3 (RGB), not {channels}")
        image_input = replace(image_input, channels=channels)
    limits = _Limits(max_pixels, max_total_pixels, max_input_bytes)
    if isinstance(path, (bytes, bytearray, memoryview)):
        label = name or "upload.zip"
        entries, archive = zip_entries(io.BytesIO(bytes(path)), label, max_bytes, max_files)
        with archive:
            return _dataset(entries, Path(label).stem, label, image_input, limits)
    source = Path(path)
    label = name or source.name or str(source)
    if source.is_dir():
        entries = folder_entries(source, label, max_bytes, max_files)
        return _dataset(entries, name or source.resolve().name, label, image_input, limits)
    if not source.exists():
        raise DataError(f"{label}: not found; give a folder with train/ and test/, or a .zip of them")
    if source.suffix.lower() != ".zip" and not zipfile.is_zipfile(source):
        raise DataError(f"{label}: not a folder or a .zip archive; give a folder with train/ and test/, or a .zip of them")
    entries, archive = zip_entries(source, label, max_bytes, max_files)
    with archive:
        return _dataset(entries, name or source.stem, label, image_input, limits)
