"""The live matcher: a hash list held in Hamming indexes, searched with a copy's signals.

Every list record becomes index entries — its PDQ hashes, its local-feature descriptors, its
video frames — whose 64-bit entry id packs the record's number and the entry's place inside
the record, so a hit leads straight back to the record and a withdrawal removes exactly that
record's entries, visible to the very next search.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from stopspread.fingerprint import FileDigests, ImageQuery, VideoQuery
from stopspread.index import HammingIndex, MultiIndexHashing
from stopspread.records import ListRecord
from stopspread.signals import local
from stopspread.signals.pdq_math import QUALITY_GATE as PDQ_QUALITY_GATE
from stopspread.signals.types import PdqSignal

_SLOT_BITS = 24
_SLOT_MASK = (1 << _SLOT_BITS) - 1
# Local features of a video frame are numbered frame_slot * 256 + feature.
_FEATURE_BITS = 8
# Slot flag of a screenshot's interface features: they mark corners as shared, never count.
_INTERFACE = 1 << (_SLOT_BITS - 1)

# Videos are matched frame by frame; a frame needs fewer inliers than a photo because the
# video match also needs several frames in the same time order (below).
VIDEO_FRAME_MIN_INLIERS = 12
# Frames agreeing on one time offset (within this many seconds) count as one alignment.
VIDEO_OFFSET_TOLERANCE = 2.0
# A video matches when an alignment holds at least this many frames (or all frames of a
# shorter copy) and covers this share of the copy or of the original: a trimmed copy covers all
# of itself and 35 % of the original, a compilation a fraction of itself and all the original.
VIDEO_MIN_FRAMES = 3
VIDEO_MIN_COVERAGE = 0.3
# A frame with fewer corners than this rarely keeps enough strong inliers to match at all.
_USABLE_FEATURES = 3 * VIDEO_FRAME_MIN_INLIERS


@dataclass(frozen=True)
class Match:
    """One list record that a copy matched, and the evidence for it."""

    id: str
    signal: str  # "md5", "sha256", "pdq", "local" or "video"
    distance: int | None = None  # PDQ bits, for "pdq"
    inliers: int | None = None  # geometrically consistent local features, for "local"
    coverage: float | None = None  # share of the copy or the original aligned, for "video"

    def to_json(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class Matcher:
    """A hash list in memory, searchable by images, videos, PDQ strings and file digests."""

    def __init__(self, index_factory: Callable[[], HammingIndex] = MultiIndexHashing) -> None:
        self.image_pdq = index_factory()
        self.image_local = index_factory()
        self.video_pdq = index_factory()
        self.video_local = index_factory()
        self._records: list[ListRecord | None] = []
        self._number: dict[str, int] = {}
        self._entries: dict[int, list[tuple[HammingIndex, np.ndarray]]] = {}
        self._digests: dict[str, set[int]] = defaultdict(set)
        self._frame_of_slot: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._number)

    def add_all(self, records: Iterable[ListRecord]) -> None:
        for record in records:
            self.add(record)

    def add(self, record: ListRecord) -> None:
        """Index a record; a record with the same id replaces the old one."""
        if record.id in self._number:
            self.remove(record.id)
        number = len(self._records)
        self._records.append(record)
        self._number[record.id] = number
        base = number << _SLOT_BITS
        entries: list[tuple[HammingIndex, np.ndarray]] = []

        def put(index: HammingIndex, slots: np.ndarray, hashes: np.ndarray) -> None:
            if len(hashes):
                ids = base | slots.astype(np.int64)
                index.add(ids, hashes)
                entries.append((index, ids))

        if record.image is not None:
            image = record.image
            hexes = [image.pdq] + ([image.region_pdq] if image.region_pdq else [])
            put(self.image_pdq, np.arange(len(hexes)), PdqSignal.to_array(hexes))
            put(self.image_local, np.arange(len(image.local)), image.local.descriptors)
            put(self.image_local, _INTERFACE | np.arange(len(image.interface)), image.interface.descriptors)
        if record.video is not None:
            frames = record.video.frames
            put(self.video_pdq, np.arange(len(frames)), PdqSignal.to_array([f.pdq for f in frames]))
            with_local = [i for i, f in enumerate(frames) if f.local is not None and len(f.local)]
            self._frame_of_slot[number] = np.array(with_local, dtype=np.int64)
            for slot, frame_index in enumerate(with_local):
                features = frames[frame_index].local
                assert features is not None
                slots = (slot << _FEATURE_BITS) | np.arange(len(features))
                put(self.video_local, slots, features.descriptors)
        for digest in (record.md5, record.sha256):
            if digest:
                self._digests[digest].add(number)
        self._entries[number] = entries

    def remove(self, record_id: str) -> bool:
        """Withdraw a record: it stops matching from the next search on."""
        number = self._number.pop(record_id, None)
        if number is None:
            return False
        record = self._records[number]
        for index, ids in self._entries.pop(number, []):
            index.remove(ids)
        if record is not None:
            for digest in (record.md5, record.sha256):
                if digest:
                    self._digests[digest].discard(number)
        self._records[number] = None
        self._frame_of_slot.pop(number, None)
        return True

    def _id(self, number: int) -> str:
        record = self._records[number]
        assert record is not None
        return record.id

    # --- searching -------------------------------------------------------------------------

    def match_digests(self, digests: FileDigests) -> list[Match]:
        found = []
        for signal, value in (("sha256", digests.sha256), ("md5", digests.md5)):
            for number in sorted(self._digests.get(value, ())):
                found.append(Match(self._id(number), signal, distance=0))
        return found

    def match_pdq(self, hashes: np.ndarray, radius: int = PdqSignal.threshold) -> list[list[Match]]:
        """For each PDQ hash (n x 32), the image records within ``radius`` bits, nearest first."""
        result = self.image_pdq.search(hashes, radius)
        per_query: list[dict[int, int]] = [{} for _ in range(len(hashes))]
        for q, entry, distance in zip(result.query_index, result.ids, result.distances, strict=True):
            number = int(entry) >> _SLOT_BITS
            best = per_query[q].get(number)
            if best is None or distance < best:
                per_query[q][number] = int(distance)
        return [
            [
                Match(self._id(n), "pdq", distance=d)
                for n, d in sorted(found.items(), key=lambda kv: (kv[1], kv[0]))
            ]
            for found in per_query
        ]

    def match(
        self, kind: str, query: ImageQuery | VideoQuery, digests: FileDigests | None = None
    ) -> list[Match]:
        """Match what ``pipeline.query_file`` returns for one file: an image or a video query."""
        if kind == "image":
            assert isinstance(query, ImageQuery)
            return self.match_image(query, digests)
        assert isinstance(query, VideoQuery)
        return self.match_video(query, digests)

    def match_image(self, query: ImageQuery, digests: FileDigests | None = None) -> list[Match]:
        found: dict[str, Match] = {}
        for match in self.match_digests(digests) if digests else []:
            found.setdefault(match.id, match)
        # Nearest orientation first, so each record keeps its smallest PDQ distance.
        variants = (
            [m for per_variant in self.match_pdq(query.pdq) for m in per_variant] if len(query.pdq) else []
        )
        for match in sorted(variants, key=lambda m: m.distance or 0):
            found.setdefault(match.id, match)
        for number, inliers in self._local_hits(query.local_sets).items():
            match_id = self._id(number)
            if match_id not in found:
                found[match_id] = Match(match_id, "local", inliers=inliers)
        return _ranked(found.values())

    def _local_hits(self, feature_sets: Iterable[local.LocalFeatures]) -> dict[int, int]:
        """Records whose local features agree with one of the sets, with their inlier counts."""
        best: dict[int, int] = {}
        for features in feature_sets:
            if not len(features):
                continue
            result = self.image_local.search(features.descriptors, local.DESCRIPTOR_RADIUS)
            numbers = result.ids >> _SLOT_BITS
            # A corner that finds several list entries is interface or pattern (a chat frame
            # shared by screenshots, repeated planks), not evidence for any one of them.
            pairs = np.unique(np.stack([result.query_index.astype(np.int64), numbers]), axis=1)
            entries_per_corner = np.bincount(pairs[0], minlength=len(features))
            counted = (entries_per_corner[result.query_index] == 1) & (
                result.distances <= local.STRONG_RADIUS
            )
            interface = (result.ids & _INTERFACE) != 0
            for number in np.unique(numbers[~interface]):
                pick = (numbers == number) & ~interface
                if counted[pick].sum() < local.MIN_INLIERS:
                    continue
                record = self._records[int(number)]
                assert record is not None and record.image is not None
                reference = record.image.local.points[result.ids[pick] & _SLOT_MASK]
                inliers = local.verify(features.points[result.query_index[pick]], reference, counted[pick])
                if inliers >= local.MIN_INLIERS:
                    best[int(number)] = max(best.get(int(number), 0), inliers)
        return best

    def match_video(self, query: VideoQuery, digests: FileDigests | None = None) -> list[Match]:
        found: dict[str, Match] = {}
        for match in self.match_digests(digests) if digests else []:
            found.setdefault(match.id, match)
        pairs: dict[int, set[tuple[int, int]]] = defaultdict(set)  # record -> {(query frame, frame)}
        for q, frame in enumerate(query.frames):
            if len(frame.pdq):
                result = self.video_pdq.search(frame.pdq, PdqSignal.threshold)
                for entry in result.ids:
                    pairs[int(entry) >> _SLOT_BITS].add((q, int(entry) & _SLOT_MASK))
            for features in frame.local_sets:
                if not len(features):
                    continue
                for number, frame_index in self._video_local_hits(features):
                    pairs[number].add((q, frame_index))
        for number, matched in pairs.items():
            record = self._records[number]
            if record is None or record.video is None:
                continue
            coverage = _video_coverage(matched, query.times, record.video.frames)
            if coverage is not None:
                found.setdefault(record.id, Match(record.id, "video", coverage=round(coverage, 3)))
        return _ranked(found.values())

    def _video_local_hits(self, features: local.LocalFeatures) -> list[tuple[int, int]]:
        result = self.video_local.search(features.descriptors, local.DESCRIPTOR_RADIUS)
        keys = result.ids >> _FEATURE_BITS  # record and frame slot
        hits = []
        for key in np.unique(keys):
            pick = keys == key
            if pick.sum() < VIDEO_FRAME_MIN_INLIERS:
                continue
            number, slot = int(key) >> (_SLOT_BITS - _FEATURE_BITS), int(key) & ((1 << 16) - 1)
            record = self._records[number]
            if record is None or record.video is None:
                continue
            frame_index = int(self._frame_of_slot[number][slot])
            reference_features = record.video.frames[frame_index].local
            assert reference_features is not None
            reference = reference_features.points[result.ids[pick] & ((1 << _FEATURE_BITS) - 1)]
            if local.verify(features.points[result.query_index[pick]], reference) >= VIDEO_FRAME_MIN_INLIERS:
                hits.append((number, frame_index))
        return hits


def _video_coverage(matched: set[tuple[int, int]], query_times: np.ndarray, frames: list) -> float | None:
    """Coverage of the best time alignment of matched frames, or None when it is too thin."""
    reference_times = np.array([f.t for f in frames])
    offsets = np.array([query_times[q] - reference_times[r] for q, r in matched])
    best_q: set[int] = set()
    best_r: set[int] = set()
    for offset in np.unique(np.round(offsets)):
        agree = [
            (q, r)
            for (q, r), o in zip(matched, offsets, strict=True)
            if abs(o - offset) <= VIDEO_OFFSET_TOLERANCE
        ]
        qs, rs = {q for q, _ in agree}, {r for _, r in agree}
        if len(qs) > len(best_q):
            best_q, best_r = qs, rs
    # A frame too flat for PDQ and too smooth for corners (a fade, a blurred close-up) can match
    # nothing; a short video is judged on the frames it has that can.
    usable = sum(
        1
        for f in frames
        if f.quality >= PDQ_QUALITY_GATE or (f.local is not None and len(f.local) >= _USABLE_FEATURES)
    )
    needed = min(VIDEO_MIN_FRAMES, len(query_times), max(1, usable))
    if len(best_q) < needed:
        return None
    coverage = max(len(best_q) / max(1, len(query_times)), len(best_r) / max(1, usable))
    return coverage if coverage >= VIDEO_MIN_COVERAGE else None


def _ranked(matches: Iterable[Match]) -> list[Match]:
    order = {"sha256": 0, "md5": 1, "pdq": 2, "video": 3, "local": 4}
    return sorted(matches, key=lambda m: (order[m.signal], m.distance or 0, -(m.inliers or 0), m.id))
