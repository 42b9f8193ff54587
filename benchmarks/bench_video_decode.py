"""Video sampling strategies vs Meta's vpdq, on the shared test videos.

    python benchmarks/bench_video_decode.py [--repeat 3] [--fps 1] [VIDEO ...]

For each strategy: video-seconds handled per wall-second and per CPU-second (the machine may
be shared: CPU seconds are the steadier figure, and the one that counts when many files are
hashed in parallel), frames produced, the widest gap between consecutive samples, and how many
sampled frames differ from the same frame in a full decode. Each strategy's best of --repeat
runs is kept, runs are interleaved so background load hits all of them alike. If ``vpdq`` is
installed, ``vpdq.computeHash(path, seconds_per_hash=1)`` runs on the same files in the same
run; it decodes every frame and hashes one per second, so its numbers include PDQ hashing, as
do those of the "sample_frames + pdqhash" row (when pdqhash is installed); the others stop at
luma.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stopspread.media import probe_video, sample_frames

SHARED = Path(os.environ.get("STOPSPREAD_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared"))
MIN_SIDE = 256

Sample = tuple[float, np.ndarray]
Strategy = Callable[[Path, float], list[Sample]]


def _small(frame: Any) -> np.ndarray:
    scale = min(1.0, MIN_SIDE / min(frame.width, frame.height))
    return frame.reformat(
        width=max(1, round(frame.width * scale)),
        height=max(1, round(frame.height * scale)),
        format="gray",
        interpolation="AREA",
    ).to_ndarray()


def _grid(frames: Iterator[Any], tb: float, fps: float) -> list[Sample]:
    """First frame at or after each k/fps, as every sequential strategy samples."""
    out: list[Sample] = []
    next_t = 0.0
    for frame in frames:
        t = frame.pts * tb
        if t + 1e-6 >= next_t:
            out.append((t, _small(frame)))
            while next_t <= t + 1e-6:
                next_t += 1.0 / fps
    return out


def _sequential(skip: str, threads: str = "AUTO", options: dict[str, str] | None = None) -> Strategy:
    def run(path: Path, fps: float) -> list[Sample]:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            ctx = stream.codec_context
            ctx.thread_type = threads
            ctx.thread_count = 1 if threads == "SLICE" else 0
            if options:
                ctx.options = dict(options)
            ctx.skip_frame = skip
            return _grid(container.decode(stream), float(stream.time_base), fps)

    return run


def _seek_each(path: Path, fps: float) -> list[Sample]:
    """Seek to the keyframe before each target, decode forward to it."""
    out: list[Sample] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        ctx.thread_type = "AUTO"
        ctx.skip_frame = "NONREF"
        tb = float(stream.time_base)
        duration = float(stream.duration * stream.time_base)
        for k in range(int(duration * fps - 1e-9) + 1):
            target = k / fps
            container.seek(round(target / tb), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.pts * tb + 1e-6 >= target:
                    out.append((frame.pts * tb, _small(frame)))
                    break
    return out


def _ours(threads: int) -> Strategy:
    def run(path: Path, fps: float) -> list[Sample]:
        return [(f.timestamp, f.luma) for f in sample_frames(path, fps=fps, threads=threads)]

    return run


def _ours_hashed(path: Path, fps: float) -> list[Sample]:
    """sample_frames plus a PDQ hash of every sample: the same work vpdq does."""
    import pdqhash  # type: ignore[import-not-found]

    out = []
    for f in sample_frames(path, fps=fps):
        grey = np.rint(f.luma).astype(np.uint8)
        pdqhash.compute(np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2)))
        out.append((f.timestamp, f.luma))
    return out


STRATEGIES: dict[str, Strategy] = {
    "all frames (like vpdq)": _sequential("DEFAULT"),
    "keyframes only (NONKEY)": _sequential("NONKEY"),
    "skip non-ref (NONREF)": _sequential("NONREF"),
    "NONREF + no deblocking": _sequential("NONREF", options={"skip_loop_filter": "all"}),
    "seek to each sample": _seek_each,
    "sample_frames threads=1": _ours(1),
    "sample_frames (default)": _ours(0),
}
try:
    import pdqhash  # type: ignore[import-not-found]  # noqa: F401

    STRATEGIES["sample_frames + pdqhash"] = _ours_hashed
except ImportError:
    pass
# Strategies whose pixels are not a plain decode of the sampled frame (reported, not chosen).
INEXACT = {"NONREF + no deblocking"}


def _reference(path: Path) -> dict[float, np.ndarray]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        tb = float(stream.time_base)
        start = stream.start_time or 0
        return {round((f.pts - start) * tb, 3): _small(f) for f in container.decode(stream)}


def _time(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--only", help="run only strategies whose name contains this text")
    args = parser.parse_args()
    videos = args.videos or sorted((SHARED / "data" / "media" / "videos").glob("*.mp4"))
    if not videos:
        sys.exit("no videos: pass paths or set STOPSPREAD_SHARED")
    durations = {p: probe_video(p).duration for p in videos}
    total = sum(durations.values())
    print(f"{len(videos)} videos, {total:.1f} s of video, load average {os.getloadavg()[0]:.1f}")

    try:
        import vpdq  # type: ignore[import-not-found]
    except ImportError:
        vpdq = None
        print("vpdq not installed: no comparison (pip install vpdq)")

    runners: dict[str, Callable[[Path], Any]] = {
        name: (lambda p, s=strategy: s(p, args.fps)) for name, strategy in STRATEGIES.items()
    }
    if args.only:
        runners = {k: v for k, v in runners.items() if args.only.lower() in k.lower()}
    if vpdq is not None:
        runners["vpdq.computeHash"] = lambda p: vpdq.computeHash(str(p), seconds_per_hash=1)

    best: dict[str, tuple[float, float]] = {}
    outputs: dict[str, dict[Path, Any]] = {name: {} for name in runners}
    for _ in range(args.repeat):
        for name, run in runners.items():
            wall = cpu = 0.0
            for path in videos:
                w, c, result = _time(lambda run=run, path=path: run(path))
                wall, cpu = wall + w, cpu + c
                outputs[name][path] = result
            old = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(old[0], wall), min(old[1], cpu))

    references = {p: _reference(p) for p in videos}
    base = best.get("vpdq.computeHash")
    header = (
        f"{'strategy':26s} {'wall s':>7s} {'cpu s':>7s} {'vs/wall-s':>9s} {'vs/cpu-s':>9s} "
        f"{'frames':>6s} {'max gap':>7s} {'differ':>6s}"
    )
    if base:
        header += f" {'x vpdq wall':>11s} {'x vpdq cpu':>10s}"
    print(header)
    for name in runners:
        wall, cpu = best[name]
        if name == "vpdq.computeHash":
            frames = sum(len(r) for r in outputs[name].values())
            gap, differ = 1.0, "-"
        else:
            frames, gap, bad = 0, 0.0, 0
            for path, samples in outputs[name].items():
                times = [t for t, _ in samples] + [durations[path]]
                frames += len(samples)
                gap = max(gap, *(b - a for a, b in itertools.pairwise(times)))
                ref = references[path]
                for t, luma in samples:
                    expect = ref.get(round(t, 3))
                    if expect is None or expect.shape != luma.shape or np.any(expect != luma):
                        bad += 1
            differ = str(bad)
        line = (
            f"{name:26s} {wall:7.2f} {cpu:7.2f} {total / wall:9.1f} {total / cpu:9.1f} "
            f"{frames:6d} {gap:7.2f} {differ:>6s}"
        )
        if base:
            line += f" {base[0] / wall:11.2f} {base[1] / cpu:10.2f}"
        print(line)
    print("max gap: widest interval between samples (or to the end), seconds.")
    print("differ: samples not identical to the same frame from a full decode.")


if __name__ == "__main__":
    main()
