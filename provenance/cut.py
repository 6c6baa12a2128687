"""Joining scene clips into one MP4 without re-encoding: the encoded packets are copied.

A playthrough's cut keeps every scene's frames bit for bit, so each scene's visible label
and invisible watermark survive unchanged; only the container and timestamps are new.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av


class CutError(ValueError):
    """Scene files that cannot be joined by copying their encoded packets."""


@dataclass(frozen=True)
class _VideoFormat:
    """What must match between scenes for their packets to form one valid stream."""

    codec: str
    width: int
    height: int
    pix_fmt: str | None
    time_base: Fraction | None
    frame_rate: Fraction | None
    # SPS/PPS (avcC): one sample description serves every packet of the joined stream.
    extradata: bytes | None


def concatenate_mp4(sources: Sequence[Path], dst: Path) -> None:
    """Write the video streams of ``sources``, one after another, into the MP4 ``dst``.

    Packets are copied (no decoding, no encoding) and their timestamps rebased so each
    scene starts where the previous one ends. Other streams are left out. Raises CutError
    when there are no sources or they differ in codec, size, pixel format, time base,
    frame rate or codec parameters, or a file has no video stream or cannot be read;
    ``dst`` is then left as it was (absent if it was absent).
    """
    sources = [Path(source) for source in sources]
    if not sources:
        raise CutError("a cut needs at least one scene file")
    dst = Path(dst)
    # Written beside dst and renamed into place: a failure never leaves a partial dst.
    partial = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.partial")
    try:
        _remux(sources, partial)
        os.replace(partial, dst)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, (av.FFmpegError, OSError)) and not isinstance(exc, CutError):
            raise CutError(f"could not join the scenes into {dst.name}: {exc}") from exc
        raise


def _open_scene(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise CutError(f"{path.name} cannot be read as video: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise CutError(f"{path.name} has no video stream")
    return container


def _video_format(stream: av.video.stream.VideoStream) -> _VideoFormat:
    context = stream.codec_context
    return _VideoFormat(codec=context.name, width=context.width, height=context.height, pix_fmt=context.pix_fmt,
                        time_base=stream.time_base, frame_rate=stream.average_rate or stream.guessed_rate,
                        extradata=context.extradata)


def _require_same_format(reference: _VideoFormat, other: _VideoFormat, path: Path) -> None:
    for field, what in (("codec", "codec"), ("width", "width"), ("height", "height"), ("pix_fmt", "pixel format"),
                        ("time_base", "time base"), ("frame_rate", "frame rate"),
                        ("extradata", "encoder parameters (SPS/PPS)")):
        expected, found = getattr(reference, field), getattr(other, field)
        if expected != found:
            shown = "different" if field == "extradata" else f"{found}, not {expected}"
            raise CutError(f"{path.name} cannot be joined without re-encoding: its {what} is {shown}")


def _remux(sources: Sequence[Path], dst: Path) -> None:
    # No "+faststart": moving the index to the front is a second pass over the whole file, and the
    # cut is downloaded whole (and rewritten by signing), never streamed from this file.
    with av.open(str(dst), mode="w", format="mp4") as output:
        out_stream = None
        offset = 0  # where the current scene starts, in the scenes' common time base
        last_dts: int | None = None
        reference: _VideoFormat | None = None
        for source in sources:  # each scene is opened once: its format is checked as its packets are copied
            with _open_scene(source) as container:
                stream = container.streams.video[0]
                found = _video_format(stream)
                if reference is None:
                    reference = found
                else:
                    _require_same_format(reference, found, source)
                if out_stream is None:
                    out_stream = output.add_stream_from_template(stream)
                    out_stream.time_base = stream.time_base
                start = stream.start_time
                end = offset
                first = True
                for packet in container.demux(stream):
                    if packet.pts is None or packet.size == 0:
                        continue  # the demuxer's end-of-stream marker
                    if first and not packet.is_keyframe:
                        raise CutError(f"{source.name} does not start with a keyframe")
                    if start is None:
                        start = packet.pts
                    if first and last_dts is not None and packet.dts is not None \
                            and packet.dts + offset - start <= last_dts:
                        # A scene encoded with frame reordering decodes its first frame before it shows
                        # it; after a scene without reordering that would decode before the previous
                        # scene's last frame. Start it that much later: a pause of a frame or less.
                        offset = last_dts + 1 - (packet.dts - start)
                    first = False
                    packet.pts += offset - start
                    packet.dts = packet.pts if packet.dts is None else packet.dts + offset - start
                    if last_dts is not None and packet.dts <= last_dts:
                        raise CutError(f"{source.name} cannot follow the previous scene without re-encoding: "
                                       "its decoding timestamps would overlap")
                    last_dts = packet.dts
                    end = max(end, packet.pts + (packet.duration or 0))
                    packet.stream = out_stream
                    output.mux(packet)
                if first:
                    raise CutError(f"{source.name} has no video packets")
                offset = end
