"""What each operating point puts on a flat gradient (the prototype's screenshot frame).

Usage: WM_G_MAX=40 gradient_check.py PSNR... ; writes gradient_<psnr>dB_x4.png beside it
(original | marked | difference x16, the centre 128x128 enlarged 4x).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_base as B
import wm_tile as wm

here = Path(__file__).resolve().parent
h = w = 256
y, x = np.mgrid[0:h, 0:w].astype(np.float32)
base = np.stack([60 + 120 * x / w, 90 + 80 * y / h, 200 - 100 * (x + y) / (w + h)], axis=-1)
base = np.clip(base, 0, 255).round().astype(np.uint8)
for arg in sys.argv[1:]:
    target = float(arg)
    marked = wm.embed(base, 0x01234567, B.KEY, target_psnr=target)
    d = marked.astype(np.float32) - base
    region = (slice(64, 192), slice(64, 192))
    diff = np.clip(128 + 16 * d[region], 0, 255).astype(np.uint8)
    panel = np.concatenate([base[region], np.full((128, 4, 3), 255, np.uint8), marked[region],
                            np.full((128, 4, 3), 255, np.uint8), diff], axis=1)
    out = here / f"gradient_{arg}dB_x4.png"
    Image.fromarray(panel).resize((panel.shape[1] * 4, panel.shape[0] * 4), Image.NEAREST).save(out)
    print(f"target {target} dB (G_MAX {wm.G_MAX}): gradient PSNR {wm.psnr(base, marked):.1f} dB, "
          f"|change| rms {np.sqrt(np.mean(d**2)):.2f} max {np.abs(d).max():.0f}, pixels changed {np.mean(d != 0):.2f} -> {out.name}")
