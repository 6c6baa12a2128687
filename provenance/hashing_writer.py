"""A destination file that hashes the signed asset as c2pa writes it.

c2pa writes a signed asset to its destination in one forward pass. A helper thread follows
the file as it grows, reading what has been written (``os.pread``, from the page cache) and
hashing it with the GIL released, so the finished file need not be read again. c2pa's
writes go straight to the file object's own (C) ``write``: a Python wrapper around each
8 KB write costs more than the hashing saves.

The hash describes the file only while every write lands at its end. A write can land
elsewhere only after a seek away from the end, so such a seek swaps in a ``write`` that
checks; should one land before the end, ``finish`` reports no hash and the caller hashes
the file.

The first ``head_limit`` bytes are also kept, so that a small signed file can be validated
from memory and a large one checked for the manifest store it must carry near its start.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import BinaryIO

_CHUNK = 1 << 20  # bytes read and hashed at once, with the GIL released
_POLL_SECONDS = 0.002  # how often the helper looks for newly written bytes


@dataclass(frozen=True)
class WrittenDigest:
    """What went into a HashingWriter's file: its SHA-256 (None when the writes were not one
    forward pass), its size, and its first bytes."""

    sha256: str | None
    size_bytes: int
    head: bytes

    @property
    def head_is_whole(self) -> bool:
        return self.sha256 is not None and len(self.head) == self.size_bytes


class HashingWriter:
    """Wraps an empty file opened for reading and writing (``w+b``); ``finish`` says what was written."""

    def __init__(self, raw: BinaryIO, *, head_limit: int) -> None:
        self._raw = raw
        self._fd = raw.fileno()
        self._head_limit = head_limit
        self._head = bytearray()
        self._sha256 = hashlib.sha256()
        self._hashed = 0  # bytes [0, _hashed) of the file went to the hash, in order
        self._forward = raw.tell() == 0 and os.fstat(self._fd).st_size == 0
        # The stream methods c2pa calls, bound to the file's own: no Python frame per call.
        self.write = raw.write
        self.read = raw.read
        self.tell = raw.tell
        self.flush = raw.flush
        self._end: int | None = None  # the final size, once the signer is done
        self._stop = threading.Event()
        self._finished: WrittenDigest | None = None
        self._thread = threading.Thread(target=self._follow, name="signed-output-hash", daemon=True)
        self._thread.start()

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._raw.seek(offset, whence)  # a buffered seek writes pending bytes first
        self.write = self._raw.write if position == os.fstat(self._fd).st_size else self._write_checked
        return position

    def _write_checked(self, data: bytes) -> int:
        self._raw.flush()
        if self._raw.tell() != os.fstat(self._fd).st_size:
            self._forward = False  # over bytes already written (and perhaps hashed), or past a gap
        return self._raw.write(data)

    def _take(self, data: bytes) -> None:
        if len(self._head) < self._head_limit:
            self._head += data[: self._head_limit - len(self._head)]
        self._sha256.update(data)
        self._hashed += len(data)

    def _follow(self) -> None:
        while not self._stop.wait(_POLL_SECONDS):
            while len(data := os.pread(self._fd, _CHUNK, self._hashed)) == _CHUNK:
                self._take(data)
            if data:
                self._take(data)
        while self._end is not None and self._hashed < self._end:
            data = os.pread(self._fd, min(_CHUNK, self._end - self._hashed), self._hashed)
            if not data:
                break
            self._take(data)

    def finish(self) -> WrittenDigest:
        """Hash the rest and say what was written; call once the signer is done with the stream."""
        if self._finished is None:
            self._raw.flush()
            self._end = os.fstat(self._fd).st_size
            self._stop.set()
            self._thread.join()
            whole = self._forward and self._hashed == self._end
            # Bytes kept from writes that were later overwritten would not be the file's.
            self._finished = WrittenDigest(sha256=self._sha256.hexdigest() if whole else None,
                                           size_bytes=self._end, head=bytes(self._head) if whole else b"")
        return self._finished

    def abandon(self) -> None:
        """Stop the hashing thread without a result (signing failed)."""
        self._stop.set()
        self._thread.join()
