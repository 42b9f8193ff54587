"""From decoded pixels to fingerprints: what a victim's device sends, and what a platform computes.

An original (the victim's picture) yields its PDQ (interchangeable with HMA, ThreatExchange and
StopNCII lists), the PDQ of the picture inside it when it is itself a screenshot, and a few
hundred local features. A query (an upload or a forward) yields the same kinds of signal, more
of them: the eight rotations/mirrors of its PDQ and local features of the picture and of its
mirror image, because the copy may have been flipped, rotated, cropped or screenshotted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from stopspread.signals import local, pdq_math
from stopspread.signals.local import LocalFeatures
from stopspread.signals.regions import content_box
from stopspread.signals.types import PdqSignal

# Short side the picture is decoded to: a JPEG is decoded at the smallest DCT scale that keeps
# this many pixels, where stopspread's PDQ stays within ~10 bits of a full decode (BENCHMARKS.md).
IMAGE_MIN_SIDE = 384
# Videos: one frame a second, as vPDQ samples them, decoded smaller since frames are re-encoded
# copies anyway; local features on at most this many evenly spread frames to bound list size.
VIDEO_FPS = 1.0
VIDEO_MIN_SIDE = 256
VIDEO_LOCAL_FRAMES = 48
VIDEO_FRAME_FEATURES = 128
VIDEO_QUERY_FEATURES = 250

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class ImageFingerprint:
    pdq: str
    quality: int
    #: The picture inside a screenshot or letterbox, as fractions of the sides, with its PDQ.
    region: tuple[float, float, float, float] | None = None
    region_pdq: str | None = None
    region_quality: int | None = None
    local: local.LocalFeatures = field(default_factory=local.LocalFeatures.empty)
    #: Descriptors of the interface around a screenshot's picture (positions unused). They never
    #: count for this picture; they mark corners as shared interface, so that another screenshot
    #: in the same app frame cannot match a listed picture on its frame (see Matcher).
    interface: LocalFeatures = field(default_factory=LocalFeatures.empty)


@dataclass(frozen=True)
class FrameFingerprint:
    t: float
    pdq: str
    quality: int
    local: local.LocalFeatures | None = None


@dataclass(frozen=True)
class VideoFingerprint:
    duration: float
    frames: list[FrameFingerprint]


@dataclass(frozen=True)
class ImageQuery:
    """What a copy is searched with: PDQ hashes (k x 32) and local feature sets (as-is, mirrored)."""

    pdq: np.ndarray
    local_sets: tuple[local.LocalFeatures, ...]


@dataclass(frozen=True)
class VideoQuery:
    times: np.ndarray
    frames: list[ImageQuery]


def fingerprint_image(luma: np.ndarray) -> ImageFingerprint:
    """Fingerprint of an original picture (what leaves the victim's device)."""
    h, w = luma.shape
    box = content_box(luma)
    boxes = np.array([[0, 0, w, h]] + ([list(box)] if box else []))
    hashes, qualities = pdq_math.hash_regions(luma, boxes)
    detection = local.ORIGINAL_DETECTION if box is None else local.SCREEN_ORIGINAL_DETECTION
    features = local.extract(luma, box, features=local.ORIGINAL_FEATURES, detection=detection)
    if box is None:
        return ImageFingerprint(PdqSignal.to_hex(hashes[0]), int(qualities[0]), local=features)
    x0, y0, x1, y1 = box
    fractions = (round(x0 / w, 4), round(y0 / h, 4), round(x1 / w, 4), round(y1 / h, 4))
    return ImageFingerprint(
        PdqSignal.to_hex(hashes[0]),
        int(qualities[0]),
        fractions,
        PdqSignal.to_hex(hashes[1]),
        int(qualities[1]),
        features,
        _interface_features(luma, box),
    )


def _interface_features(luma: np.ndarray, box: Box) -> local.LocalFeatures:
    """Local features of a screen outside its picture, descriptors only."""
    h, w = luma.shape
    everything = local.extract(
        luma, features=local.ORIGINAL_FEATURES, detection=local.SCREEN_ORIGINAL_DETECTION
    )
    x, y = everything.points[:, 0] * max(h, w), everything.points[:, 1] * max(h, w)
    x0, y0, x1, y1 = box
    outside = (x < x0) | (x >= x1) | (y < y0) | (y >= y1)
    return local.LocalFeatures(everything.descriptors[outside], np.zeros((int(outside.sum()), 2), np.float32))


def image_query(luma: np.ndarray, *, features: int = local.QUERY_FEATURES) -> ImageQuery:
    """Signals to search for one uploaded or forwarded picture.

    When the picture sits inside a screen, its PDQ is taken of the picture only: the frame
    around it is shared by every screenshot of that app and must not make unrelated pictures
    match. Local features are taken of the whole image and, when there is one, of the picture
    inside: a photo with a flat background can look framed, and must still match by its corners.
    (Originals that are screenshots count local features of their inner picture only, and list
    their frame's corners as interface, so a shared frame cannot match that way either.)
    """
    h, w = luma.shape
    box = content_box(luma)
    buffers = pdq_math.dihedral_buffers(luma, box or (0, 0, w, h))
    if int(pdq_math.quality(buffers[:1])[0]) >= pdq_math.QUALITY_GATE:
        hashes = pdq_math.dct_to_hash(pdq_math.dct16(buffers))
    else:
        hashes = np.zeros((0, pdq_math.HASH_BYTES), np.uint8)
    regions = [luma] + ([luma[box[1] : box[3], box[0] : box[2]]] if box else [])
    sets = []
    for region in regions:
        sets.append(local.extract(np.ascontiguousarray(region), features=features))
        sets.append(local.extract(np.ascontiguousarray(region[:, ::-1]), features=features))
    return ImageQuery(hashes, tuple(sets))


def fingerprint_video(frames: Iterable[tuple[float, np.ndarray]]) -> VideoFingerprint:
    """Fingerprint of an original video from its sampled (time, luma) frames.

    Each frame's PDQ is taken as it arrives (so it overlaps decoding when ``frames`` is decoded
    in the background); local features once the count, and so the frames chosen, is known.
    """
    collected = []
    for t, luma in frames:
        h, w = luma.shape
        box = content_box(luma)
        hashes, qualities = pdq_math.hash_regions(luma, np.array([box or (0, 0, w, h)]))
        collected.append((t, luma, box, PdqSignal.to_hex(hashes[0]), int(qualities[0])))
    chosen = _evenly(len(collected), VIDEO_LOCAL_FRAMES)
    out = []
    for i, (t, luma, box, pdq, quality) in enumerate(collected):
        features = (
            local.extract(luma, box, features=VIDEO_FRAME_FEATURES, detection=local.VIDEO_DETECTION)
            if i in chosen
            else None
        )
        out.append(FrameFingerprint(round(t, 3), pdq, quality, features))
    duration = collected[-1][0] + 1 / VIDEO_FPS if collected else 0.0
    return VideoFingerprint(round(duration, 3), out)


def video_query(frames: Iterable[tuple[float, np.ndarray]]) -> VideoQuery:
    times, queries = [], []
    for t, luma in frames:  # one by one: overlaps decoding when frames come from the background
        times.append(t)
        queries.append(image_query(luma, features=VIDEO_QUERY_FEATURES))
    return VideoQuery(np.array(times, dtype=np.float64), queries)


def _evenly(count: int, most: int) -> set[int]:
    if count <= most:
        return set(range(count))
    return {round(float(i)) for i in np.linspace(0, count - 1, most)}


@dataclass(frozen=True)
class FileDigests:
    md5: str
    sha256: str
