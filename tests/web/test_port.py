"""The page's JavaScript PDQ and screenshot detector are the engine's, bit for bit.

The same pixels go through both: the engine's own decoded luma (or random RGB) is handed to
the page's modules in real Chromium and the results are compared with `pdq_math` and
`regions.content_box` in this process.
"""

from __future__ import annotations

import base64
import io
import random
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Page

from benchmarks import transforms as tf
from stopspread.media import load_luma
from stopspread.media.images import LUMA_WEIGHTS
from stopspread.pipeline import decode_image
from stopspread.signals import pdq_math
from stopspread.signals.regions import content_box
from stopspread.signals.types import PdqSignal

# Runs in the page: PDQ (whole picture and boxes) and content box of float32 luma arrays.
HASH_JS = """async (items) => {
  const pdq = await import('/web/pdq.js');
  const regions = await import('/web/regions.js');
  return items.map(([b64, width, height, boxes]) => {
    const text = atob(b64);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    const data = new Float32Array(bytes.buffer);
    return {
      hashes: boxes.map((box) => pdq.pdqOf(data, width, height, box)),
      box: regions.contentBox({ data, width, height }),
    };
  });
}"""

LUMA_JS = """async ([b64, width, height]) => {
  const pdq = await import('/web/pdq.js');
  const rgba = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const luma = pdq.lumaFromRGBA(rgba, width, height);
  return btoa(String.fromCharCode(...new Uint8Array(luma.buffer)));
}"""


def _in_page(page: Page, lumas: list[np.ndarray], boxes: list[list[list[int]]]) -> list[dict]:
    # One picture per call: a 800x600 float32 picture is ~2.5 MB of base64 on the wire.
    return [
        page.evaluate(
            HASH_JS,
            [
                [
                    base64.b64encode(np.ascontiguousarray(luma, np.float32).tobytes()).decode(),
                    *luma.shape[::-1],
                    b,
                ]
            ],
        )[0]
        for luma, b in zip(lumas, boxes, strict=True)
    ]


def _engine(luma: np.ndarray, boxes: list[list[int]]) -> list[dict]:
    hashes, qualities = pdq_math.hash_regions(luma, np.array(boxes))
    return [{"pdq": PdqSignal.to_hex(h), "quality": int(q)} for h, q in zip(hashes, qualities, strict=True)]


def test_pdq_is_bit_identical_on_the_same_pixels(page: Page, media_images: list[Path]) -> None:
    rng = np.random.default_rng(4)
    # Every 8th shared photo: the engine's own decode, so the sizes are the real ones.
    lumas = [decode_image(path) for path in media_images[::8]]
    # Odd sizes exercise the tent filter's edges: windows of 1, spans shorter than 64, strips.
    # (Flat or smooth pictures are left out: most of their coefficients are rounding noise around
    # the median, in both, and their low quality keeps them out of every list.)
    lumas += [
        rng.uniform(0, 255, (h, w)).astype(np.float32)
        for h, w in ((23, 700), (17, 300), (64, 64), (1031, 389))
    ]
    boxes = []
    for luma in lumas:
        h, w = luma.shape
        boxes.append(
            [[0, 0, w, h], [w // 5, h // 7, max(w // 5 + 1, w - w // 9), max(h // 7 + 1, h - h // 3)]]
        )
    got = _in_page(page, lumas, boxes)
    differing = [
        (i, g["hashes"], want)
        for i, (luma, b, g) in enumerate(zip(lumas, boxes, got, strict=True))
        if g["hashes"] != (want := _engine(luma, b))
    ]
    assert not differing, differing[:3]


def test_luma_weights_are_the_engines_to_float32_rounding(page: Page) -> None:
    rgb = np.random.default_rng(5).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    rgba = np.dstack([rgb, np.full((37, 53), 255, np.uint8)])
    b64 = page.evaluate(LUMA_JS, [base64.b64encode(rgba.tobytes()).decode(), 53, 37])
    luma = np.frombuffer(base64.b64decode(b64), np.float32).reshape(37, 53)
    # The engine's matrix product sums in BLAS's order (with fused multiply-adds where the CPU
    # has them); the page sums left to right. They agree to the last float32 bit or so, far
    # below the grey-level differences between two decoders.
    assert np.abs(luma - rgb.astype(np.float32) @ LUMA_WEIGHTS).max() <= 1e-4


def test_content_box_is_the_engines(page: Page, media_images: list[Path]) -> None:
    lumas = []
    for n, path in enumerate(media_images[:12]):
        # Chat screenshots (portrait and landscape layouts, flat and patterned frames) ...
        shot = tf.screenshot(Image.open(path).convert("RGB"), random.Random(n))
        buffer = io.BytesIO()
        shot.save(buffer, "PNG")
        lumas.append(load_luma(buffer.getvalue(), min_side=384).luma)
    lumas += [decode_image(path) for path in media_images[12:30]]  # ... and ordinary photos
    got = _in_page(page, lumas, [[] for _ in lumas])
    want = [content_box(luma) for luma in lumas]
    assert sum(w is not None for w in want) >= 8  # most screenshots were found
    assert [tuple(g["box"]) if g["box"] else None for g in got] == want
