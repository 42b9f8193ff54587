"""Fingerprints made by the page in Chromium match the engine's, for every shared photo and video.

The browser decodes differently from the engine (its own JPEG and H.264 decoders, full-size
decode then area reduction, RGB->luma instead of the JPEG/YUV luma plane), so the hashes are
not bit-identical as they are on identical pixels (test_port.py); they must still be within the
engine's PDQ threshold of the engine's own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from playwright.sync_api import Page

from stopspread.fingerprint import VIDEO_MIN_SIDE, fingerprint_image, fingerprint_video, image_query
from stopspread.matcher import Matcher
from stopspread.media import probe_video, sample_frames
from stopspread.pipeline import decode_image, query_file
from stopspread.records import record_from_json
from stopspread.signals import pdq_math
from stopspread.signals.types import PdqSignal
from tests.web.conftest import FINGERPRINT_JS, file_arg

PDQ_THRESHOLD = PdqSignal.threshold

# Runs in the page: each sampled frame's record (what is sent) and the PDQ of the whole frame.
VIDEO_JS = """async ([name, type, b64]) => {
  const m = await import('/web/fingerprint.js');
  const pdq = await import('/web/pdq.js');
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  const out = [];
  for await (const { t, img } of m.videoFrames(new File([bytes], name, { type }))) {
    out.push({ record: m.frameRecord(t, img), whole: pdq.pdqOf(img.data, img.width, img.height) });
  }
  return out;
}"""


def _bits(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def test_every_photo_matches_the_engines_fingerprint(page: Page, media_images: list[Path]) -> None:
    whole, region_disagrees, region_bits, unmatched = [], [], [], []
    for path in media_images:
        mine = page.evaluate(FINGERPRINT_JS, [file_arg(path)])[0]["record"]
        luma = decode_image(path)
        engine = fingerprint_image(luma)
        matcher = Matcher()
        matcher.add(record_from_json({"id": path.name, **mine}))
        if not matcher.match_image(image_query(luma)):
            unmatched.append(path.name)
        whole.append(_bits(mine["pdq"], engine.pdq))
        if ("region" in mine) != (engine.region is not None):
            region_disagrees.append(path.name)
        elif engine.region_pdq is not None:
            region_bits.append((path.name, _bits(mine["region"]["pdq"], engine.region_pdq)))
    print(
        f"\nphotos: PDQ bits page vs engine max {max(whole)} mean {np.mean(whole):.2f}; "
        f"pictures inside (both found one): {region_bits}; the page's list misses {unmatched}"
    )
    assert len(whole) == len(media_images) >= 150
    assert max(whole) <= PDQ_THRESHOLD
    assert region_disagrees == []
    # A PDQ-only list cannot hold a photo under PDQ's quality gate (one shared photo is that flat),
    # and a photo in which the detector sees a "screen" searches with that picture's PDQ only.
    assert len(unmatched) <= 3, unmatched


def test_every_video_frame_matches_the_engines_hash_of_that_frame(
    page: Page, media_videos: list[Path]
) -> None:
    whole_bits, sent_bits, unmatched = [], [], []
    for path in media_videos:
        frames = page.evaluate(VIDEO_JS, file_arg(path))
        # The engine's hash of the frame shown at each time the page sampled (every frame decoded).
        decoded = list(
            sample_frames(path, fps=min(240.0, probe_video(path).fps or 30.0), min_side=VIDEO_MIN_SIDE)
        )
        times = np.array([f.timestamp for f in decoded])
        chosen = [decoded[max(0, int(np.searchsorted(times, f["record"]["t"] + 1e-3)) - 1)] for f in frames]
        engine = fingerprint_video((f.timestamp, f.luma) for f in chosen)
        for got, frame, mine in zip(chosen, engine.frames, frames, strict=True):
            hashed, quality = pdq_math.hash_image(got.luma)
            if quality >= pdq_math.QUALITY_GATE:
                whole_bits.append(_bits(mine["whole"]["pdq"], PdqSignal.to_hex(hashed)))
                sent_bits.append(_bits(mine["record"]["pdq"], frame.pdq))
        # And the list the page makes catches the video, searched with the engine's own query.
        record = {
            "kind": "video",
            "duration": frames[-1]["record"]["t"] + 1,
            "frames": [f["record"] for f in frames],
        }
        matcher = Matcher()
        matcher.add(record_from_json({"id": path.name, **record}))
        _, query, _ = query_file(path)
        if not matcher.match_video(query):
            unmatched.append(path.name)
    whole, sent = np.array(whole_bits), np.array(sent_bits)
    print(
        f"\nvideo frames: {len(whole)}; whole-frame PDQ bits max {whole.max()} mean {whole.mean():.2f}; "
        f"sent (picture inside) bits max {sent.max()} mean {sent.mean():.2f}, over 31: {(sent > 31).sum()}; "
        f"videos the page's list misses: {unmatched}"
    )
    assert len(whole) >= 90
    assert whole.max() <= PDQ_THRESHOLD
    # What is sent is the PDQ of the picture inside a frame when the detector finds one; on a few
    # frames of TMK's "pattern" video it finds one only because of a grey level here and there
    # (the engine's own detector on the engine's pixels and on the page's pixels disagree), and
    # the 4-second "doorknob" clip has too few frames above PDQ's quality gate for a PDQ-only
    # list. benchmarks/results/web.md has the figures; this guards against losing more.
    assert np.mean(sent <= PDQ_THRESHOLD) >= 0.9
    assert len(unmatched) <= 2, unmatched
