"""A census of an MP4's boxes from their headers alone, before any library parses the file.

It counts the boxes (top level and inside the containers that hold other boxes) and the
bytes of the sample tables, stopping as soon as the count passes a limit, so that a file
of millions of tiny boxes costs a few thousand header reads here instead of minutes in
a parser. Box contents are never read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO

from provenance.c2pa_io import MediaReadError

# Boxes whose payload is nothing but other boxes (ISO/IEC 14496-12).
CONTAINER_TYPES = frozenset({
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"mvex", b"moof", b"traf", b"mfra",
    b"udta", b"tref", b"sinf", b"schi", b"ipro", b"strk", b"strd",
})
SAMPLE_TABLE_TYPES = frozenset({b"moov", b"moof"})
MAX_DEPTH = 16


class MalformedMp4(MediaReadError):
    """The box structure of the file is broken (a box smaller than its header, or outside its parent)."""


@dataclass(frozen=True)
class BoxCensus:
    boxes: int  # boxes counted (limit + 1 when it stopped early)
    sample_table_bytes: int  # size of the moov and moof boxes counted
    over_limit: bool


def mp4_box_census(handle: IO[bytes], *, size: int, max_boxes: int) -> BoxCensus:
    """Count the boxes of the MP4 in ``handle`` (``size`` bytes long), stopping past ``max_boxes``.

    The last top-level box may run past the end of the file (a truncated download);
    a nested box that runs past its parent is malformed. Fewer than 8 bytes after the last
    box of a sequence are padding.
    """
    boxes = table_bytes = 0
    pending = [(0, size, 0)]  # (start, end, depth) of the box sequences still to walk
    while pending:
        position, end, depth = pending.pop()
        while position < end:
            if end - position < 8:
                break  # padding after the last box (QuickTime ends a udta with four zero bytes)
            box_type, header, box_size = _header(handle, position, end)
            boxes += 1
            if boxes > max_boxes:
                return BoxCensus(boxes=boxes, sample_table_bytes=table_bytes, over_limit=True)
            if box_size < header:
                raise MalformedMp4("a box is smaller than its header")
            box_end = position + box_size
            if box_end > end:
                if depth:
                    raise MalformedMp4("a box runs past the end of its parent")
                box_end = end
            if box_type in SAMPLE_TABLE_TYPES:
                table_bytes += box_end - position
            if box_type in CONTAINER_TYPES:
                if depth + 1 > MAX_DEPTH:
                    raise MalformedMp4("boxes are nested too deeply")
                pending.append((position + header, box_end, depth + 1))
            position = box_end
    return BoxCensus(boxes=boxes, sample_table_bytes=table_bytes, over_limit=False)


def _header(handle: IO[bytes], position: int, end: int) -> tuple[bytes, int, int]:
    """The type, header length and size of the box at ``position`` (size 0 means: up to ``end``)."""
    handle.seek(position)
    head = handle.read(16)
    size, box_type = struct.unpack(">I4s", head[:8])
    if size == 1:
        if len(head) < 16:
            raise MalformedMp4("a box header is cut short")
        return box_type, 16, struct.unpack(">Q", head[8:16])[0]
    if size == 0:
        return box_type, 8, end - position
    return box_type, 8, size
