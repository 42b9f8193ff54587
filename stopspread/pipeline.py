"""Files in, list records and queries out: the edge where decoding meets fingerprinting."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from stopspread.errors import StopspreadError, UnsupportedMediaError
from stopspread.fingerprint import (
    IMAGE_MIN_SIDE,
    VIDEO_FPS,
    VIDEO_MIN_SIDE,
    FileDigests,
    ImageQuery,
    VideoQuery,
    fingerprint_image,
    fingerprint_video,
    image_query,
    video_query,
)
from stopspread.media import load_luma, sample_frames, sniff_kind
from stopspread.records import ListRecord


def file_digests(path: Path) -> FileDigests:
    md5, sha = hashlib.md5(), hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            md5.update(chunk)
            sha.update(chunk)
    return FileDigests(md5.hexdigest(), sha.hexdigest())


def media_kind(path: Path) -> str:
    """ "image" or "video" by the file's content, whatever its name says."""
    if not path.is_file():
        raise StopspreadError(f"{path}: no such file")
    kind = sniff_kind(path)
    if kind is None:
        raise UnsupportedMediaError(f"{path.name}: not an image or video stopspread can read")
    return kind


def decode_image(path: Path) -> np.ndarray:
    return load_luma(path, min_side=IMAGE_MIN_SIDE).luma


# Decoders per video (sample_frames' ``decoders``). Two let one file use two cores: on the
# shared videos a file takes ~25 % less wall time, for ~10 % more CPU time (threads of one
# process running at once cost more than the same work in turn). Where files already run one
# per core (the CLI's worker processes) that only costs throughput, so those set 1.
VIDEO_DECODERS = 2


def video_frames(path: Path, decoders: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """The sampled (time, luma) frames of a video, decoded while the caller works on them.

    No FFmpeg frame threads: they spend ~12 % more CPU per video-minute than one decoding
    thread, and they are flushed at every jump to a keyframe.
    """
    decoders = VIDEO_DECODERS if decoders is None else decoders
    frames = sample_frames(path, fps=VIDEO_FPS, min_side=VIDEO_MIN_SIDE, threads=1, decoders=decoders)
    return ((f.timestamp, f.luma) for f in frames)


def decode_video(path: Path) -> list[tuple[float, np.ndarray]]:
    return list(video_frames(path))


def hash_file(path: Path, record_id: str | None = None) -> ListRecord:
    """The list record of an original file (its id defaults to the path as given)."""
    kind = media_kind(path)
    digests = file_digests(path)
    record_id = str(path) if record_id is None else record_id
    if kind == "image":
        return ListRecord(
            record_id,
            kind,
            digests.md5,
            digests.sha256,
            image=fingerprint_image(decode_image(path)),
        )
    return ListRecord(
        record_id, kind, digests.md5, digests.sha256, video=fingerprint_video(video_frames(path))
    )


def query_file(path: Path) -> tuple[str, ImageQuery | VideoQuery, FileDigests]:
    """What a scanned file is searched with: its kind, its query signals and its digests."""
    kind = media_kind(path)
    digests = file_digests(path)
    query = image_query(decode_image(path)) if kind == "image" else video_query(video_frames(path))
    return kind, query, digests
