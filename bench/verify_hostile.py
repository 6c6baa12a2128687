"""How long the public verify page takes on hostile uploads, against a real output.

Builds files meant to make checking them expensive: frames of huge sides, many frames,
a high frame rate, a header claiming 2^31 frames, a codec nobody decodes, a header that
understates the frame size of a stream (a few bytes of H.264 that decode to gigapixels),
frames that grow past the pixel budget, malformed, truncated and garbage MP4 boxes, a
file of many tiny boxes, an oversized sample table, a PNG of many chunks and one near the
page's 200 MB limit; and for comparison a real Bespoke output (signed), the same output
re-encoded without its manifest (traced through its watermark) and scaled up to 1080p.

Each file is checked by ``media_verify`` (what the page calls) in process, REPEATS
times, and once through the page itself (Django test client, POST /verify/, timed from
the request reaching Django: the upload's parsing and copying count, the client's
encoding does not). It prints a row per file (slowest in-process seconds, outcome,
frames and pixels decoded, the page's status and seconds) and, last, a JSON line with
``max_seconds`` and the goal. ``BESPOKE_VERIFY_BENCH_SMALL=1`` builds small variants
(the suite's reduced run).
"""

from __future__ import annotations

import fractions
import logging
import os
import shutil
import struct
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

GOAL_SECONDS = 2.0
REPEATS = 3
FTYP = struct.pack(">I4s", 24, b"ftyp") + b"isom" + b"\0\0\2\0" + b"isomavc1"


# --- hostile files ----------------------------------------------------------------------

def black_h264_mp4(path: Path, *, side: int | tuple[int, int], frames: int, rate: int = 24,
                   header_side: int | None = None) -> Path:
    """A black H.264 MP4: one keyframe, then the same skip frame repeated (a few bytes each).

    With ``header_side`` the file's header (and its first frame) says that size, and the
    frames that follow carry their own, larger, sequence headers: a stream whose frame
    size changes after the header, which FFmpeg follows.
    """
    import av

    width, height = (side, side) if isinstance(side, int) else side
    time_base = fractions.Fraction(1, rate)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = (header_side, header_side) if header_side else (width, height)
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "51", "x264-params": "keyint=1000000"}
        if header_side:
            for packet in [*stream.encode(_black_frame(header_side, header_side)), *stream.encode(None)]:
                container.mux(packet)
            keyframe, skip = _in_band_black_packets(width, height, time_base)
        else:
            encoded = [*stream.encode(_black_frame(width, height, 0)), *stream.encode(_black_frame(width, height, 1)),
                       *stream.encode(None)]
            keyframe, skip = (bytes(p) for p in encoded)
        first = 1 if header_side else 0
        for index in range(frames):
            packet = av.Packet(skip if index else keyframe)
            packet.stream, packet.time_base = stream, time_base
            packet.pts = packet.dts = first + index
            packet.is_keyframe = index == 0
            container.mux(packet)
    return path


def _black_frame(width: int, height: int, pts: int = 0) -> Any:
    import av

    planes = np.zeros((height * 3 // 2, width), dtype=np.uint8)
    planes[height:] = 128
    frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    frame.pts = pts
    return frame


def _in_band_black_packets(width: int, height: int, time_base: fractions.Fraction) -> tuple[bytes, bytes]:
    """A black keyframe and a skip frame from a stand-alone encoder, sequence headers in band."""
    import av

    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt, encoder.time_base = width, height, "yuv420p", time_base
    encoder.options = {"preset": "ultrafast", "crf": "51", "x264-params": "repeat-headers=1:keyint=1000000"}
    encoded = [*encoder.encode(_black_frame(width, height, 0)), *encoder.encode(_black_frame(width, height, 1)),
               *encoder.encode(None)]
    keyframe, skip = (bytes(p) for p in encoded)
    return keyframe, skip


def box(box_type: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(payload), box_type) + payload


def many_boxes_mp4(path: Path, *, count: int) -> Path:
    path.write_bytes(FTYP + box(b"free") * count)
    return path


def deeply_nested_mp4(path: Path, *, depth: int) -> Path:
    inner = b""
    for level in range(depth):
        inner = box(b"moov" if level % 2 else b"trak", inner)
    path.write_bytes(FTYP + inner)
    return path


def garbage_mp4(path: Path, *, size: int, seed: int = 7) -> Path:
    path.write_bytes(FTYP + np.random.default_rng(seed).bytes(size))
    return path


def oversized_box_mp4(path: Path) -> Path:
    path.write_bytes(FTYP + struct.pack(">I4s", 0xFFFFFFF0, b"moov") + bytes(100))
    return path


def with_big_moov(source: Path, path: Path, *, extra: int) -> Path:
    """``source`` with a padding box of ``extra`` bytes inside its moov."""
    data = bytearray(source.read_bytes())
    start = _top_level_box(data, b"moov")
    size = struct.unpack(">I", data[start:start + 4])[0]
    padding = box(b"free", bytes(extra))
    struct.pack_into(">I", data, start, size + len(padding))
    data[start + size:start + size] = padding
    path.write_bytes(bytes(data))
    return path


def with_declared_frames(source: Path, path: Path, *, frames: int) -> Path:
    """``source`` whose time-to-sample table claims ``frames`` frames."""
    data = bytearray(source.read_bytes())
    stts = data.find(b"stts", _top_level_box(data, b"moov"))
    struct.pack_into(">II", data, stts + 12, frames, 1)
    path.write_bytes(bytes(data))
    return path


def with_unknown_codec(source: Path, path: Path) -> Path:
    """``source`` whose video sample entry names a codec no decoder knows."""
    data = bytearray(source.read_bytes())
    entries = data.find(b"stsd", _top_level_box(data, b"moov"))
    for kind in (b"avc1", b"avcC"):
        found = data.find(kind, entries)
        data[found:found + 4] = b"zzzz"
    path.write_bytes(bytes(data))
    return path


def _top_level_box(data: bytearray, box_type: bytes) -> int:
    position = 0
    while position + 8 <= len(data):
        size, found = struct.unpack(">I4s", data[position:position + 8])
        if found == box_type:
            return position
        position += size
    raise ValueError(f"no {box_type!r} box")


def many_chunks_png(path: Path, *, chunks: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
                     + chunk(b"tEXt", b"k\0v") * chunks + chunk(b"IDAT", zlib.compress(b"\0\0")) + chunk(b"IEND", b""))
    return path


def hostile_files(folder: Path, *, small: bool) -> dict[str, Path]:
    """name -> file, each built to make a check expensive."""
    plain = black_h264_mp4(folder / "plain.mp4", side=256, frames=48)
    files = {
        "huge_sides_8192": black_h264_mp4(folder / "huge_sides.mp4", side=8192, frames=64),
        "side_16384": black_h264_mp4(folder / "side_16384.mp4", side=(16384, 64), frames=64),
        "many_frames": black_h264_mp4(folder / "many_frames.mp4", side=(1920, 1080),
                                      frames=2_000 if small else 100_000, rate=30),
        "high_frame_rate": black_h264_mp4(folder / "high_frame_rate.mp4", side=(1280, 720),
                                          frames=2_000 if small else 50_000, rate=10_000),
        "declared_2g_frames": with_declared_frames(plain, folder / "declared.mp4", frames=2**31 - 1),
        "unknown_codec": with_unknown_codec(plain, folder / "unknown_codec.mp4"),
        "pixel_bomb": black_h264_mp4(folder / "pixel_bomb.mp4", side=8192, header_side=256,
                                     frames=64 if small else 10_000),
        "growing_frames": black_h264_mp4(folder / "growing.mp4", side=4096, header_side=256, frames=64),
        "many_boxes": many_boxes_mp4(folder / "many_boxes.mp4", count=20_000 if small else 2_000_000),
        "deep_boxes": deeply_nested_mp4(folder / "deep.mp4", depth=20_000),
        "oversized_box": oversized_box_mp4(folder / "oversized.mp4"),
        "big_moov": with_big_moov(plain, folder / "big_moov.mp4", extra=8 * 1024 * 1024),
        "garbage": garbage_mp4(folder / "garbage.mp4", size=100_000 if small else 10_000_000),
        "many_png_chunks": many_chunks_png(folder / "chunks.png", chunks=20_000 if small else 2_000_000),
        # Near the page's 200 MB limit: the upload's own handling counts against the deadline.
        "largest_upload": many_chunks_png(folder / "largest.png", chunks=100_000 if small else 13_000_000),
    }
    truncated = plain.read_bytes()
    files["truncated"] = folder / "truncated.mp4"
    files["truncated"].write_bytes(truncated[:len(truncated) // 2])
    return files


# --- real outputs -----------------------------------------------------------------------

def real_output_files(folder: Path, *, small: bool) -> dict[str, Path]:
    """A published output rendered by the tiny model, its re-encoded copy and a 1080p copy."""
    from django.core.files.storage import default_storage

    from bench.generation import bench_license
    from generation.pipeline.video import decode_mp4, encode_mp4
    from generation.services.render import render_job_execute, render_job_request

    license, producer = bench_license()
    params = {"num_frames": 8, "width": 256, "height": 256, "steps": 2 if small else 4, "fps": 8}
    job = render_job_request(license_id=str(license.id), prompt="sks person reading a book by a window",
                             params=params, acting_user=producer)
    job = render_job_execute(job_id=str(job.id), worker="bench")
    signed = folder / "real_output.mp4"
    shutil.copy(default_storage.path(job.output.file.name), signed)
    frames = decode_mp4(signed)
    reencoded = folder / "real_output_reencoded.mp4"
    encode_mp4(frames, reencoded, fps=8, crf=28)
    files = {"real_output": signed, "real_output_reencoded": reencoded}
    if not small:
        from PIL import Image

        large = np.stack([np.asarray(Image.fromarray(f).resize((1920, 1080), Image.LANCZOS)) for f in frames])
        files["real_output_1080p"] = folder / "real_output_1080p.mp4"
        encode_mp4(large, files["real_output_1080p"], fps=8, crf=23)
    return files


# --- timing -----------------------------------------------------------------------------

def _check(path: Path) -> tuple[float, str, dict[str, Any]]:
    from provenance.c2pa_io import MediaReadError
    from generation.tracing import media_verify
    from provenance.verify_bounds import TooLargeToCheck

    started = time.perf_counter()
    try:
        result = media_verify(path=path)
        traced = f", traced to {result.trace.watermark_id}" if result.trace else ""
        outcome, work = f"{result.manifest.state}{traced}", result.work.as_dict() if result.work else {}
    except TooLargeToCheck as exc:
        outcome, work = f"too large ({exc.reason})", exc.work.as_dict()
    except MediaReadError:
        outcome, work = "unreadable", {}
    return time.perf_counter() - started, outcome, work


def _through_the_page(path: Path) -> tuple[float, int]:
    """Seconds and status of POST /verify/, from the request reaching Django to its response.

    The test client's own encoding of the multipart body is left out: it is the client's work.
    """
    from django.test import Client
    from django.test.utils import override_settings

    class TimedClient(Client):
        seconds = 0.0

        def request(self, **request: Any) -> Any:
            started = time.perf_counter()
            response = super().request(**request)
            self.seconds = time.perf_counter() - started
            return response

    client = TimedClient()
    with override_settings(BESPOKE_VERIFY_UPLOADS_PER_MINUTE=100_000), path.open("rb") as handle:
        response = client.post("/verify/", {"file": handle}, REMOTE_ADDR="198.51.100.9")
    return client.seconds, response.status_code


def run() -> dict[str, Any]:
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client talk to the app (ALLOWED_HOSTS)
    logging.getLogger("django.request").setLevel(logging.ERROR)  # a 400 or 413 per hostile file is expected
    Client().get("/verify/")  # the first request loads the URLconf and templates: not part of any file's time
    small = os.environ.get("BESPOKE_VERIFY_BENCH_SMALL") == "1"
    folder = Path(tempfile.mkdtemp(prefix="bespoke-verify-bench-"))
    try:
        started = time.perf_counter()
        files = {**hostile_files(folder, small=small), **real_output_files(folder, small=small)}
        built = time.perf_counter() - started
        rows: dict[str, dict[str, Any]] = {}
        for name, path in files.items():
            runs = [_check(path) for _ in range(REPEATS)]
            seconds = max(run[0] for run in runs)
            http_seconds, status = _through_the_page(path)
            rows[name] = {"bytes": path.stat().st_size, "seconds": round(seconds, 3), "outcome": runs[-1][1],
                          "frames_decoded": runs[-1][2].get("frames_decoded", 0),
                          "pixels_decoded": runs[-1][2].get("pixels_decoded", 0),
                          "http_status": status, "http_seconds": round(http_seconds, 3)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    _print_table(rows)
    max_seconds = max(max(row["seconds"], row["http_seconds"]) for row in rows.values())
    return {"files": len(rows), "built_seconds": round(built, 1), "max_seconds": max_seconds,
            "max_in_process_seconds": max(row["seconds"] for row in rows.values()),
            "max_http_seconds": max(row["http_seconds"] for row in rows.values()),
            "goal_seconds": GOAL_SECONDS, "within_goal": max_seconds <= GOAL_SECONDS,
            "seconds": {name: row["seconds"] for name, row in rows.items()},
            "outcomes": {name: row["outcome"] for name, row in rows.items()}}


def _print_table(rows: dict[str, dict[str, Any]]) -> None:
    width = max(len(name) for name in rows)
    print(f"{'file':<{width}}  {'bytes':>10}  {'seconds':>7}  {'frames':>6}  {'Mpixels':>8}  {'page':>4}  "
          f"{'page s':>6}  outcome")
    for name, row in rows.items():
        print(f"{name:<{width}}  {row['bytes']:>10}  {row['seconds']:>7.3f}  {row['frames_decoded']:>6}  "
              f"{row['pixels_decoded'] / 1e6:>8.1f}  {row['http_status']:>4}  {row['http_seconds']:>6.3f}  "
              f"{row['outcome']}")
