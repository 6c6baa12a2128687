"""The first frames of an uploaded video, decoded within a budget and at reduced resolution.

The watermark lives in low frequencies relative to the frame size, so the reader needs
a few frames at a few hundred pixels a side. The stream header is checked first (sides,
frame size, declared frames and duration) without decoding anything; then frames are
decoded one packet at a time, at reduced resolution where the codec can do that
(FFmpeg's ``lowres``) and scaled down at once otherwise, while the decoder refuses any
frame larger than the budget allows (``max_pixels``: a stream may change its frame size
after its header) and the decoded pixels and the deadline are checked between packets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from provenance.verify_bounds import Deadline, TooLargeToCheck, VerifyBudget, VerifyWork
from provenance.watermark import MIN_READ_SIDE

if TYPE_CHECKING:
    from av.codec.context import CodecContext
    from av.container import InputContainer
    from av.video.stream import VideoStream

# Read only the header to open a file: with FFmpeg's defaults, opening an H.264 file
# decodes several frames to guess the stream parameters, whatever their size.
_OPEN_OPTIONS = {"probesize": "32", "analyzeduration": "0", "ignore_editlist": "1"}
_PROBE_STREAM_OPTIONS = {"skip_frame": "all"}
_MAX_LOWRES = 3  # the largest reduction (1/8) any FFmpeg decoder offers
_REORDER_SLACK = 32  # packets beyond the frames wanted: reordering delay and packets without a picture
_MAX_DECODE_ERRORS = 8


@dataclass(frozen=True)
class _Plan:
    frames: int
    width: int  # size the frames are handed to the watermark reader at
    height: int
    lowres: int


def video_frames_sample(path: Path, *, budget: VerifyBudget, deadline: Deadline,
                        work: VerifyWork) -> np.ndarray | None:
    """Up to ``budget.frames`` first frames of the first video stream of ``path``.

    Returns a (count, height, width, 3) uint8 RGB array with sides of at most
    ``budget.read_side``, or None when the file holds no decodable video or its frames are
    too small to read a watermark from. Raises TooLargeToCheck beyond the budget or the
    deadline; ``work`` counts what was decoded either way.
    """
    import av

    frames: list[np.ndarray] = []
    try:
        timeout = max(deadline.remaining(), 0.001)
        with av.open(str(path), container_options=_OPEN_OPTIONS, options=_PROBE_STREAM_OPTIONS,
                     timeout=(timeout, timeout)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            plan = _plan(stream, container.duration, budget, work)
            if plan is None:
                return None
            _decode(container, stream, plan, budget=budget, deadline=deadline, work=work, into=frames)
    except (av.FFmpegError, OSError, ValueError) as exc:
        if deadline.expired():
            raise TooLargeToCheck("time", work) from exc
        if not frames:
            return None
    return np.stack(frames) if frames else None


def _plan(stream: VideoStream, container_duration: int | None, budget: VerifyBudget,
          work: VerifyWork) -> _Plan | None:
    """What to decode, from the header alone; refuses what is beyond the budget."""
    if stream.codec_context is None:  # no decoder for this codec
        return None
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        return None
    if max(width, height) > budget.max_side:
        raise TooLargeToCheck("frame_side", work)
    if width * height > budget.max_frame_pixels:
        raise TooLargeToCheck("frame_pixels", work)
    declared = stream.frames or 0
    if declared > budget.max_declared_frames:
        raise TooLargeToCheck("declared_frames", work)
    if _declared_seconds(stream, container_duration) > budget.max_declared_seconds:
        raise TooLargeToCheck("declared_duration", work)
    scale = min(1.0, budget.read_side / max(width, height))
    read_width, read_height = max(1, round(width * scale)), max(1, round(height * scale))
    if min(read_width, read_height) < MIN_READ_SIDE:
        return None
    frames = min(budget.frames, budget.max_pixels // (width * height), declared or budget.frames)
    lowres = min(_MAX_LOWRES, int(math.floor(math.log2(1.0 / scale)))) if scale < 1.0 else 0
    return _Plan(frames=frames, width=read_width, height=read_height, lowres=lowres)


def _declared_seconds(stream: VideoStream, container_duration: int | None) -> float:
    duration, time_base = stream.duration, stream.time_base
    if duration and time_base:
        return float(duration * time_base)
    return (container_duration or 0) / 1_000_000


def _decode(container: InputContainer, stream: VideoStream, plan: _Plan, *, budget: VerifyBudget,
            deadline: Deadline, work: VerifyWork, into: list[np.ndarray]) -> None:
    import av

    context = stream.codec_context
    # Decoders without lowres support ignore it (FFmpeg clamps it to what the codec offers).
    context.options = {"max_pixels": str(budget.max_frame_pixels), "lowres": str(plan.lowres)}
    work.read_width, work.read_height = plan.width, plan.height
    errors = 0
    # Demuxing every stream, not only the video, so that the deadline is checked between
    # any two packets, however many packets of other streams a file holds.
    for packet in container.demux():
        if deadline.expired():
            raise TooLargeToCheck("time", work)
        if packet.stream.index != stream.index:
            continue
        work.packets_decoded += 1
        try:
            decoded = context.decode(packet)
        except av.FFmpegError:
            if _frame_too_large(context, budget):
                raise TooLargeToCheck("frame_pixels", work) from None
            errors += 1
            if errors > _MAX_DECODE_ERRORS:
                return
            continue
        for frame in decoded:
            work.frames_decoded += 1
            work.pixels_decoded += frame.width * frame.height
            work.decoded_width, work.decoded_height = frame.width, frame.height
            if work.pixels_decoded > budget.max_pixels:
                raise TooLargeToCheck("pixels", work)
            into.append(frame.reformat(width=plan.width, height=plan.height, format="rgb24").to_ndarray())
            if len(into) >= plan.frames:
                return
        if work.packets_decoded >= plan.frames + _REORDER_SLACK:
            return


def _frame_too_large(context: CodecContext, budget: VerifyBudget) -> bool:
    """Whether the decoder just met a frame size beyond the budget (it refuses those via max_pixels)."""
    width, height = max(context.width, context.coded_width), max(context.height, context.coded_height)
    return max(width, height) > budget.max_side or width * height > budget.max_frame_pixels
