"""Reading folders and ZIP archives safely: no escaping paths, links, encryption or zip bombs,
nothing extracted; the ImageFolder layout with an optional wrapping folder."""

from __future__ import annotations

import io
import os
import stat
import struct
import zipfile
from pathlib import Path

import pytest
from helpers import make_zip

from tda_core._exceptions import DataError
from tda_core.data._archive import MAX_FILE_BYTES, folder_entries, zip_entries

MB = 1024 * 1024
LAYOUT = {
    "train/cat/c1.png": b"cat one",
    "train/dog/d1.png": b"dog one",
    "test/cat/t1.png": b"cat test",
}


def entries_of(source, max_bytes: int = MB, max_files: int = 100):
    source = io.BytesIO(source) if isinstance(source, bytes) else source
    entries, archive = zip_entries(source, "up.zip", max_bytes, max_files)
    with archive:
        return {e.path: (e.split, e.label, e.read()) for e in entries}


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def test_zip_entries_carry_split_class_and_bytes():
    assert entries_of(make_zip(LAYOUT)) == {
        "train/cat/c1.png": ("train", "cat", b"cat one"),
        "train/dog/d1.png": ("train", "dog", b"dog one"),
        "test/cat/t1.png": ("test", "cat", b"cat test"),
    }


def test_a_wrapping_folder_and_os_junk_are_dropped():
    files = {f"pets/{k}": v for k, v in LAYOUT.items()}
    files |= {"__MACOSX/pets/train/cat/._c1.png": b"junk", "pets/train/.DS_Store": b"junk", "pets/README.txt": b"x",
              "pets/train/cat/Thumbs.db": b"junk"}
    assert sorted(entries_of(make_zip(files))) == sorted(LAYOUT)


def test_a_file_beside_the_wrapping_folder_does_not_hide_it():
    """As for a folder on disk: `zip -r data.zip pets README.md` still has one wrapping folder."""
    files = {f"pets/{k}": v for k, v in LAYOUT.items()} | {"README.md": b"about the pets"}
    assert sorted(entries_of(make_zip(files))) == sorted(LAYOUT)


def test_folder_entries_match_the_zip(tmp_path):
    root = write_folder(tmp_path / "wrap" / "pets", LAYOUT | {"train/cat/.DS_Store": b"junk", "notes.txt": b"x"})
    entries = folder_entries(tmp_path / "wrap", "wrap", MB, 100)
    assert {e.path: (e.split, e.label, e.read()) for e in entries} == entries_of(make_zip(LAYOUT))
    assert root.is_dir()


@pytest.mark.parametrize(
    "name, match",
    [
        ("../evil.png", r"up\.zip: the archive entry '\.\./evil\.png' points outside the archive \('\.\.'\); refusing the archive"),
        ("train/cat/../../../evil.png", r"points outside the archive"),
        ("/etc/evil.png", r"the archive entry '/etc/evil\.png' has an absolute path; refusing the archive"),
        ("C:/evil.png", r"absolute path"),
        ("..\\evil.png", r"points outside the archive"),
    ],
)
def test_refuses_zip_slip(name, match):
    with pytest.raises(DataError, match=match):
        entries_of(make_zip(LAYOUT | {name: b"x"}))


def test_refuses_symbolic_links_in_a_zip():
    link = zipfile.ZipInfo("train/cat/link.png")
    link.create_system = 3  # unix
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with pytest.raises(DataError, match=r"the archive entry 'train/cat/link\.png' is a symbolic link; refusing the archive"):
        entries_of(make_zip(LAYOUT | {"train/cat/link.png": b"/etc/passwd"}, {"train/cat/link.png": link}))


def test_refuses_encrypted_entries():
    data = bytearray(make_zip(LAYOUT))
    name = b"train/dog/d1.png"
    central = data.rfind(name) - 46  # the central directory header of that entry
    assert data[central : central + 4] == b"PK\x01\x02"
    flags = struct.unpack_from("<H", data, central + 8)[0]
    struct.pack_into("<H", data, central + 8, flags | 0x1)
    with pytest.raises(DataError, match=r"'train/dog/d1\.png' is encrypted; upload an archive without a password"):
        entries_of(io.BytesIO(bytes(data)))


def test_refuses_a_zip_bomb_by_declared_size():
    bomb = make_zip(LAYOUT | {"train/cat/bomb.png": b"\0" * 3_000_000})
    assert len(bomb) < 50_000
    with pytest.raises(DataError, match=r"the archive unpacks to more than 1 MB \(declared sizes\); this looks like a zip bomb"):
        entries_of(bomb)


def test_refuses_an_archive_whose_sizes_lie():
    """A member that declares 1 kB but holds 2 MB passes the declared-size check, and reading
    it stops at the declared size instead of decompressing on: the archive is refused."""
    data = bytearray(make_zip(LAYOUT | {"train/cat/liar.png": b"\0" * 2_000_000}))
    name = b"train/cat/liar.png"
    central = data.rfind(name) - 46
    assert data[central : central + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, central + 24, 1000)  # the uncompressed size in the central directory
    entries, archive = zip_entries(io.BytesIO(bytes(data)), "up.zip", MB, 100)
    with archive:
        liar = next(e for e in entries if e.path.endswith("liar.png"))
        with pytest.raises(DataError, match=r"up\.zip: cannot read 'train/cat/liar\.png' from the archive \(Bad CRC-32.*\); re-create the archive"):
            liar.read()


def test_the_bytes_read_are_counted_against_the_budget():
    """Whatever the archive declares, every byte decompressed counts: reading the entries
    once fits the budget, reading them again exceeds it."""
    files = {f"train/cat/{i}.png": bytes([i]) * 400_000 for i in range(3)} | {"test/cat/t.png": b"x"}
    entries, archive = zip_entries(io.BytesIO(make_zip(files)), "up.zip", 1_300_000, 100)
    with archive:
        assert [len(e.read()) for e in entries] == [400_000, 400_000, 400_000, 1]
        assert len(entries[3].read()) == 1  # 1.2 MB read in all: still within 1.3 MB
        with pytest.raises(DataError, match=r"up\.zip: the archive unpacks to more than 1 MB \(bytes read\); this looks like a zip bomb"):
            entries[0].read()  # 1.6 MB
    with pytest.raises(DataError, match="declared sizes"):
        zip_entries(io.BytesIO(make_zip(files)), "up.zip", 1_100_000, 100)


def test_refuses_too_many_entries():
    with pytest.raises(DataError, match=r"up\.zip: the archive has 3 entries, more than the limit of 2; use fewer images or raise max_files"):
        entries_of(make_zip(LAYOUT), max_files=2)


def test_refuses_what_is_not_a_zip():
    with pytest.raises(DataError, match=r"up\.zip: not a readable ZIP archive .*; upload a \.zip of train/ and test/ folders"):
        zip_entries(io.BytesIO(b"not a zip at all"), "up.zip", MB, 100)


def test_refuses_a_file_outside_a_class_folder():
    with pytest.raises(DataError, match=r"up\.zip: train/loose\.png is not inside a class folder; put each image in train/<class>/"):
        entries_of(make_zip(LAYOUT | {"train/loose.png": b"x"}))


def test_folder_limits(tmp_path):
    root = write_folder(tmp_path / "d", LAYOUT)
    with pytest.raises(DataError, match=r"d: the files add up to more than 0 MB; use fewer or smaller images"):
        folder_entries(root, "d", 10, 100)
    with pytest.raises(DataError, match=r"d: more than 2 files; use fewer images or raise max_files"):
        folder_entries(root, "d", MB, 2)


def test_refuses_symbolic_links_in_a_folder(tmp_path):
    root = write_folder(tmp_path / "d", LAYOUT)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"outside the dataset")
    os.symlink(secret, root / "train" / "cat" / "link.png")
    with pytest.raises(DataError, match=r"d: train/cat/link\.png is a symbolic link; copy the file itself into the folder"):
        folder_entries(root, "d", MB, 100)


def test_refuses_a_symbolic_link_to_a_folder(tmp_path):
    """os.walk does not follow it: without the check its images would vanish without a word."""
    root = write_folder(tmp_path / "d", LAYOUT)
    elsewhere = write_folder(tmp_path / "elsewhere", {"bird.png": b"tweet"})
    os.symlink(elsewhere, root / "train" / "bird", target_is_directory=True)
    with pytest.raises(DataError, match=r"d: train/bird is a symbolic link to a folder; copy the folder itself into the dataset"):
        folder_entries(root, "d", MB, 100)


def test_refuses_one_entry_that_unpacks_beyond_the_file_limit():
    """A small ZIP whose one .png entry unpacks to 65 MB is refused from its declared size,
    before any byte of it is read."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("train/a/big.png", b"\0" * (MAX_FILE_BYTES + 1))
        archive.writestr("test/a/small.png", b"\0")
    assert len(buffer.getvalue()) < 1_000_000
    with pytest.raises(DataError, match=r"unpacks to 64 MB, more than the limit of 64 MB for one file"):
        zip_entries(io.BytesIO(buffer.getvalue()), "bomb.zip", max_bytes=1 << 40, max_files=10)


def test_refuses_one_file_beyond_the_file_limit_in_a_folder(tmp_path):
    big = tmp_path / "train" / "a" / "big.png"
    big.parent.mkdir(parents=True)
    with open(big, "wb") as handle:  # sparse: nothing is written
        handle.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(DataError, match=r"train/a/big\.png is 64 MB, more than the limit of 64 MB for one file"):
        folder_entries(tmp_path, "folder", max_bytes=1 << 40, max_files=10)
