"""Sample a video at about one frame per second, decoding as little of it as possible.

Why this is faster than decoding every frame (what vpdq does), with the same sampled pixels:

* Sampling targets are laid on a regular grid (``k / fps`` seconds) and planned against the
  keyframe positions, read from the MP4 sample index for free or from one demux-only pass (no
  decoding) for other containers.
* A target within half a sampling interval of a keyframe takes the keyframe itself, so
  short-GOP videos (phones, most platforms: a keyframe every 1-2 s) decode little more than their
  keyframes: in a GOP where only the keyframe is wanted, the other pictures are parsed but not
  decoded (``skip_frame = NONKEY``, switched per GOP).
* Once the last target served by a GOP is out, the rest of that GOP is dropped before it reaches
  the decoder; decoding resumes at the keyframe of the next GOP that holds a target.
* Frames that nothing references (most B-frames) are skipped inside the decoder
  (``skip_frame = NONREF``) when sampling is much sparser than the frame rate: the sample then
  comes from the nearest reference frame at or after the target, a few frames away at most.
* Each sample is converted by libswscale straight to a small greyscale image (area filter)
  instead of to a full-size RGB array. FFmpeg's frame threads are used only for long GOPs.

Nothing here lowers decoding accuracy (no skipped loop filter or IDCT): a sampled frame is
bit-identical to the same frame from a full decode.
"""

from __future__ import annotations

import bisect
import io
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

from stopspread.errors import MediaError, MediaLimitError, UnsupportedMediaError
from stopspread.media.limits import (
    DEFAULT_LIMITS,
    MediaLimits,
    Source,
    describe,
    read_head,
    read_source,
    source_size,
)
from stopspread.media.sniff import HEAD_BYTES, kind_of, sniff_format

# FFmpeg demuxers we let parse untrusted files (its names, comma-separated for families). Others,
# e.g. playlist or concat demuxers that open further files or URLs, are refused outright.
_ALLOWED_DEMUXERS: Final = frozenset(
    {"mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm", "avi", "mpegts", "mpeg"}
    | {"flv", "asf", "ogg"}
)
_EPS: Final = 1e-6
# Decoding fails on single damaged packets in otherwise fine files; give up only on a long run.
_MAX_CONSECUTIVE_ERRORS: Final = 50
# Below this many seconds of decoding per keyframe visited, frame threads lose more to the frames
# in flight at each jump than they gain (measured on 1-, 2- and 10-s GOPs, 2 cores).
_FRAME_THREADS_MIN_SPAN: Final = 3.0


@dataclass(frozen=True)
class VideoInfo:
    """Basic facts about the first video stream. ``width``/``height`` are as displayed (after
    rotation and non-square pixels); ``rotation`` is the display-matrix angle, counter-clockwise,
    rounded to 0, 90, 180 or 270 (what ``sample_frames`` undoes).
    """

    duration: float
    width: int
    height: int
    fps: float
    codec: str
    rotation: int = 0


@dataclass(frozen=True, eq=False)
class VideoFrame:
    """One sample: seconds since the start of the stream, and upright float32 luma (0..255)."""

    timestamp: float
    luma: np.ndarray


@dataclass(frozen=True)
class _Need:
    """A sampling target: served by the first decoded frame at or after ``threshold`` seconds.

    ``anchor`` is the keyframe time decoding must start from to reach it, None when keyframes
    are unknown (then nothing is ever dropped).
    """

    threshold: float
    anchor: float | None
    key: bool = False  # served by the anchor keyframe itself


class _Clock:
    def __init__(self, name: str, limits: MediaLimits) -> None:
        self.name = name
        self.budget = limits.max_decode_seconds
        self.deadline = time.monotonic() + limits.max_decode_seconds

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise MediaLimitError(f"{self.name}: decoding stopped after the limit of {self.budget:g} s")


def _reason(exc: BaseException) -> str:
    # FFmpeg errors carry "[Errno -1094995529] ... '<none>'"; their strerror is the useful part.
    strerror = getattr(exc, "strerror", None)
    text = (strerror if isinstance(strerror, str) and strerror else str(exc)).strip()
    text = text or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "..."


class _Video:
    """An opened, checked container with its first real video stream."""

    def __init__(self, source: Source, limits: MediaLimits, clock: _Clock) -> None:
        self.name = describe(source)
        self.source = source
        self.limits = limits
        self.clock = clock
        if isinstance(source, bytes | bytearray | memoryview):
            self._data: bytes | None = read_source(source, limits)
        else:
            source_size(source, None)  # streamed from disk: duration and time bound the work
            self._data = None
        fmt = sniff_format(read_head(self._data if self._data is not None else source, HEAD_BYTES))
        kind = kind_of(fmt)
        if kind == "image":
            raise UnsupportedMediaError(
                f"{self.name}: this is an image ({fmt}), not a video; use load_luma() for images"
            )
        if kind != "video":
            raise UnsupportedMediaError(f"{self.name}: not a recognised video format (checked file content)")
        self.container = self._open()
        try:
            self._inspect()
        except BaseException:
            self.container.close()
            raise

    def _open(self) -> Any:
        target: Any = io.BytesIO(self._data) if self._data is not None else str(self.source)
        try:
            container = av.open(target, mode="r", metadata_errors="ignore")
        except av.error.FFmpegError as exc:
            raise MediaError(f"{self.name}: cannot open video ({_reason(exc)})") from None
        except (OSError, ValueError) as exc:
            raise MediaError(f"{self.name}: cannot open video ({_reason(exc)})") from None
        names = set(container.format.name.split(","))
        if not names & _ALLOWED_DEMUXERS:
            container.close()
            raise UnsupportedMediaError(
                f"{self.name}: container format {container.format.name!r} is not accepted"
            )
        return container

    def _inspect(self) -> None:
        streams = [
            s
            for s in self.container.streams.video
            if not (int(s.disposition) & int(av.stream.Disposition.attached_pic))
        ]
        if not streams:
            raise MediaError(f"{self.name}: file has no video stream")
        self.stream_index = streams[0].index
        stream = streams[0]
        ctx = stream.codec_context
        if ctx is None or not ctx.codec:
            raise MediaError(f"{self.name}: no decoder for this video codec")
        self.codec = ctx.codec.name
        self.width, self.height = int(ctx.width or 0), int(ctx.height or 0)
        if self.width <= 0 or self.height <= 0:
            raise MediaError(f"{self.name}: video stream has no picture size")
        self.limits.check_pixels(self.width, self.height, self.name)
        sar = stream.sample_aspect_ratio or ctx.sample_aspect_ratio
        self.sar = float(sar) if sar and 0.1 < float(sar) < 10 else 1.0
        self.time_base = stream.time_base or Fraction(1, 1_000_000)
        self.tb = float(self.time_base)
        self.start_pts = stream.start_time if stream.start_time is not None else None
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps = float(rate) if rate and 0 < float(rate) < 1000 else 0.0
        if stream.duration:
            self.duration: float | None = float(stream.duration * self.time_base)
        elif self.container.duration:
            self.duration = self.container.duration / av.time_base
        else:
            self.duration = None
        self.keyframes: list[float] | None = None
        self._keyframes_from_index(stream)

    @property
    def stream(self) -> Any:
        return self.container.streams[self.stream_index]

    def seconds(self, pts: int) -> float:
        return (pts - (self.start_pts or 0)) * self.tb

    def _keyframes_from_index(self, stream: Any) -> None:
        # MP4/MOV carry a full sample table: keyframe positions come for free, but as decode
        # timestamps. Shift them so the first sample lands on the stream's first presentation
        # time; the residue (B-frame reordering) is a frame or two, absorbed by `_slack`.
        if "mov" not in self.container.format.name.split(","):
            return
        entries = stream.index_entries
        count = len(entries)
        if count == 0 or (stream.frames and count < 0.9 * stream.frames):
            return  # fragmented MP4 indexes only part of the file
        first = entries[0].timestamp
        shift = (self.start_pts - first) if self.start_pts is not None else 0
        origin = self.start_pts if self.start_pts is not None else first
        self.keyframes = [
            float((e.timestamp + shift - origin) * self.time_base) for e in entries if e.is_keyframe
        ]
        if self.start_pts is None:
            self.start_pts = first

    def scan(self) -> None:
        """Demux-only pass (no decoding) for keyframe times and, if unknown, the duration."""
        key_pts: list[int] = []
        first_pts: int | None = None
        end_pts: int | None = None
        try:
            for packet in self.container.demux(self.stream):
                self.clock.check()
                pts = packet.pts
                if pts is None or packet.size == 0:
                    continue
                if packet.is_keyframe:
                    key_pts.append(pts)
                first_pts = pts if first_pts is None else min(first_pts, pts)
                end = pts + (packet.duration or 0)
                end_pts = end if end_pts is None else max(end_pts, end)
        except av.error.FFmpegError:
            pass  # a damaged tail: plan with what was readable, decoding will report the rest
        self.container.close()
        if self.start_pts is None:
            self.start_pts = first_pts
        self.keyframes = sorted(self.seconds(pts) for pts in key_pts) or None
        if self.duration is None and end_pts is not None:
            self.duration = self.seconds(end_pts)
        self.container = self._open()

    def rotation(self) -> int:
        """Display rotation, from the first decodable keyframe (FFmpeg puts it on frames)."""
        stream = self.stream
        ctx = stream.codec_context
        ctx.skip_frame = "NONKEY"
        _guard_decoder(ctx, self.limits)
        try:
            for packet in self.container.demux(stream):
                self.clock.check()
                for frame in _decode_packet(packet, self.name):
                    return _rot90_count(frame.rotation or 0) * 90
        except MediaError:
            return 0
        return 0

    def close(self) -> None:
        self.container.close()


def _guard_decoder(ctx: Any, limits: MediaLimits) -> None:
    # The header check covers the declared size; this makes FFmpeg itself refuse a picture that
    # grows past the limit mid-stream (a new SPS), before allocating it.
    ctx.options = {**ctx.options, "max_pixels": str(limits.max_pixels)}


def _decode_packet(packet: Any, name: str) -> list[Any]:
    try:
        return packet.decode()
    except av.error.InvalidDataError:
        raise
    except av.error.FFmpegError as exc:
        raise MediaError(f"{name}: video decoding failed ({_reason(exc)})") from None


def _rot90_count(rotation: float) -> int:
    return round(rotation / 90.0) % 4


def _display_size(width: int, height: int, sar: float, rotation: int) -> tuple[int, int]:
    w, h = max(1, round(width * sar)), height
    return (h, w) if _rot90_count(rotation) % 2 else (w, h)


def _plan(duration: float, fps: float, keyframes: list[float] | None) -> list[_Need]:
    count = max(1, math.floor(duration * fps - 1e-9) + 1)
    targets = [k / fps for k in range(count)]
    if not keyframes:
        return [_Need(t, None) for t in targets]
    tolerance = 0.5 / fps
    needs: list[_Need] = []
    for t in targets:
        j = max(bisect.bisect_right(keyframes, t + _EPS) - 1, 0)
        nearest = min(range(j, min(j + 2, len(keyframes))), key=lambda i: abs(keyframes[i] - t))
        if abs(keyframes[nearest] - t) <= tolerance:
            key = keyframes[nearest]
            if needs and needs[-1].anchor == key and needs[-1].threshold <= key:
                continue  # two targets snapped to one keyframe: sample it once
            needs.append(_Need(key, key, key=True))
        else:
            needs.append(_Need(t, keyframes[j]))
    return needs


def _decode_span(needs: list[_Need]) -> float:
    """Mean seconds decoded per keyframe visited (from the keyframe to its last target)."""
    spans: dict[float, float] = {}
    for need in needs:
        if need.anchor is None:
            return math.inf  # no keyframe plan: one long sequential decode
        spans[need.anchor] = max(spans.get(need.anchor, 0.0), need.threshold - need.anchor)
    return sum(spans.values()) / len(spans)


def _keyframe_suffices(needs: list[_Need], i: int, at: float, slack: float) -> bool:
    """True if, of the GOP starting at the keyframe at ``at``, only that keyframe is wanted."""
    wanted_here = False
    for need in needs[i:]:
        if need.anchor is None or need.anchor > at + slack:
            break
        if abs(need.anchor - at) <= slack:
            if not need.key:
                return False
            wanted_here = True
        elif not need.key and need.threshold >= at - slack:
            return False  # a target of an earlier GOP reaches into this one
    return wanted_here


def _slack(keyframes: list[float] | None, fps: float) -> float:
    # How early a keyframe packet may be and still count as the planned one: covers the DTS/PTS
    # residue of index-derived times, without resuming at an earlier keyframe of an all-intra
    # stream.
    gaps = [b - a for a, b in zip(keyframes or [], (keyframes or [])[1:], strict=False) if b > a]
    return min(0.25, 0.5 / fps, 0.5 * min(gaps, default=1.0))


def _luma(frame: Any, min_side: int, sar: float, scaler: VideoReformatter) -> np.ndarray:
    width, height = frame.width, frame.height
    disp_w = width * sar
    scale = min(1.0, min_side / min(disp_w, height))
    out_w, out_h = max(1, round(disp_w * scale)), max(1, round(height * scale))
    if (out_w, out_h) == (width, height) and frame.format.name == "gray":
        gray = frame.to_ndarray()
    else:
        # libswscale does scaling and YUV->grey in one pass on the small output; "gray" is
        # BT.601 luma expanded to full range, what PDQ computes from RGB.
        # One reformatter per video keeps libswscale's context (filter tables) across samples;
        # frame.reformat() would rebuild it every time, 3x the cost of the conversion itself.
        gray = scaler.reformat(
            frame, width=out_w, height=out_h, format="gray", interpolation="AREA"
        ).to_ndarray()
    turns = _rot90_count(frame.rotation or 0)
    if turns:
        gray = np.rot90(gray, turns)
    return np.ascontiguousarray(gray, dtype=np.float32)


def probe_video(source: Source, *, limits: MediaLimits = DEFAULT_LIMITS) -> VideoInfo:
    """Duration, displayed size, frame rate and codec of the first video stream.

    Reads the container header, plus a demux-only pass when the container does not state a
    duration, and decodes one keyframe to learn the display rotation.
    """
    clock = _Clock(describe(source), limits)
    video = _Video(source, limits, clock)
    try:
        if video.duration is None:
            video.scan()
        rotation = video.rotation()
        width, height = _display_size(video.width, video.height, video.sar, rotation)
        return VideoInfo(
            duration=video.duration or 0.0,
            width=width,
            height=height,
            fps=video.fps,
            codec=video.codec,
            rotation=rotation,
        )
    finally:
        video.close()


def sample_frames(
    source: Source,
    *,
    fps: float = 1.0,
    min_side: int = 256,
    limits: MediaLimits = DEFAULT_LIMITS,
    threads: int = 0,
) -> Iterator[VideoFrame]:
    """Yield about ``fps`` frames per second of video, in timestamp order, as small luma.

    One frame is yielded per target time ``k / fps`` (k = 0, 1, ...) up to the duration: the
    first frame at or after the target, or the keyframe when one lies within half an interval.
    Targets that one frame serves (frames rarer than targets) yield it once. ``luma`` is upright
    (rotation metadata applied), short side ``min_side`` (never enlarged).

    ``threads``: 1 decodes on the calling thread only, the better choice when the caller already
    runs several files in parallel; N > 1 uses N frame+slice decoding threads; 0 (default)
    chooses: frame threads only when the plan decodes long runs of frames (long GOPs), because
    every jump to the next keyframe costs the frames still in the threads' pipeline.

    A truncated file whose header is intact yields the frames decodable before the cut (a
    partial upload still gets fingerprinted); if no frame at all can be decoded it raises
    ``MediaError``. Raises ``UnsupportedMediaError`` for non-videos, ``MediaError`` for videos
    without a video stream, with no duration or with undecodable data, and ``MediaLimitError``
    for videos over ``limits`` or still decoding after ``limits.max_decode_seconds``. Argument
    errors raise at once; file errors when iteration starts (the file is opened lazily, so an
    iterator that is never consumed holds no open file).
    """
    if not 0 < fps <= 240:
        raise ValueError("fps must be a positive number of samples per second, at most 240")
    if min_side < 1:
        raise ValueError("min_side must be a positive number of pixels")
    if threads < 0:
        raise ValueError("threads must be >= 0")
    return _sample(source, fps, min_side, limits, threads)


def _sample(
    source: Source, fps: float, min_side: int, limits: MediaLimits, threads: int
) -> Iterator[VideoFrame]:
    clock = _Clock(describe(source), limits)
    video = _Video(source, limits, clock)
    name = video.name
    try:
        if video.duration is not None and video.duration > limits.max_video_seconds:
            raise MediaLimitError(
                f"{name}: video lasts {video.duration:.0f} s, over the limit of "
                f"{limits.max_video_seconds:.0f} s"
            )
        if video.keyframes is None or video.duration is None:
            video.scan()
        duration = video.duration
        if duration is None or not duration > 0:
            raise MediaError(f"{name}: video has zero duration (no frames with timestamps)")
        if duration > limits.max_video_seconds:
            raise MediaLimitError(
                f"{name}: video lasts {duration:.0f} s, over the limit of {limits.max_video_seconds:.0f} s"
            )
        needs = _plan(duration, fps, video.keyframes)
        slack = _slack(video.keyframes, fps)

        stream = video.stream
        ctx = stream.codec_context
        if threads == 0:
            threads = 0 if _decode_span(needs) >= _FRAME_THREADS_MIN_SPAN else 1
        if threads == 1:
            ctx.thread_type = "SLICE"
            ctx.thread_count = 1
        else:
            ctx.thread_type = "AUTO"
            ctx.thread_count = threads
        # Skipping unreferenced frames moves a sample by a few frames at most: harmless when
        # samples are >= 4 frames apart, wrong when the caller wants (nearly) every frame.
        sparse = video.fps > 0 and (1.0 / fps) >= 4.0 / video.fps
        base_skip = "NONREF" if sparse else "DEFAULT"
        ctx.skip_frame = base_skip
        _guard_decoder(ctx, limits)
        for other in video.container.streams:
            if other.index != stream.index:
                other.discard = av.stream.Discard.all  # demuxer skips their payloads

        yield from _run(video, needs, slack, base_skip, min_side, limits, clock)
    finally:
        video.close()


def _run(
    video: _Video,
    needs: list[_Need],
    slack: float,
    base_skip: str,
    min_side: int,
    limits: MediaLimits,
    clock: _Clock,
) -> Iterator[VideoFrame]:
    name = video.name
    stream = video.stream
    ctx = stream.codec_context
    i = 0
    emitted = 0
    errors = 0
    next_anchor = needs[0].anchor
    feeding = next_anchor is None  # with keyframes known, start at the first planned keyframe
    last_key = -math.inf  # time of the latest keyframe handed to the decoder
    valid_from = -math.inf
    scaler = VideoReformatter()
    try:
        for packet in video.container.demux(stream):
            clock.check()
            if packet.size == 0:  # end of stream: drains the decoder
                if not feeding:
                    break
            else:
                at = video.seconds(packet.pts) if packet.pts is not None else None
                if not feeding:
                    if not packet.is_keyframe or at is None:
                        continue
                    if next_anchor is not None and at < next_anchor - slack:
                        continue
                    feeding, valid_from = True, at - _EPS
                if packet.is_keyframe and at is not None:
                    last_key = max(last_key, at)
                    # The decoder reads skip_frame per packet: a GOP from which only the keyframe
                    # is wanted gets its other pictures parsed but not decoded while the
                    # keyframe works its way out of the reorder buffer.
                    ctx.skip_frame = "NONKEY" if _keyframe_suffices(needs, i, at, slack) else base_skip
            try:
                frames = _decode_packet(packet, name)
                errors = 0
            except av.error.InvalidDataError as exc:
                errors += 1
                if errors >= _MAX_CONSECUTIVE_ERRORS:
                    raise MediaError(f"{name}: corrupt video data ({_reason(exc)})") from None
                continue
            for frame in frames:
                if frame.pts is None:
                    continue
                t = video.seconds(frame.pts)
                # Frames before the keyframe we resumed at are leftovers of the GOP we left or
                # leading pictures that reference it: not trustworthy.
                if t < valid_from:
                    continue
                if t > limits.max_video_seconds:
                    raise MediaLimitError(
                        f"{name}: video runs past the limit of {limits.max_video_seconds:.0f} s"
                    )
                hit = False
                while i < len(needs) and t >= needs[i].threshold - _EPS:
                    i += 1
                    hit = True
                if hit:
                    video.limits.check_pixels(frame.width, frame.height, name)
                    emitted += 1
                    luma = _luma(frame, min_side, video.sar, scaler)
                    yield VideoFrame(timestamp=round(t, 6), luma=luma)
                if i >= len(needs):
                    return
            upcoming = needs[i].anchor
            if upcoming is not None and upcoming > last_key + slack:
                # Everything wanted before the next planned keyframe is out: drop packets up to
                # it instead of decoding frames nobody will look at.
                feeding, next_anchor = False, upcoming
    except av.error.FFmpegError as exc:
        if emitted == 0:
            raise MediaError(f"{name}: video decoding failed ({_reason(exc)})") from None
        return  # damaged tail: keep what was decoded, as for a truncated file
    if emitted == 0:
        raise MediaError(f"{name}: no decodable video frame (truncated or corrupt file)")
