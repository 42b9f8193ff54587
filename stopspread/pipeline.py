"""Files in, list records and queries out: the edge where decoding meets fingerprinting."""

from __future__ import annotations

import hashlib
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


def decode_video(path: Path) -> list[tuple[float, np.ndarray]]:
    # One decoding thread: files are hashed one per core (the CLI's --jobs), and FFmpeg's frame
    # threads spend ~12 % more CPU per video-minute than decoding on the calling thread.
    frames = sample_frames(path, fps=VIDEO_FPS, min_side=VIDEO_MIN_SIDE, threads=1)
    return [(f.timestamp, f.luma) for f in frames]


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
        record_id, kind, digests.md5, digests.sha256, video=fingerprint_video(decode_video(path))
    )


def query_file(path: Path) -> tuple[str, ImageQuery | VideoQuery, FileDigests]:
    """What a scanned file is searched with: its kind, its query signals and its digests."""
    kind = media_kind(path)
    digests = file_digests(path)
    query = image_query(decode_image(path)) if kind == "image" else video_query(decode_video(path))
    return kind, query, digests
