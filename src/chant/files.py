"""Writing the project's files: whole or not at all, under a name no other chant process
uses, and with an error naming the path and the fix when it cannot be done.

Every file chant replaces (``dist/ops/<name>.op.json``, ``.chant/state/<env>/*.json``,
``.chant/server/server.json``) is written by ``atomic_write``: to a temporary file with a
unique name (``tempfile.mkstemp``) in the target's own folder, then renamed over the
target with ``os.replace``. Any number of chant processes may write the same file at
once: each renames a whole file of its own, the last rename wins, and no reader ever
sees a partial file.

A write that fails because of the project itself (a read-only folder, a file where a
folder must be, a full disk) becomes a ``ProjectFileError`` (exit 2) through
``writing``: ``cannot <what> <path>: <why>`` and a hint, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from chant.errors import ProjectFileError


def atomic_write(
    path: Path,
    data: bytes,
    *,
    prefix: str | None = None,
    suffix: str = ".tmp",
    mode: int = 0o666,
    durable: bool = False,
) -> None:
    """Replace ``path`` with ``data`` atomically (see the module docstring).

    The temporary file is named ``<prefix>XXXXXXXX<suffix>`` (default prefix:
    ``.<name>.``) and removed if anything fails. The file gets ``mode`` less the umask
    (default 0o666: as ``open`` would create it). ``durable`` also fsyncs the file and
    its folder, so the new content survives a power cut. Raises ``OSError``."""
    import tempfile  # off the start-up path: only writers need it

    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}." if prefix is None else prefix, suffix=suffix
    )
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode & ~_umask())
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """fsync ``folder`` so a rename in it is durable; a no-op where folders cannot be
    opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    # Reading it from /proc leaves the process-wide umask alone (other threads may be
    # creating files); elsewhere set-and-restore is the only way to learn it.
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii", errors="replace") as f,
    ):
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    old = os.umask(0o022)
    os.umask(old)
    return old


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (created if missing) for the block:
    one holder at a time across processes and threads. Raises ``OSError``."""
    import fcntl

    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def writing(what: str, path: Path, *, root: Path | None = None) -> Iterator[None]:
    """Turn an ``OSError`` raised in the block into a ``ProjectFileError`` saying that
    chant could not ``what`` (e.g. "write", "create the folder") ``path``; paths are
    shown relative to ``root`` when they lie inside it."""
    try:
        yield
    except OSError as exc:
        raise project_file_error(exc, what, path, root=root) from exc


def project_file_error(
    exc: OSError, what: str, path: Path, *, root: Path | None = None
) -> ProjectFileError:
    """The ``ProjectFileError`` for ``exc``, raised while trying to ``what`` ``path``."""

    def shown(p: Path) -> str:
        if root is not None:
            with contextlib.suppress(ValueError):
                return str(p.relative_to(root)) or "."
        return str(p)

    head = f"cannot {what} {shown(path)}"
    again = "then run the command again"
    code = exc.errno
    blocker = _file_in_the_way(path)
    if code in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT) and blocker is not None:
        kind = "a symlink to nowhere" if blocker.is_symlink() else "a file"
        return ProjectFileError(
            f"{head}: {shown(blocker)} is {kind}, not a folder",
            hint=f"remove or rename {shown(blocker)}, {again}",
        )
    if code == errno.EISDIR:
        return ProjectFileError(
            f"{head}: it is a folder", hint=f"remove or rename {shown(path)}, {again}"
        )
    if code in (errno.EACCES, errno.EPERM):
        culprit = path if path.exists() and not os.access(path, os.W_OK) else None
        culprit = Path(os.path.abspath(culprit or _nearest_existing(path.parent)))
        return ProjectFileError(
            f"{head}: permission denied ({culprit} is not writable)",
            hint=f"make it writable (chmod u+w {culprit}), or work in a writable copy",
        )
    if code == errno.EROFS:
        return ProjectFileError(
            f"{head}: the file system is read-only",
            hint="work in a writable copy of the project",
        )
    if code in (errno.ENOSPC, errno.EDQUOT):
        return ProjectFileError(
            f"{head}: no space left on the device", hint=f"free some space, {again}"
        )
    return ProjectFileError(f"{head}: {exc.strerror or exc}")


def _file_in_the_way(path: Path) -> Path | None:
    """The first of ``path``'s ancestors (or ``path`` itself, if it must be a folder)
    that exists but is not a folder."""
    for p in [*reversed(path.parents), path]:
        if os.path.lexists(p) and not p.is_dir():
            return p
    return None


def _nearest_existing(path: Path) -> Path:
    for p in [path, *path.parents]:
        if p.exists():
            return p
    return path
