"""Owner-only files and folders for secrets: the data folder, keys, the SQLite database.

A secret file is created with its final mode in the same call that creates it
(O_CREAT | O_EXCL, 0600), so it is never readable by others, not even for a moment, and
never overwrites a file already there. Imports nothing from Django: settings use it.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_GROUP_AND_OTHERS = 0o077


def create_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by its owner only; one that already
    exists, made by an older version, is tightened to owner-only too."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    restrict_to_owner(path)
    return path


def restrict_to_owner(path: Path) -> None:
    """Take every permission of group and others off ``path`` if it exists (0755 -> 0700,
    0644 -> 0600). A path owned by someone else is left as it is, with a warning."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & _GROUP_AND_OTHERS:
            path.chmod(mode & ~_GROUP_AND_OTHERS)
    except FileNotFoundError:
        return
    except PermissionError as exc:
        logger.warning("cannot make %s owner-only: %s", path, exc)


def create_private_sqlite_database(path: Path) -> None:
    """Make sure the SQLite database ``path`` exists owner-only before SQLite opens it (an
    empty file is an empty database), keeping any content it has. SQLite gives the -wal and
    -shm files it creates the database file's mode; ones left by an older version are tightened."""
    create_private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))
    for name in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        restrict_to_owner(name)


def write_new_file(path: Path, data: bytes, *, mode: int = PRIVATE_FILE_MODE) -> None:
    """Write ``path`` once: FileExistsError if it is already there, never an overwrite.

    The bytes go to a temporary file created with its final mode (O_EXCL), are synced, and
    the file is hard-linked into place, so a concurrent reader never finds it half-written.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _sync_directory(path.parent)


def read_or_create_secret(path: Path, make: Callable[[], bytes]) -> bytes:
    """The secret in ``path``, created owner-only from ``make()`` when absent. Processes
    starting together agree on one: the first to link its file wins, the others read it."""
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        pass
    else:
        restrict_to_owner(path)  # one an older version wrote
        return secret
    create_private_dir(path.parent)
    try:
        write_new_file(path, make())
    except FileExistsError:
        pass
    return path.read_bytes()


def _sync_directory(directory: Path) -> None:
    """Make the new directory entry itself survive a crash."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
