"""Writing files so that a reader (or a crash) sees the old ones or the new ones, never a mix.

- :func:`write_text_atomic`: one file, staged next to its target, synced, renamed.
- :func:`replace_tree`: a directory replaced as a whole. The new tree is staged
  beside it and swapped in with one ``renameat2(RENAME_EXCHANGE)``, the Linux
  call that exchanges two paths atomically; the old tree is removed after.
  Where the filesystem cannot exchange (``EINVAL``), two renames are used
  and a crash between them leaves the staged tree beside a missing target;
  the next run removes stale staging directories.
- :func:`edit_tree`: a copy of a directory changed and swapped in the same way,
  refused (and undone) when another writer changed the directory meanwhile.
- :func:`exclusive`: a non-blocking lock on a directory that is never swapped
  (for new-city, ``inventories/``), so that two ociam processes never change
  the catalog at once.

Staging directories are hidden siblings named ``.<name>.ociam-<kind>-<random>``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

RENAME_EXCHANGE = 2
AT_FDCWD = -100
STAGING_MARK = ".ociam-"


class ConcurrentChange(RuntimeError):
    """Another writer changed the directory while it was being edited; nothing was changed."""


class Locked(RuntimeError):
    """Another ociam process holds the lock; the message names the lock file."""


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` so that ``path`` is always the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, staged = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{STAGING_MARK}file-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        Path(staged).chmod(mode)
        Path(staged).replace(path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths atomically; False when the filesystem cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(first))


def remove_stale_staging(directory: Path) -> None:
    """Staging trees and files a killed ociam left beside ``directory``."""
    parent = directory.parent
    if not parent.is_dir():
        return
    for stale in parent.glob(f".{directory.name}{STAGING_MARK}*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def _staging(target: Path, kind: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}{STAGING_MARK}{kind}-"))


def _swap_in(staged: Path, target: Path) -> None:
    """Put the tree at ``staged`` at ``target``; what was there ends up at ``staged``."""
    if not target.exists():
        staged.rename(target)
        staged.mkdir()
    elif not _exchange(staged, target):
        aside = _staging(target, "old")
        aside.rmdir()
        target.rename(aside)
        staged.rename(target)
        aside.rename(staged)
    _fsync_directory(target.parent)


def replace_tree(target: Path, files: Mapping[str, str]) -> None:
    """Make ``target`` a directory holding exactly ``files`` (relative path → text)."""
    remove_stale_staging(target)
    staged = _staging(target, "new")
    try:
        for relative, text in files.items():
            path = staged / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
        staged.chmod(0o755)
        _swap_in(staged, target)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _fingerprint(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix().encode()
        if path.is_file() and not path.is_symlink():
            digest.update(b"f\0" + relative + b"\0" + path.read_bytes() + b"\0")
        else:
            digest.update(b"o\0" + relative + b"\0")
    return digest.hexdigest()


def edit_tree(target: Path, change: Callable[[Path], None]) -> None:
    """Run ``change`` on a copy of ``target`` and swap the copy in atomically.

    If the directory changed while ``change`` ran (another writer, an editor
    saving a file), the swap is undone and ConcurrentChange is raised."""
    remove_stale_staging(target)
    staged = _staging(target, "edit")
    try:
        staged.rmdir()
        before = _fingerprint(target)
        shutil.copytree(target, staged, symlinks=True)
        if _fingerprint(staged) != before:
            raise ConcurrentChange(f"{target} changed while it was being copied; nothing written")
        change(staged)
        _swap_in(staged, target)
        if _fingerprint(staged) != before:
            _swap_in(staged, target)
            raise ConcurrentChange(f"{target} changed while it was being edited; nothing written")
    finally:
        shutil.rmtree(staged, ignore_errors=True)


@contextlib.contextmanager
def exclusive(directory: Path, what: str) -> Iterator[None]:
    """Hold a non-blocking exclusive lock on ``directory`` (flock on the directory
    itself: nothing is written) or raise Locked."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Locked(
                f"another ociam process is changing {what}; wait for it to finish, then run again"
            ) from None
        yield
    finally:
        os.close(fd)
