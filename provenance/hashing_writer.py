"""A destination stream that hashes the signed file as c2pa writes it.

c2pa writes a signed asset to its destination in one forward pass. Hashing those bytes
on the way saves reading the finished file again; past the first megabyte the SHA-256 work
runs on a helper thread (hashlib releases the GIL on large buffers), overlapping the signing.
Should the writes ever not be one forward pass (a seek back and overwrite), the running
hash no longer describes the file and ``finish`` reports no hash: the caller hashes the file.

The first ``head_limit`` bytes are also kept, so that a small signed file can be validated
from memory and a large one checked for the manifest store it must carry near its start.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from dataclasses import dataclass
from typing import BinaryIO

_BATCH = 1 << 20  # bytes handed to the hashing thread at once: few hand-offs, each hashed with the GIL released


@dataclass(frozen=True)
class WrittenDigest:
    """What went through a HashingWriter: the file's SHA-256 (None when the writes were
    not one forward pass), its size, and its first bytes."""

    sha256: str | None
    size_bytes: int
    head: bytes

    @property
    def head_is_whole(self) -> bool:
        return self.sha256 is not None and len(self.head) == self.size_bytes


class HashingWriter:
    """Wraps a binary file opened for writing; ``finish`` says what was written."""

    def __init__(self, raw: BinaryIO, *, head_limit: int) -> None:
        self._raw = raw
        self._head_limit = head_limit
        self._head = bytearray()
        self._position = raw.tell()
        self._hashed_end = self._position  # bytes [0, _hashed_end) went to the hash, in order
        self._forward = self._position == 0
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self._sha256 = hashlib.sha256()
        self._chunks: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None  # started with the first batch: a small file needs none
        self._finished: WrittenDigest | None = None

    def _hash_chunks(self) -> None:
        while (batch := self._chunks.get()) is not None:
            self._sha256.update(b"".join(batch))  # joined here, off the writing thread

    def write(self, data: bytes) -> int:
        written = self._raw.write(data)
        if self._forward:
            if self._position != self._hashed_end:
                self._forward = False
            else:
                chunk = bytes(data[:written]) if written != len(data) else bytes(data)
                if len(self._head) < self._head_limit:
                    self._head += chunk[: self._head_limit - len(self._head)]
                self._batch.append(chunk)
                self._batch_bytes += written
                self._hashed_end += written
                if self._batch_bytes >= _BATCH:
                    self._hand_over()
        self._position += written
        return written

    def _hand_over(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._hash_chunks, name="signed-output-hash", daemon=True)
            self._thread.start()
        self._chunks.put(self._batch)
        self._batch, self._batch_bytes = [], 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        self._position = self._raw.seek(offset, whence)
        return self._position

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        self._raw.flush()

    def finish(self) -> WrittenDigest:
        """Wait for the hashing thread; call once the signer is done with the stream."""
        if self._finished is None:
            if self._thread is None:
                self._sha256.update(b"".join(self._batch))
            else:
                if self._batch:
                    self._hand_over()
                self._stop_thread()
            self._batch, self._batch_bytes = [], 0
            self._raw.flush()
            size = self._raw.seek(0, 2)
            whole = self._forward and size == self._hashed_end
            # Bytes kept from writes that were later overwritten would not be the file's.
            self._finished = WrittenDigest(sha256=self._sha256.hexdigest() if whole else None,
                                           size_bytes=size, head=bytes(self._head) if whole else b"")
        return self._finished

    def abandon(self) -> None:
        """Stop the hashing thread without a result (signing failed)."""
        if self._finished is None:
            self._stop_thread()

    def _stop_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._chunks.put(None)
            self._thread.join()
