"""One writer for every file the tool writes: ``apply --out``, ``report --out`` and the cache.

Outputs never overwrite inputs. A :class:`Guard` holds the real paths (symlinks and ``..``
resolved) of every input of a command; :meth:`Guard.file` and :meth:`Guard.folder` refuse a
target that is an input (also through a symlink or a hard link), lies inside an input folder,
or (a folder) directly holds an input; a target that exists and is not a regular file (a
device such as /dev/null, a FIFO, a socket, a folder); and an existing output unless the user
asked to replace it (``--force``), which never extends to inputs. :func:`write_atomically`
writes a temporary file in the target's folder and renames it over the target, so a failed or
interrupted write leaves the old file whole. The dashboard's downloads never touch the disk.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._exceptions import UsageError, one_line


def _read_umask() -> int:
    """The process's umask (read once: setting it back and forth is not thread-safe)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Files written here get the permissions a plain ``open(path, "w")`` would give them.
_MODE = 0o666 & ~_read_umask()


def real_path(path: str | Path, what: str) -> Path:
    """``path`` with symlinks and ``..`` resolved; a symlink loop is one line in words."""
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as exc:  # Python 3.11 raises RuntimeError on a loop, 3.13 OSError
        raise UsageError(f"{what} {_show(path)} cannot be resolved: it is a symlink loop or an unreadable link "
                         f"({one_line(exc, 80)}); remove the link or give another path") from exc


def _show(path: str | Path) -> str:
    return one_line(path, 200)


def _kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


@dataclass(frozen=True)
class Input:
    """One input of a command: its flag (``--train``...) and its real path."""

    flag: str
    path: Path
    given: str
    is_folder: bool


@dataclass(frozen=True)
class Guard:
    """The inputs of one command, and whether existing outputs may be replaced."""

    inputs: tuple[Input, ...] = ()
    force: bool = False

    @classmethod
    def of(cls, inputs: Mapping[str, str | Path | None] | Iterable[tuple[str, str | Path | None]], force: bool = False,
           folders: Iterable[str] = ()) -> Guard:
        """A guard for ``inputs`` (flag -> path; None and empty paths are skipped). The flags in
        ``folders`` name folders even before they exist (the cache)."""
        pairs = inputs.items() if isinstance(inputs, Mapping) else inputs
        folders = set(folders)
        kept = []
        for flag, given in pairs:
            if given is None or not str(given).strip():
                continue
            path = real_path(given, flag)
            kept.append(Input(flag, path, str(given), flag in folders or path.is_dir()))
        return cls(tuple(kept), force)

    def check_not_input(self, target: Path, what: str, given: str | Path) -> None:
        """Refuse ``target`` (a real path) when it is an input or lies inside an input folder."""
        for source in self.inputs:
            same = target == source.path or (target.exists() and source.path.exists() and os.path.samefile(target, source.path))
            if same:
                is_what = "is the input folder" if source.is_folder else "would overwrite the input"
                raise UsageError(f"{what} {_show(given)} {is_what} {source.flag} {_show(source.given)}; "
                                 "give another name (inputs are never written, even with --force)")
            if source.is_folder and target.is_relative_to(source.path):
                raise UsageError(f"{what} {_show(given)} lies inside the input folder {source.flag} {_show(source.given)}; "
                                 "write it somewhere else")

    def file(self, target: str | Path, what: str = "--out") -> Path:
        """The real path to write ``target`` at, once every rule above holds; else one line."""
        if not str(target).strip():
            raise UsageError(f"{what} needs a file name")
        real = real_path(target, what)
        self.check_not_input(real, what, target)
        try:
            mode = os.stat(real).st_mode
        except FileNotFoundError:
            return real
        except OSError as exc:
            raise UsageError(f"{what} {_show(target)} cannot be checked ({one_line(exc, 120)})") from exc
        kind = _kind(mode)
        if kind is not None:
            raise UsageError(f"{what} {_show(target)} exists and is {kind}, not a regular file; give a file name")
        if not self.force:
            raise UsageError(f"{what} {_show(target)} exists; pass --force to replace it, or give another name")
        return real

    def folder(self, folder: str | Path, names: Sequence[str], what: str = "--out") -> tuple[Path, ...]:
        """The real paths of ``names`` inside ``folder``, checked as :meth:`file` checks one file;
        a folder that is an input, lies inside one, or holds an input file directly is refused."""
        if not str(folder).strip():
            raise UsageError(f"{what} needs a folder name")
        real = real_path(folder, what)
        if real.exists() and not real.is_dir():
            raise UsageError(f"{what} {_show(folder)} is a file; give a folder")
        self.check_not_input(real, what, folder)
        for name in names:  # an input it would write over is named as such first
            self.check_not_input(real_path(Path(folder) / name, what), what, folder)
        held = [s for s in self.inputs if not s.is_folder and s.path.parent == real]
        if held:
            raise UsageError(f"{what} {_show(folder)} holds the input {held[0].flag} {_show(held[0].given)}; "
                             "write to a folder of its own")
        return tuple(self.file(Path(folder) / name, what) for name in names)


def write_atomically(path: str | Path, content: str | bytes) -> None:
    """Write ``content`` to a temporary file beside ``path``, then rename it over ``path``: readers
    see the old file or the new one, never a part. Raises OSError (a full disk...)."""
    path = Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:80]}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def write_outputs(files: Mapping[Path, str | bytes], what: str = "--out") -> None:
    """Write each checked path (from :meth:`Guard.file` or :meth:`Guard.folder`), making its folder."""
    try:
        for path, content in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, content)
    except OSError as exc:
        raise UsageError(f"cannot write {what} {_show(next(iter(files)).parent)} ({one_line(exc, 200)})") from exc
