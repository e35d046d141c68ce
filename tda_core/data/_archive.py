"""Reading a folder or a ZIP archive of images safely: the ImageFolder layout, no escaping paths.

Two layouts: a dataset (``train/<class>/*``, ``test/<class>/*`` and, optionally,
``pool/<class>/*``; :func:`zip_entries`, :func:`folder_entries`) and a pool on its own
(``<class>/*`` or ``pool/<class>/*``; ``layout="pool"``). One wrapping folder is allowed around
either.

Archive members are checked for unsafe paths (absolute, ``..``), symbolic links and
encryption; their declared uncompressed size *and* the bytes actually decompressed are counted
against a budget (zip bombs), and so is the number of entries. A ZIP is read member by member
in memory and never extracted.
"""

from __future__ import annotations

import lzma
import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .._exceptions import DataError, reason

#: The largest single file accepted (declared or on disk): no picture a network trains on is
#: this large, and reading one would hold it in memory whole.
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Image files the loaders read (checked by images.py; named here so that layouts can tell them).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: The folders of a dataset: the training and test sets, and the optional pool for ``add``.
SPLITS = ("train", "test", "pool")
#: Files that operating systems leave behind; skipped silently.
JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass(frozen=True)
class Entry:
    """One image file: its path relative to the dataset root, split and class, and a reader."""

    path: str  # "train/cat/001.png"
    split: str  # "train" | "test" | "pool"
    label: str  # class folder name
    read: Callable[[], bytes]


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(p == "__MACOSX" or p in JUNK_NAMES or p.startswith("._") for p in parts)


def _strip_wrapper(paths: list[tuple[str, ...]]) -> tuple[str, ...]:
    """The prefix to drop: () when train/ and test/ lie at the top, (root,) for one wrapping folder.
    Files at the top (a README beside the folder) do not count, as for a folder on disk."""
    if {"train", "test"} & {p[0] for p in paths if p}:
        return ()
    tops = {p[0] for p in paths if len(p) > 1}
    if len(tops) == 1:
        (top,) = tops
        if any(len(p) > 1 and p[1] in ("train", "test") for p in paths):
            return (top,)
    return ()


def _classify(rel: tuple[str, ...], label: str) -> tuple[str, str] | None:
    """(split, class) of a file below the root; None for files outside train/, test/ and pool/."""
    if not rel or rel[0] not in SPLITS:
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


def _pool_prefix(paths: list[tuple[str, ...]], known: Collection[str]) -> tuple[str, ...]:
    """The prefix above a pool's class folders: ("pool",) for ``pool/<class>/*`` (also inside a
    dataset), (top, "pool") or (top,) for one wrapping folder, () for ``<class>/*`` at the top.
    A top folder named like a training class is a class, never a wrapper."""
    if any(len(p) > 2 and p[0] == "pool" for p in paths):
        return ("pool",)
    tops = {p[0] for p in paths if len(p) > 1}
    if len(tops) != 1:
        return ()
    (top,) = tops
    if top in known:
        return ()
    if any(len(p) > 3 and p[1] == "pool" for p in paths):
        return (top, "pool")
    below = [p for p in paths if len(p) > 1]
    return (top,) if all(len(p) > 2 for p in below) else ()


def _pool_classify(rel: tuple[str, ...], label: str) -> tuple[str, str] | None:
    """("pool", class) of a file below the pool's prefix; None for other files beside the classes."""
    if len(rel) >= 2:
        return "pool", rel[0]
    if rel and rel[0].lower().endswith(IMAGE_SUFFIXES):
        # A picture with no class folder cannot be labelled: say so rather than skip it.
        raise DataError(
            f"{label}: {rel[0]} is not inside a class folder; put each pool image in <class>/ "
            f"(for example cat/{rel[0]}) or pool/<class>/"
        )
    return None


def _locate(paths: list[tuple[str, ...]], label: str, layout: str, known: Collection[str]) -> list[tuple[tuple[str, ...], tuple[str, str]] | None]:
    """For each path: (its path below the dataset's root, (split, class)), or None when it is
    not part of the layout (a README beside the folders, train/ when reading a pool)."""
    prefix = _pool_prefix(paths, known) if layout == "pool" else _strip_wrapper(paths)
    classify = _pool_classify if layout == "pool" else _classify
    located = []
    for parts in paths:
        rel = parts[len(prefix) :] if parts[: len(prefix)] == prefix else ()
        where = classify(rel, label) if rel else None
        located.append((rel, where) if where else None)
    return located


def _entries(located: list[tuple[tuple[str, ...], tuple[str, str]] | None], readers: list[Callable[[], bytes]]) -> list[Entry]:
    """The entries of the located files (skipping the others), each with its reader."""
    return [
        Entry("/".join(place[0]), place[1][0], place[1][1], read)
        for place, read in zip(located, readers, strict=True)
        if place is not None
    ]


def _check_layout_name(layout: str) -> None:
    if layout not in ("dataset", "pool"):
        raise ValueError(f"layout must be 'dataset' or 'pool', not {layout!r}")


def zip_entries(
    source: Any, label: str, max_bytes: int, max_files: int, *, layout: str = "dataset", known: Collection[str] = ()
) -> tuple[list[Entry], Any]:
    """The image entries of a ZIP (a path or a binary file) and the open archive (close it when
    done). ``layout`` is "dataset" (train/, test/, pool/) or "pool" (a pool alone); ``known``
    names the training classes, so that a pool's single class folder is not taken for a wrapper."""
    _check_layout_name(layout)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        what = "<class>/ folders" if layout == "pool" else "train/ and test/ folders"
        why = reason(exc, 200) or "it is damaged or cut short"
        raise DataError(f"{label}: not a readable ZIP archive ({why}); upload a .zip of {what}") from exc
    try:
        return _zip_members(archive, label, max_bytes, max_files, layout, known), archive
    except BaseException:
        archive.close()
        raise


def _zip_members(
    archive: zipfile.ZipFile, label: str, max_bytes: int, max_files: int, layout: str, known: Collection[str]
) -> list[Entry]:
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
        if info.file_size > MAX_FILE_BYTES:
            raise DataError(
                f"{label}: the archive entry {info.filename!r} unpacks to {megabytes(info.file_size)}, more than the "
                f"limit of {megabytes(MAX_FILE_BYTES)} for one file; this looks like a zip bomb or not a picture"
            )
        declared += info.file_size
        if declared > max_bytes:
            raise DataError(
                f"{label}: the archive unpacks to more than {megabytes(max_bytes)} (declared sizes); "
                "this looks like a zip bomb or too large a dataset; use fewer or smaller images"
            )
        kept.append((parts, info))
    budget = _Budget(max_bytes, label)
    located = _locate([p for p, _ in kept], label, layout, known)
    return _entries(located, [_zip_reader(archive, info, budget, label) for _, info in kept])


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
                f"{self.label}: the archive unpacks to more than {megabytes(self.limit)} (bytes read); "
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
        except (zlib.error, lzma.LZMAError) as exc:  # "Error -3 while decompressing data": a damaged entry
            raise DataError(f"{label}: cannot read {info.filename!r} from the archive (its compressed bytes are damaged); "
                            "re-create the archive") from exc
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, ValueError) as exc:
            why = reason(exc, 200) or "it is damaged or cut short"
            raise DataError(f"{label}: cannot read {info.filename!r} from the archive ({why}); re-create the archive") from exc
        return b"".join(chunks)

    return read


def folder_entries(
    root: Path, label: str, max_bytes: int, max_files: int, *, layout: str = "dataset", known: Collection[str] = ()
) -> list[Entry]:
    """The image entries of a folder on disk; ``layout`` and ``known`` as for :func:`zip_entries`."""
    _check_layout_name(layout)
    if layout == "dataset":
        root = _unwrap_folder(root)
    files = _walk(root, label, max_bytes, max_files)
    located = _locate([rel for rel, _ in files], label, layout, known)
    return _entries(located, [full.read_bytes for _, full in files])


def _unwrap_folder(root: Path) -> Path:
    """The folder holding train/ and test/: ``root``, or its one subfolder that does."""
    if not (root / "train").is_dir() and not (root / "test").is_dir():
        subdirs = [p for p in root.iterdir() if p.is_dir() and not _is_junk((p.name,))]
        if len(subdirs) == 1 and ((subdirs[0] / "train").is_dir() or (subdirs[0] / "test").is_dir()):
            return subdirs[0]
    return root


def _walk(root: Path, label: str, max_bytes: int, max_files: int) -> list[tuple[tuple[str, ...], Path]]:
    """Every file below ``root`` (path parts relative to it, and its path), sorted, junk skipped;
    refuses symbolic links and files or totals beyond the limits before reading any file."""
    total, count, files = 0, 0, []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for dname in dirnames:
            folder = Path(dirpath) / dname
            if folder.is_symlink() and not _is_junk(folder.relative_to(root).parts):
                # os.walk would skip it silently, and with it every image inside.
                raise DataError(
                    f"{label}: {'/'.join(folder.relative_to(root).parts)} is a symbolic link to a folder; "
                    "copy the folder itself into the dataset"
                )
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
            size = full.stat().st_size
            if size > MAX_FILE_BYTES:
                raise DataError(
                    f"{label}: {'/'.join(rel)} is {megabytes(size)}, more than the limit of "
                    f"{megabytes(MAX_FILE_BYTES)} for one file; shrink it or remove it"
                )
            total += size
            if total > max_bytes:
                raise DataError(f"{label}: the files add up to more than {megabytes(max_bytes)}; use fewer or smaller images")
            files.append((rel, full))
    return files


def megabytes(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"
