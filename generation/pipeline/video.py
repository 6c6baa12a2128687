"""H.264 MP4 encoding with PyAV: yuv420p, moov atom first (faststart) for streaming."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def encode_mp4(frames: np.ndarray, path: Path, *, fps: int, crf: int = 18) -> None:
    import av

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError("frames must be a (count, height, width, 3) uint8 array")
    count, height, width, _ = frames.shape
    if count < 1 or height % 2 or width % 2:
        raise ValueError("an H.264 yuv420p clip needs at least one frame and even width and height")
    with av.open(str(path), mode="w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def decode_mp4(path: Path, *, max_frames: int | None = None) -> np.ndarray:
    """The frames of a video file as a (count, height, width, 3) uint8 RGB array."""
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames is not None and len(frames) >= max_frames:
                break
    if not frames:
        raise ValueError(f"{Path(path).name} has no video frames")
    return np.stack(frames)
