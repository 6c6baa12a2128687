"""Attack bench for wm.py beside it (issue 17 prototype; not part of the product).

Usage: .venv/bin/python docs/research/watermark-tile/attack_bench.py [--clips 20] [--frames 90] [--fp 2000]

Marked clips (varied synthetic content, sizes 256x256..640x480, 30 fps) are published as
H.264 CRF 18 (as renders are), decoded, then attacked; each attacked result is read back
with the key. A clip counts as recovered only if the exact 64-bit payload comes back.
Bit accuracy = coded bits (before Viterbi) of the best sync hypothesis vs the truth (0.5
if no sync was found). False positives: unmarked stills of varied content, unmarked
published clips, and marked clips read with a wrong key.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wm_tile as wm

KEY = b"bespoke-issue17-watermark-key"
WRONG_KEY = b"some-other-key-entirely"
FPS = 30
SIZES = ((256, 256), (240, 320), (384, 384), (512, 512), (480, 640))  # (H, W)


# --- video I/O (as generation/pipeline/video.py) ----------------------------------------------

def encode(frames: np.ndarray, path: Path, crf: int) -> None:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def roundtrip(frames: np.ndarray, folder: Path, name: str, crf: int = 18) -> np.ndarray:
    h, w = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
    path = folder / f"{name}.mp4"
    encode(frames[:, :h, :w], path, crf)
    out = decode(path)
    path.unlink()
    return out


# --- content -------------------------------------------------------------------------------

def _texture(h: int, w: int, rng: np.random.Generator, scales=((32, 1.0), (8, 0.5), (2, 0.2))) -> np.ndarray:
    out = np.zeros((h, w, 3), np.float32)
    for scale, weight in scales:
        cells = rng.normal(0, 1, (h // scale + 2, w // scale + 2, 3)).astype(np.float32)
        layer = cv2.resize(cells, (cells.shape[1] * scale, cells.shape[0] * scale), interpolation=cv2.INTER_CUBIC)
        out += weight * layer[:h, :w]
    return out / out.std()


def _gradient(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    a, b = rng.uniform(10, 245, (2, 3))
    if rng.random() < 0.5:
        angle = rng.uniform(0, np.pi)
        t = (np.cos(angle) * x + np.sin(angle) * y)
    else:
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        t = np.hypot(y - cy, x - cx)
    t = (t - t.min()) / (np.ptp(t) + 1e-6)
    return a + (b - a) * t[..., None]


def _scene(h: int, w: int, rng: np.random.Generator) -> Image.Image:
    """A PIL-drawn 'photo': sky gradient, sun, mountains, ground, trees, a house, text."""
    img = Image.fromarray(np.clip(_gradient(h, w, rng), 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    horizon = int(h * rng.uniform(0.45, 0.7))
    sun = rng.uniform(0, w), rng.uniform(0, horizon * 0.6)
    r = rng.uniform(10, 30)
    d.ellipse([sun[0] - r, sun[1] - r, sun[0] + r, sun[1] + r], fill=tuple(rng.integers(200, 256, 3).tolist()))
    for _ in range(rng.integers(2, 5)):
        x0 = rng.uniform(-w * 0.3, w)
        peak = rng.uniform(h * 0.15, horizon)
        d.polygon([(x0, horizon), (x0 + rng.uniform(60, 250), peak), (x0 + rng.uniform(120, 400), horizon)],
                  fill=tuple(rng.integers(40, 160, 3).tolist()))
    d.rectangle([0, horizon, w, h], fill=tuple(rng.integers(30, 140, 3).tolist()))
    for _ in range(rng.integers(3, 10)):
        x, y = rng.uniform(0, w), rng.uniform(horizon, h)
        s = rng.uniform(6, 25)
        d.rectangle([x - s / 5, y - s, x + s / 5, y], fill=(70, 45, 20))
        d.ellipse([x - s, y - 2.6 * s, x + s, y - 0.8 * s], fill=tuple(rng.integers(20, 120, 3).tolist()))
    if rng.random() < 0.6:
        x, y = rng.uniform(0, w * 0.7), rng.uniform(horizon, h * 0.9)
        s = rng.uniform(20, 60)
        d.rectangle([x, y - s, x + 1.4 * s, y], fill=tuple(rng.integers(100, 255, 3).tolist()))
        d.polygon([(x - 5, y - s), (x + 0.7 * s, y - 1.6 * s), (x + 1.4 * s + 5, y - s)], fill=(150, 40, 30))
    if rng.random() < 0.5:
        d.text((rng.uniform(0, w * 0.6), rng.uniform(0, h * 0.9)), "BESPOKE 2026", fill=(255, 255, 255))
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))


def clip(kind: int, h: int, w: int, frames: int, seed: int) -> np.ndarray:
    """0: panning texture; 1: gradient + moving discs + noise; 2: panning PIL scene; 3: smooth blobs + objects."""
    rng = np.random.default_rng(seed)
    margin = 64
    if kind == 0:
        big = 128 + 40 * _texture(h + margin, w + margin, rng)
    elif kind == 2:
        big = np.asarray(_scene(h + margin, w + margin, rng), np.float32)
    elif kind == 3:
        big = 128 + 45 * _texture(h + margin, w + margin, rng, scales=((64, 1.0), (16, 0.3)))
        big = big * rng.uniform(0.6, 1.2, 3)
    if kind in (0, 2, 3):
        dy, dx = rng.uniform(-margin / 2, margin / 2, 2) / frames
        out = np.stack([big[int(margin / 2 + dy * t):int(margin / 2 + dy * t) + h,
                            int(margin / 2 + dx * t):int(margin / 2 + dx * t) + w] for t in range(frames)])
        if kind == 3:
            out = out + rng.normal(0, 1.5, out.shape[:3])[..., None]
        return np.clip(out, 0, 255).round().astype(np.uint8)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    background = _gradient(h, w, rng)
    out = np.repeat(background[None], frames, axis=0)
    for _ in range(4):
        colour, radius = rng.uniform(0, 255, 3), rng.uniform(15, 45)
        (cy, cx), (vy, vx) = rng.uniform(40, min(h, w) - 40, 2), rng.uniform(-1.5, 1.5, 2)
        for t in range(frames):
            out[t][(y - cy - vy * t) ** 2 + (x - cx - vx * t) ** 2 < radius**2] = colour
    out += rng.normal(0, 2, out.shape[:3])[..., None]
    return np.clip(out, 0, 255).round().astype(np.uint8)


def still(index: int) -> np.ndarray:
    """Varied unmarked stills for the false-positive count."""
    rng = np.random.default_rng(10_000 + index)
    h, w = int(rng.choice([192, 256, 320, 384])), int(rng.choice([192, 256, 320, 384]))
    kind = index % 10
    if kind == 0:
        a = _gradient(h, w, rng)
    elif kind == 1:
        a = rng.normal(128, rng.uniform(2, 60), (h, w, 3))
    elif kind == 2:
        a = 128 + rng.uniform(10, 60) * _texture(h, w, rng)
    elif kind == 3:
        a = np.asarray(_scene(h, w, rng), np.float32)
    elif kind == 4:  # periodic content: stripes / checkerboards at random periods (adversarial for sync)
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        p = rng.uniform(6, 90)
        a = 128 + 60 * np.sign(np.sin(2 * np.pi * x / p) * np.sin(2 * np.pi * y / rng.uniform(6, 90)))
        a = np.repeat(a[..., None], 3, axis=2) + rng.normal(0, 3, (h, w, 1))
    elif kind == 5:  # tiled texture (period content)
        p = int(rng.integers(24, 100))
        t = 128 + 40 * _texture(p, p, rng)
        a = np.tile(t, (h // p + 1, w // p + 1, 1))[:h, :w]
    elif kind == 6:
        a = clip(int(rng.integers(0, 4)), h // 2 * 2, w // 2 * 2, 1, int(rng.integers(1 << 30)))[0].astype(np.float32)
    elif kind == 7:  # flat colour + JPEG blocking
        a = np.full((h, w, 3), rng.uniform(0, 255, 3)) + rng.normal(0, 1, (h, w, 1))
    elif kind == 8:
        a = _gradient(h, w, rng) + rng.uniform(5, 30) * _texture(h, w, rng, ((4, 1.0), (1, 0.5)))
    else:
        a = np.asarray(_scene(h, w, rng), np.float32) + rng.normal(0, rng.uniform(0, 6), (h, w, 1))
    a = np.clip(a, 0, 255).round().astype(np.uint8)
    if rng.random() < 0.4:
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, "JPEG", quality=int(rng.integers(40, 95)))
        a = np.asarray(Image.open(buf).convert("RGB"))
    return a


def jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def png(frame: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, "PNG")
    return np.asarray(Image.open(buf).convert("RGB"))


def half(frames: np.ndarray) -> np.ndarray:
    h, w = frames.shape[1:3]
    return np.stack([np.asarray(Image.fromarray(f).resize((w // 2, h // 2), Image.LANCZOS)) for f in frames])


def crop(frames: np.ndarray, fy: float, fx: float) -> np.ndarray:
    """Remove 20% of the height and width; fy, fx in [0, 1] place the kept 80% window."""
    h, w = frames.shape[1:3]
    kh, kw = int(h * 0.8) // 2 * 2, int(w * 0.8) // 2 * 2
    y0, x0 = int((h - kh) * fy), int((w - kw) * fx)
    return frames[:, y0:y0 + kh, x0:x0 + kw]


def affine(frames: np.ndarray, gain: float, offset: float) -> np.ndarray:
    f = frames.astype(np.float32)
    return np.clip((f - 128) * gain + 128 + offset, 0, 255).round().astype(np.uint8)


ATTACKS = ("none", "crf40", "quarter_area", "crop_centre", "crop_off", "png_frame", "jpeg75_frame",
           "cut_1s", "bright+10", "bright-10", "contrast+10", "contrast-10")


def attacked(name: str, pub: np.ndarray, rng: np.random.Generator, folder: Path) -> np.ndarray:
    t = len(pub)
    if name == "none":
        return pub
    if name == "crf40":
        return roundtrip(pub, folder, name, crf=40)
    if name == "quarter_area":
        return roundtrip(half(pub), folder, name)
    if name == "crop_centre":
        return roundtrip(crop(pub, 0.5, 0.5), folder, name)
    if name == "crop_off":
        return roundtrip(crop(pub, rng.uniform(0, 1), rng.uniform(0, 1)), folder, name)
    if name == "png_frame":
        return png(pub[rng.integers(t)])[None]
    if name == "jpeg75_frame":
        return jpeg(pub[rng.integers(t)], 75)[None]
    if name == "cut_1s":
        start = int(rng.integers(0, max(1, t - FPS + 1)))
        return roundtrip(pub[start:start + FPS], folder, name)
    gain, offset = {"bright+10": (1.0, 25.5), "bright-10": (1.0, -25.5),
                    "contrast+10": (1.1, 0.0), "contrast-10": (0.9, 0.0)}[name]
    return roundtrip(affine(pub, gain, offset), folder, name)


def screenshot(path: Path) -> float:
    """Marked flat gradient, enlarged: original | marked | (marked - original) x 16."""
    h = w = 256
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([60 + 120 * x / w, 90 + 80 * y / h, 200 - 100 * (x + y) / (w + h)], axis=-1)
    base = np.clip(base, 0, 255).round().astype(np.uint8)
    marked = wm.embed(base, 0x0123456789ABCDEF >> (64 - wm.PAYLOAD_BITS), KEY)
    region = (slice(64, 192), slice(64, 192))
    diff = np.clip(128 + 16 * (marked[region].astype(np.float32) - base[region]), 0, 255).astype(np.uint8)
    panel = np.concatenate([base[region], np.full((128, 4, 3), 255, np.uint8), marked[region],
                            np.full((128, 4, 3), 255, np.uint8), diff], axis=1)
    Image.fromarray(panel).resize((panel.shape[1] * 4, panel.shape[0] * 4), Image.NEAREST).save(path)
    Image.fromarray(np.concatenate([base, marked], axis=1)).save(path.with_name("gradient_full_orig_marked.png"))
    return wm.psnr(base, marked)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--fp", type=int, default=2000)
    parser.add_argument("--out", default="/tmp/watermark-tile")
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    folder = Path(tempfile.mkdtemp(prefix="wm-bench-"))
    out = Path(args.out)

    ok = {a: 0 for a in ATTACKS}
    acc = {a: [] for a in ATTACKS}
    fails: list[str] = []
    psnrs, embed_s, read_s = [], [], []
    fp_clips = 0
    wrong_key = 0
    t_start = time.time()
    for i in range(args.clips):
        h, w = SIZES[i % len(SIZES)]
        kind = (i // len(SIZES) + i) % 4
        raw = clip(kind, h, w, args.frames, seed=i)
        payload = (int(rng.integers(0, 2**63)) * 2 + int(rng.integers(0, 2))) >> (64 - wm.PAYLOAD_BITS)
        t0 = time.perf_counter()
        marked = wm.embed(raw, payload, KEY)
        embed_s.append((time.perf_counter() - t0) / len(raw))
        psnrs.append(wm.psnr(raw, marked))
        truth = wm.coded_bits(payload, KEY)
        pub = roundtrip(marked, folder, "pub")
        for attack in ATTACKS:
            frames = attacked(attack, pub, rng, folder)
            t0 = time.perf_counter()
            r = wm.read_detail(frames, KEY)
            if attack == "none":
                read_s.append((time.perf_counter() - t0) / len(frames))
            good = r.payload == payload
            ok[attack] += good
            acc[attack].append(0.5 if r.coded_bits is None else float(np.mean(r.coded_bits == truth)))
            if not good:
                fails.append(f"clip {i} kind {kind} {w}x{h} {attack}: z={r.z:.1f} P={r.period:.1f} "
                             f"conf={r.confidence:.2f} acc={acc[attack][-1]:.3f} got={'None' if r.payload is None else 'WRONG'}")
        wrong_key += wm.read(pub, WRONG_KEY) is not None
        fp_clips += wm.read(roundtrip(raw, folder, "plain"), KEY) is not None
        mine = [f.split(": ")[0].split()[-1] for f in fails if f.startswith(f"clip {i} ")]
        print(f"clip {i:2d} kind {kind} {w}x{h}: psnr {psnrs[-1]:.2f} failed: {mine or '-'} ({time.time() - t_start:.0f}s)",
              flush=True)

    print(f"\nclips: {args.clips} x {args.frames} frames at {FPS} fps, sizes {sorted({SIZES[i % len(SIZES)] for i in range(args.clips)})} (H,W),"
          f" published H.264 CRF 18; payload {wm.PAYLOAD_BITS} bits + {wm.TAG_BITS}-bit HMAC tag, {wm.CODED_BITS} coded bits, {wm.PILOTS} pilots")
    print(f"PSNR (marked vs original, all frames): mean {np.mean(psnrs):.2f} dB, min {np.min(psnrs):.2f} dB")
    print(f"{'attack':<14}{'recovery':>9}{'bit acc':>9}{'bit acc min':>12}")
    for a in ATTACKS:
        print(f"{a:<14}{ok[a] / args.clips:>9.3f}{np.mean(acc[a]):>9.4f}{np.min(acc[a]):>12.4f}")
    kinds = {0: "texture", 1: "gradient+discs", 2: "PIL scene", 3: "smooth blobs"}
    print("recovery by content kind (clips per kind):")
    for k, label in kinds.items():
        idx = [i for i in range(args.clips) if (i // len(SIZES) + i) % 4 == k]
        if idx:
            line = " ".join(f"{a}={sum(1 for i in idx if not any(f.startswith(f'clip {i} ') and f' {a}:' in f for f in fails))}/{len(idx)}"
                            for a in ATTACKS)
            print(f"  {label:<15}{line}")
    for f in fails:
        print("  fail:", f)

    t0 = time.perf_counter()
    fp_stills = 0
    fp_kinds = {}
    for j in range(args.fp):
        if wm.read(still(j), KEY) is not None:
            fp_stills += 1
            fp_kinds[j % 10] = fp_kinds.get(j % 10, 0) + 1
    print(f"false positives: {fp_stills}/{args.fp} unmarked stills (10 content kinds, some JPEG'd; {time.perf_counter() - t0:.0f}s), "
          f"{fp_clips}/{args.clips} unmarked published clips, {wrong_key}/{args.clips} marked clips read with a wrong key"
          + (f"; by kind {fp_kinds}" if fp_kinds else ""))

    flat = screenshot(out / "gradient_marked_x4.png")
    print(f"flat-gradient frame PSNR {flat:.2f} dB; screenshot {out / 'gradient_marked_x4.png'}")

    # timing at 512x512
    frame = clip(2, 512, 512, 16, seed=99)
    t0 = time.perf_counter()
    m = wm.embed(frame, 42, KEY)
    assert wm.read(m, KEY) == 42
    t_embed = (time.perf_counter() - t0) / len(frame)
    t0 = time.perf_counter()
    for f in m[:8]:
        wm.read(f, KEY)
    t_read1 = (time.perf_counter() - t0) / 8
    t0 = time.perf_counter()
    wm.read(m, KEY)
    t_read16 = time.perf_counter() - t0
    print(f"timing 512x512 (this CPU, 1 process): embed {1000 * t_embed:.1f} ms/frame; read a still {1000 * t_read1:.1f} ms;"
          f" read 16 frames {1000 * t_read16:.0f} ms ({1000 * t_read16 / 16:.1f} ms/frame)")
    print(f"total {time.time() - t_start:.0f}s")
    os.rmdir(folder)


if __name__ == "__main__":
    main()
