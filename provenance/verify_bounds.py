"""How much work checking one file may take: the budget, the deadline and the work done.

The public verify page is anonymous, so a small file must never buy a lot of work: a
header can claim anything, a few bytes of H.264 can decode to gigapixels, and a file of
many tiny boxes makes a C2PA reader crawl. Every step is bounded by a pixel budget and
by a wall-clock deadline, and the work done is counted so that it can be shown.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass
from typing import IO, Any

from provenance.c2pa_io import MediaReadError

TOO_LARGE_MESSAGE = "This file is too large to check here."


@dataclass(frozen=True)
class VerifyBudget:
    """Limits for checking one upload (defaults fit the 2-second answer of the verify page)."""

    max_pixels: int = 150_000_000  # decoded pixels, all frames together (16 frames of 4K)
    seconds: float = 1.5
    frames: int = 16  # frames the watermark reader votes over; more adds little
    min_frames: int = 4  # frames whose size leaves fewer than this within the budget are refused
    read_side: int = 512  # frames are reduced to at most this many pixels a side
    max_side: int = 8192
    max_declared_frames: int = 500_000
    max_declared_seconds: float = 4 * 3600
    max_boxes: int = 2000  # MP4 boxes; a C2PA reader slows down quadratically with their number
    max_moov_bytes: int = 4 * 1024 * 1024  # the sample tables FFmpeg indexes when it opens a file

    @property
    def max_frame_pixels(self) -> int:
        return self.max_pixels // self.min_frames


@dataclass
class VerifyWork:
    """What checking a file cost; shown with the result and with a refusal."""

    boxes: int = 0
    manifest_bytes_read: int = 0
    packets_decoded: int = 0
    frames_decoded: int = 0
    pixels_decoded: int = 0
    decoded_width: int = 0
    decoded_height: int = 0
    read_width: int = 0  # size the frames were handed to the watermark reader at
    read_height: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class TooLargeToCheck(MediaReadError):
    """The file is beyond the budget of the verify page; ``reason`` says which limit it hit."""

    def __init__(self, reason: str, work: VerifyWork) -> None:
        super().__init__(TOO_LARGE_MESSAGE)
        self.reason = reason
        self.work = work


class Deadline:
    """A point in time after which no more work is started."""

    def __init__(self, seconds: float) -> None:
        self.started = time.monotonic()
        self.at = self.started + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class DeadlineReader(io.RawIOBase):
    """A read-only view of a binary file that fails every read or seek once the deadline passed.

    The C2PA reader pulls its bytes through this object, so a file that keeps it busy
    reading (many boxes, say) is cut off at the deadline; ``expired`` tells that apart from
    a genuinely unreadable file.
    """

    def __init__(self, raw: IO[bytes], deadline: Deadline) -> None:
        super().__init__()
        self._raw = raw
        self._deadline = deadline
        self.expired = False
        self.bytes_read = 0

    def _check(self) -> None:
        if self._deadline.expired():
            self.expired = True
            raise TimeoutError("the verification deadline has passed")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._check()
        count = self._raw.readinto(buffer) or 0
        self.bytes_read += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check()
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()
