"""Run ``ociam`` and SIGKILL it right after its N-th write below a directory.

Usage: ``python kill_at_write.py UNDER N LOG ociam-arguments...``

Every call that changes the filesystem below UNDER is counted, after it returned:
opening a file for writing (the data of ``write_text``/``write_bytes`` lands in one
write when the file is closed, so a kill after the open sees the empty file and a kill
at the next call sees the whole one), ``os.open`` with a writing flag, ``os.write``,
``os.sendfile`` (shutil's copies), truncate, mkdir, rmdir, unlink, rename, replace,
link, symlink and the libc ``rename``/``renameat``/``renameat2`` called through ctypes.
Each counted call is appended to LOG as ``<n> <call> <paths>``; at the N-th the process
sends itself SIGKILL (N = 0: never, the run only counts). Run as a script by path, so
that it works from any checkout; it is a test helper, nothing of it is in cli/.
"""

from __future__ import annotations

import builtins
import ctypes
import io
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

AT_FDCWD = -100
WRITING_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
LIBC_RENAMES = frozenset({"rename", "renameat", "renameat2"})

_original_open = os.open
_original_write = os.write


class _Counter:
    def __init__(self, under: str, kill_at: int, log: str) -> None:
        self.under = os.path.realpath(under)
        self.kill_at = kill_at
        self.count = 0
        self.log = _original_open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def below(self, path: str | None) -> bool:
        return path is not None and (path == self.under or path.startswith(self.under + os.sep))

    def after(self, call: str, *paths: str | None) -> None:
        """Count a call that succeeded; SIGKILL this process at the N-th."""
        touched = [path for path in paths if path is not None and self.below(path)]
        if not touched:
            return
        self.count += 1
        _original_write(self.log, f"{self.count} {call} {' '.join(touched)}\n".encode())
        if self.count == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def _fd_path(fd: int) -> str | None:
    try:
        return str(Path(f"/proc/self/fd/{fd}").readlink())
    except OSError:
        return None


def _where(path: Any, dir_fd: int | None = None) -> str | None:
    """The absolute path a call acted on (``path`` may be a descriptor or relative)."""
    if isinstance(path, int):
        return _fd_path(path)
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return None
    if not Path(text).is_absolute():
        base = str(Path.cwd()) if dir_fd in (None, AT_FDCWD) else _fd_path(dir_fd or 0)
        if base is None:
            return None
        text = str(Path(base) / text)
    return os.path.normpath(text)


def _patch(counter: _Counter) -> None:
    def counted(
        module: Any, name: str, paths: Callable[[tuple[Any, ...], dict[str, Any]], list[str | None]]
    ) -> None:
        original = getattr(module, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            counter.after(name, *paths(args, kwargs))
            return result

        setattr(module, name, call)

    def first(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str | None]:
        return [_where(args[0], kwargs.get("dir_fd"))]

    def pair(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str | None]:
        return [
            _where(args[0], kwargs.get("src_dir_fd")),
            _where(args[1], kwargs.get("dst_dir_fd")),
        ]

    def link_target(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str | None]:
        return [_where(args[1], kwargs.get("dir_fd", kwargs.get("dst_dir_fd")))]

    def opened_for_writing(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str | None]:
        mode = args[1] if len(args) > 1 else kwargs.get("mode", "r")
        return [_where(args[0])] if set(str(mode)) & set("wax+") else []

    def os_open_for_writing(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str | None]:
        flags = args[1] if len(args) > 1 else kwargs.get("flags", 0)
        return first(args, kwargs) if flags & WRITING_FLAGS else []

    for name in ("mkdir", "rmdir", "unlink", "remove", "truncate"):
        counted(os, name, first)
    for name in ("rename", "replace", "link"):
        counted(os, name, pair)
    counted(os, "symlink", link_target)
    counted(os, "open", os_open_for_writing)
    counted(os, "write", first)
    counted(os, "ftruncate", first)
    counted(os, "sendfile", first)
    # pathlib and os.fdopen call io.open, shutil calls the builtin
    counted(io, "open", opened_for_writing)
    counted(builtins, "open", opened_for_writing)

    class CountingCDLL(ctypes.CDLL):
        def __getattr__(self, name: str) -> Any:
            function = super().__getattr__(name)
            if name not in LIBC_RENAMES:
                return function

            def call(*args: Any) -> Any:
                result = function(*args)
                if result == 0:
                    if name == "rename":
                        counter.after(f"libc.{name}", _where(args[0]), _where(args[1]))
                    else:
                        counter.after(
                            f"libc.{name}", _where(args[1], args[0]), _where(args[3], args[2])
                        )
                return result

            return call

    ctypes.CDLL = CountingCDLL  # type: ignore[misc]


def main(argv: list[str]) -> None:
    under, kill_at, log, *arguments = argv
    _patch(_Counter(under, int(kill_at), log))
    from ociam.app import main as ociam_main

    sys.argv = ["ociam", *arguments]
    ociam_main()


if __name__ == "__main__":
    main(sys.argv[1:])
