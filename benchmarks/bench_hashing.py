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

The methods take turns, pass after pass, so that load from other jobs on a shared machine hits
them alike; each keeps its median pass. Both wall time and this process's CPU time (all its
threads) are reported: CPU time is the steadier figure when the machine is shared.
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

SHARED = Path(os.environ.get("STOPSPREAD_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared"))


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


def _time(
    fns: dict[str, Callable[[Path], object]], files: list[Path], repeat: int
) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds per file of each method, the methods taking turns pass by pass.

    Each method is warmed up on the first file first. A method whose import fails is left out.
    """
    ready = {}
    for name, fn in fns.items():
        try:
            fn(files[0])
        except ImportError:
            print(f"{name}: not installed, skipped", file=sys.stderr)
            continue
        ready[name] = fn
    passes: dict[str, list[tuple[float, float]]] = {name: [] for name in ready}
    for _ in range(repeat):
        for name, fn in ready.items():
            wall, cpu = time.perf_counter(), time.process_time()
            for path in files:
                fn(path)
            passes[name].append(
                ((time.perf_counter() - wall) / len(files), (time.process_time() - cpu) / len(files))
            )
    return {
        name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
        for name, runs in passes.items()
    }


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
    parser.add_argument("--repeat", type=int, default=3, help="passes per method (median kept)")
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
    rows: list[tuple[str, str, float, float]] = []
    available = {name: fn for name, fn in peers.items() if fn is not None}
    for name in peers.keys() - available.keys():
        print(f"{name}: not installed, skipped", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        big = []
        for i, path in enumerate(photos):
            target = Path(tmp) / f"phone_{i:03d}.jpg"
            Image.open(path).convert("RGB").resize((4032, 3024), Image.Resampling.BICUBIC).save(
                target, quality=90
            )
            big.append(target)
        for label, files in (("12-MP JPEG (4032x3024)", big), ("1600-px JPEG", photos)):
            for name, (wall, cpu) in _time(available, files, args.repeat).items():
                rows.append((label, name, wall, cpu))
                print(
                    f"{label:24} {name:42} {1 / wall:8.1f} images/s, {1000 * cpu:6.1f} CPU ms",
                    file=sys.stderr,
                )

    minutes = sum(_video_seconds(v) for v in videos) / 60
    video_rows = []
    timed = _time(
        {"stopspread, 1 frame/s (original)": lambda p: hash_file(p), "vpdq, 1 hash/s": _vpdq},
        videos,
        args.repeat,
    )
    for name, (wall, cpu) in timed.items():
        video_rows.append((name, minutes / (wall * len(videos)), minutes / (cpu * len(videos))))
        print(f"video {name:40} {video_rows[-1][1]:8.2f} video-min/s", file=sys.stderr)

    report = _report(rows, video_rows, minutes, " ".join(sys.argv))
    print(report)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(report)


def _report(
    rows: list[tuple[str, str, float, float]],
    video_rows: list[tuple[str, float, float]],
    minutes: float,
    command: str,
) -> str:
    lines = [f"Command: `python {command}` (one process, one file at a time)", ""]
    lines += [
        "| photos | method | ms / image | images/s | stopspread (original) speed-up "
        "| CPU ms / image | CPU speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for label in dict.fromkeys(label for label, _, _, _ in rows):
        ours = next((w, c) for lab, n, w, c in rows if lab == label and n.startswith("stopspread (original"))
        for lab, name, wall, cpu in rows:
            if lab == label:
                lines.append(
                    f"| {label} | {name} | {1000 * wall:.1f} | {1 / wall:.1f} | {wall / ours[0]:.1f}x "
                    f"| {1000 * cpu:.1f} | {cpu / ours[1]:.1f}x |"
                )
    if video_rows:
        lines += [
            "",
            f"Videos: the {minutes:.1f} minutes of shared videos.",
            "",
            "| method | video-minutes / s | ratio to vpdq | video-minutes / CPU s | CPU ratio to vpdq |",
            "|---|---|---|---|---|",
        ]
        vpdq = next(((w, c) for name, w, c in video_rows if name.startswith("vpdq")), None)
        for name, wall_rate, cpu_rate in video_rows:
            ratios = (f"{wall_rate / vpdq[0]:.1f}x", f"{cpu_rate / vpdq[1]:.1f}x") if vpdq else ("–", "–")
            lines.append(f"| {name} | {wall_rate:.2f} | {ratios[0]} | {cpu_rate:.2f} | {ratios[1]} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
