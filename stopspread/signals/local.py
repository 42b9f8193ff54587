"""Local binary features: what survives crops, stickers and screenshots when PDQ does not.

PDQ describes the whole frame, so cutting 5 % off one side already moves it by ~60 bits of
256. Local features (OpenCV's ORB: oriented FAST corners with 256-bit rBRIEF descriptors)
describe small patches, so most of them survive a crop, a caption or a rescale; matching
descriptors are then checked for one consistent geometric transform, which is what keeps
unrelated pictures from matching on a handful of look-alike patches. What they reveal is
``REVEALS`` below.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

# OpenCV's worker threads cost ~15 % more CPU on pictures of a few hundred pixels and save no
# time (measured on the hashing benchmark: 12.9 -> 10.9 CPU ms a 1600-px original, same wall
# time); parallelism comes from one process per core (`--jobs`) instead.
cv2.setNumThreads(1)

REVEALS = (
    "each descriptor is 256 brightness comparisons inside a ~31-pixel patch, and the positions "
    "are kept to 1/256 of the picture's side: where the picture has corners, not what it shows; "
    "a coarse reconstruction from them is possible in research settings, which is why they are "
    "kept only as long as matching needs and never returned to platforms"
)

DESCRIPTOR_BYTES = 32
# Descriptors kept per original: enough for ~25 survivors after a 20 % crop plus a screenshot's
# downscale under the strong-inlier rule, few enough to keep a list entry at ~13 kB.
ORIGINAL_FEATURES = 384
# A query spends more, because it pays once and a miss costs a whole forward: on the benchmark,
# 1000 instead of 500 finds 14 more of the 500 hardest photo copies (crops, screenshots,
# combinations) while unrelated photos still reach at most 14 counted inliers.
QUERY_FEATURES = 1000
# Descriptor distance for a correspondence. ORB pairs of the same corner after recompression
# and rescale mostly fall under 31 bits, unrelated pairs average ~128; see BENCHMARKS.md.
DESCRIPTOR_RADIUS = 31
# Geometric check: RANSAC tolerance in units of the region's longer side, the fewest inliers of
# one similarity transform that count as the same picture, and the least share of the picture
# they must span.
RANSAC_TOLERANCE = 0.015
MIN_INLIERS = 16
# Only inliers this close, and whose query corner found no other list entry, are counted for a
# photo: on the benchmark, unrelated pictures (rows of planks, the same chat wallpaper) reach
# at most 14 such inliers while 90 % of true copies matched by local features keep 16 or more.
STRONG_RADIUS = 24
MIN_SPREAD = 0.2
# Corners are looked for with the short side at most this long: ORB's cost is per pixel, and a
# copy is rarely seen larger. (The short side, not the long: a phone screenshot is tall and the
# picture inside it narrow, and it must keep enough pixels for ORB's 31-pixel patches.)
LOCAL_SHORT_SIDE = 384
# Corners are detected in excess and then chosen cell by cell of a grid (see _spread_out).
_OVERSAMPLE = 3
_GRID = 4
# ORB's pyramid: 8 levels 1.2 apart span a 3.6x change of scale.
_SCALE_FACTOR = 1.2
LEVELS = 8
# FAST's contrast threshold: 10 still finds corners in flat, low-contrast pictures.
FAST_THRESHOLD = 10


@dataclass(frozen=True)
class Detection:
    """How corners are looked for. Queries use the defaults; originals a cheaper setting.

    ``fast_threshold`` above FAST_THRESHOLD is tried first, and the search is redone at
    FAST_THRESHOLD when it finds fewer than ``fallback_share`` of the corners asked for (a flat,
    low-contrast picture). ``interpolation`` is how a region is brought to LOCAL_SHORT_SIDE.
    """

    levels: int = LEVELS
    fast_threshold: int = FAST_THRESHOLD
    fallback_share: float = 0.8
    interpolation: int = cv2.INTER_AREA


QUERY_DETECTION = Detection()
# Originals: what a victim's device computes, where speed is a target (BENCHMARKS.md). Measured
# on the quality benchmark with the queries unchanged: bilinear instead of area reduction to
# LOCAL_SHORT_SIDE saves ~1.8 ms a 1600-px photo for the same recall (decoding already stops at a
# short side of 384-767 px, so the reduction is under 2x, where bilinear still weighs nearly
# every pixel; ORB's own pyramid is bilinear too); FAST at 20
# saves another ~1 ms, and since the corners kept are the strongest, on textured pictures they
# mostly clear 20 anyway, while the fallback keeps flat pictures (which find < 80 % of their
# corners at 20) as they were: without it three such originals lost 3-6 families each.
# Fewer pyramid levels for photos cost recall (5 levels with FAST 20: 22 of 900 copies lost).
ORIGINAL_DETECTION = Detection(fast_threshold=20, interpolation=cv2.INTER_LINEAR)
# An original that is itself a screenshot (a captured video call) keeps area reduction: its
# picture and its interface compete with every other screenshot in the same frame, where
# corners shared with other entries are not counted, and there bilinear cost one copy (a
# slightly rotated one, 30 counted corners left instead of 36, no transform found). Such
# originals are few, so their speed matters little.
SCREEN_ORIGINAL_DETECTION = Detection(fast_threshold=20)
# Video frames (short side VIDEO_MIN_SIDE = 256, so levels past the 5th are ~100 px and less and
# add little): 5 levels and FAST 20 cut a frame's detection by ~35 % for the same video recall
# (143 of 147 copies against 142 before).
VIDEO_DETECTION = Detection(levels=5, fast_threshold=20)


def _orb(features: int, levels: int, fast_threshold: int) -> cv2.ORB:
    return cv2.ORB_create(
        nfeatures=features,
        scaleFactor=_SCALE_FACTOR,
        nlevels=levels,
        edgeThreshold=15,
        patchSize=31,
        fastThreshold=fast_threshold,
    )


@dataclass(frozen=True)
class LocalFeatures:
    """Descriptors (n x 32 uint8) and positions (n x 2 float32, 0..1 of the region's sides)."""

    descriptors: np.ndarray
    points: np.ndarray

    def __len__(self) -> int:
        return len(self.descriptors)

    def to_text(self) -> str:
        """Base64 of n descriptors followed by n (x, y) positions quantised to one byte each."""
        quantised = np.clip(np.round(self.points * 255), 0, 255).astype(np.uint8)
        return base64.b64encode(self.descriptors.tobytes() + quantised.tobytes()).decode("ascii")

    @classmethod
    def from_text(cls, text: str) -> LocalFeatures:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        per = DESCRIPTOR_BYTES + 2
        if len(raw) % per:
            raise ValueError(f"local features: {len(raw)} bytes is not a whole number of {per}-byte features")
        n = len(raw) // per
        data = np.frombuffer(raw, dtype=np.uint8)
        descriptors = data[: n * DESCRIPTOR_BYTES].reshape(n, DESCRIPTOR_BYTES)
        points = data[n * DESCRIPTOR_BYTES :].reshape(n, 2).astype(np.float32) / 255
        return cls(descriptors, points)

    @classmethod
    def empty(cls) -> LocalFeatures:
        return cls(np.zeros((0, DESCRIPTOR_BYTES), np.uint8), np.zeros((0, 2), np.float32))


def extract(
    luma: np.ndarray,
    box: tuple[int, int, int, int] | None = None,
    *,
    features: int,
    detection: Detection = QUERY_DETECTION,
) -> LocalFeatures:
    """ORB features of ``luma`` (inside ``box`` when given), positions relative to that region."""
    h, w = luma.shape
    x0, y0, x1, y1 = box if box is not None else (0, 0, w, h)
    region = luma[y0:y1, x0:x1]
    if region.dtype != np.uint8:
        region = np.clip(region, 0, 255).astype(np.uint8)
    region = np.ascontiguousarray(region)
    scale = LOCAL_SHORT_SIDE / min(region.shape)
    if scale < 1:
        size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
        region = cv2.resize(region, size, interpolation=detection.interpolation)
    wanted = features * _OVERSAMPLE
    orb = _orb(wanted, detection.levels, detection.fast_threshold)
    found = orb.detect(region, None)
    if detection.fast_threshold > FAST_THRESHOLD and len(found) < detection.fallback_share * wanted:
        orb = _orb(wanted, detection.levels, FAST_THRESHOLD)
        found = orb.detect(region, None)
    keypoints = _spread_out(found, region.shape, features)
    if not keypoints:
        return LocalFeatures.empty()
    keypoints, descriptors = orb.compute(region, keypoints)
    if descriptors is None or not keypoints:
        return LocalFeatures.empty()
    side = float(max(region.shape))
    points = _positions(keypoints)
    # Normalising by the longer side keeps the aspect ratio, so a similarity transform still fits.
    points /= side
    return LocalFeatures(descriptors, points)


def _spread_out(keypoints: Sequence[cv2.KeyPoint], shape: tuple[int, ...], count: int) -> list[cv2.KeyPoint]:
    """The strongest corners cell by cell of a grid, in turn, so that they cover the picture.

    ORB's own pick is the strongest corners overall, which pile up in the one most textured
    patch; a crop that cuts that patch off would then leave nothing to match.
    """
    if len(keypoints) <= count:
        return list(keypoints)
    h, w = shape[:2]
    xy = _positions(keypoints)
    response = np.array([kp.response for kp in keypoints], dtype=np.float32)
    cell = np.minimum(_GRID - 1, (xy[:, 1] * _GRID / h).astype(np.int64)) * _GRID + np.minimum(
        _GRID - 1, (xy[:, 0] * _GRID / w).astype(np.int64)
    )
    by_cell = np.lexsort((-response, cell))
    first_of_cell = np.searchsorted(cell[by_cell], cell[by_cell], side="left")
    rank = np.empty(len(keypoints), np.int64)
    rank[by_cell] = np.arange(len(keypoints)) - first_of_cell
    chosen = np.lexsort((-response, rank))[:count]
    return [keypoints[i] for i in chosen]


def _positions(keypoints: Sequence[cv2.KeyPoint]) -> np.ndarray:
    """(x, y) of each keypoint as n x 2 float32, in one call (``kp.pt`` one by one costs ~1 us each)."""
    return np.asarray(cv2.KeyPoint_convert(keypoints), dtype=np.float32).reshape(-1, 2)


def verify(query_points: np.ndarray, reference_points: np.ndarray, counted: np.ndarray | None = None) -> int:
    """Inliers of the best similarity transform between corresponding points (0 if none).

    Only correspondences marked in ``counted`` (default: all) are counted and must span the
    picture; the others still help RANSAC find the transform. When the transform that most
    correspondences agree on is not one the counted ones share (a repeated texture pulls it to a
    degenerate fit), the counted ones are fitted alone.
    """
    counted = np.ones(len(query_points), bool) if counted is None else counted
    if int(counted.sum()) < MIN_INLIERS:
        return 0
    inliers = _fit(query_points, reference_points, counted)
    if len(inliers) < MIN_INLIERS and not counted.all():
        inliers = _fit(query_points[counted], reference_points[counted], np.ones(int(counted.sum()), bool))
    if len(inliers) < MIN_INLIERS:
        return 0
    # Many strong inliers of one transform are evidence even when they sit close together (a
    # small picture inside a screenshot, a plain background); few must span the picture.
    spread = MIN_SPREAD if len(inliers) < 2 * MIN_INLIERS else MIN_SPREAD / 2
    if float(np.ptp(inliers, axis=0).max()) < spread:
        return 0
    return len(inliers)


def _fit(query_points: np.ndarray, reference_points: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """Reference positions of the counted inliers of a RANSAC similarity fit (maybe none)."""
    matrix, mask = cv2.estimateAffinePartial2D(
        query_points.astype(np.float32),
        reference_points.astype(np.float32),
        method=cv2.RANSAC,
        ransacReprojThreshold=RANSAC_TOLERANCE,
        maxIters=500,
        confidence=0.99,
    )
    if matrix is None or mask is None:
        return reference_points[:0]
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    if not 0.2 <= scale <= 5.0:
        return reference_points[:0]
    return reference_points[mask.ravel().astype(bool) & counted]
