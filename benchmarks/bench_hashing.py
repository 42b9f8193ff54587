"""Hashing speed: stopspread beside pdqhash (full decode), imagehash.phash, perception and vpdq.

    python benchmarks/bench_hashing.py [--images 20] [--markdown benchmarks/results/hashing.md]

Everything runs in this one process on one core, one file at a time, on the same files:
- 12-MP phone JPEGs (4032x3024, q90), made in a temporary folder by upscaling shared photos;
- the shared 1600-px JPEGs;
- the shared videos (stopspread at one frame a second against vpdq at one hash a second,
  vpdq limited to one thread).
stopspread's time includes *every* fingerprint the product sends for an original (file digests,
PDQ of the picture and of a screenshot's inner picture, local features); its query-side time
(eight PDQ variants, local features of the picture and its mirror) is shown as well.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from stopspread.pipeline import hash_file, query_file

SHARED = Path(
    os.environ.get("STOPSPREAD_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared")
)


def _pdqhash_full(path: Path) -> None:
    import pdqhash

    pdqhash.compute(np.asarray(Image.open(path).convert("RGB")))


def _imagehash_phash(path: Path) -> None:
    import imagehash

    imagehash.phash(Image.open(path))


def _perception(name: str) -> Callable[[Path], None] | None:
    try:
        from perception import hashers
    except ImportError:
        return None
    hasher = getattr(hashers, name)()
    return lambda path: hasher.compute(str(path))


def _vpdq(path: Path) -> None:
    import vpdq

    vpdq.computeHash(str(path), seconds_per_hash=1, thread_count=1)


def _time(fn: Callable[[Path], object], files: list[Path], repeat: int = 1) -> float:
    """Median seconds per file over ``repeat`` passes (the first file is warmed up first)."""
    fn(files[0])
    passes = []
    for _ in range(repeat):
        start = time.perf_counter()
        for path in files:
            fn(path)
        passes.append((time.perf_counter() - start) / len(files))
    return statistics.median(passes)


def _video_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        return float(container.duration or 0) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=20, help="photos per size class")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()

    photos = sorted((SHARED / "data" / "media" / "images").glob("*.jpg"))[: args.images]
    videos = sorted((SHARED / "data" / "media" / "videos").glob("*.mp4"))
    peers: dict[str, Callable[[Path], object] | None] = {
        "stopspread (original: all fingerprints)": lambda p: hash_file(p),
        "stopspread (query: all signals)": lambda p: query_file(p),
        "pdqhash, full Pillow decode": _pdqhash_full,
        "imagehash.phash": _imagehash_phash,
        "perception PHash": _perception("PHash"),
        "perception PDQHash": _perception("PDQHash"),
    }
    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        big = []
        for i, path in enumerate(photos):
            target = Path(tmp) / f"phone_{i:03d}.jpg"
            Image.open(path).convert("RGB").resize((4032, 3024), Image.Resampling.BICUBIC).save(
                target, quality=90
            )
            big.append(target)
        for label, files in (("12-MP JPEG (4032x3024)", big), ("1600-px JPEG", photos)):
            for name, fn in peers.items():
                if fn is None:
                    print(f"{name}: not installed, skipped", file=sys.stderr)
                    continue
                seconds = _time(fn, files, repeat=3)
                rows.append((label, name, seconds))
                print(f"{label:24} {name:42} {1 / seconds:8.1f} images/s", file=sys.stderr)

    minutes = sum(_video_seconds(v) for v in videos) / 60
    video_rows = []
    for name, fn in (
        ("stopspread, 1 frame/s (original)", lambda p: hash_file(p)),
        ("vpdq, 1 hash/s", _vpdq),
    ):
        try:
            seconds = _time(fn, videos) * len(videos)
        except ImportError:
            print(f"{name}: not installed, skipped", file=sys.stderr)
            continue
        video_rows.append((name, minutes / seconds))
        print(f"video {name:40} {minutes / seconds:8.2f} video-min/s", file=sys.stderr)

    report = _report(rows, video_rows, minutes, " ".join(sys.argv))
    print(report)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(report)


def _report(
    rows: list[tuple[str, str, float]],
    video_rows: list[tuple[str, float]],
    minutes: float,
    command: str,
) -> str:
    lines = [f"Command: `python {command}` (one process, one core)", ""]
    lines += [
        "| photos | method | ms / image | images/s | stopspread (original) speed-up |",
        "|---|---|---|---|---|",
    ]
    for label in dict.fromkeys(label for label, _, _ in rows):
        ours = next(
            s for lab, n, s in rows if lab == label and n.startswith("stopspread (original")
        )
        for lab, name, seconds in rows:
            if lab == label:
                lines.append(
                    f"| {label} | {name} | {1000 * seconds:.1f} | {1 / seconds:.1f} | {seconds / ours:.1f}x |"
                )
    if video_rows:
        lines += [
            "",
            f"Videos: the {minutes:.1f} minutes of shared videos.",
            "",
            "| method | video-minutes / s | ratio to vpdq |",
            "|---|---|---|",
        ]
        vpdq = next((rate for name, rate in video_rows if name.startswith("vpdq")), None)
        for name, rate in video_rows:
            ratio = f"{rate / vpdq:.1f}x" if vpdq else "–"
            lines.append(f"| {name} | {rate:.2f} | {ratio} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
