"""Video captures as a phone would upload them, encoded with PyAV (no Django here, so that a
spawned process can make one)."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def capture_clip(tmp_path: Path, *, width: int, height: int, seconds: float, fps: int = 8, codec: str = "libx264",
          audio: bool = False, name: str = "capture.mp4", title: str = "") -> bytes:
    """A capture as a phone would upload it: moving pictures, optionally with sound and a title."""
    path = tmp_path / name
    frames = max(1, round(seconds * fps))
    with av.open(str(path), mode="w") as container:
        if title:
            container.metadata["title"] = title
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=16000) if audio else None
        for index in range(frames):
            picture = np.zeros((height, width, 3), dtype=np.uint8)
            picture[:, (index * 7) % width:] = 200  # a bar that moves, so frames differ
            for packet in video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            samples = np.zeros((1, int(16000 * seconds)), dtype=np.float32)
            block = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            block.sample_rate, block.pts, block.time_base = 16000, 0, Fraction(1, 16000)
            for packet in [*sound.encode(block), *sound.encode()]:
                container.mux(packet)
    return path.read_bytes()


def capture_clip_in_own_process(tmp_path: Path, **options: object) -> bytes:
    """`capture_clip` in a spawned process: SVT-AV1 raises the scheduling priority of the thread
    that drives it (SCHED_FIFO when it may, as root), and every thread or process started from
    that thread afterwards (a browser test's Chromium included) would inherit it."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(capture_clip, tmp_path, **options).result(timeout=120)
