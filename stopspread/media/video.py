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
* Opening the file does not decode: FFmpeg's stream probing would decode the first picture only
  to learn its pixel format, as costly as the keyframe decode that follows.
* With ``decoders=2`` two decoders, each on its own thread and its own handle on the file, take
  runs of whole GOPs in turns: two cores for one file (~25-30 % less wall time on the shared
  videos), with no pipeline to flush at every jump to a keyframe as frame threads have. Threads
  of one process decoding at once still take ~10 % more CPU time than the same work in turn.

Nothing here lowers decoding accuracy (no skipped loop filter or IDCT): a sampled frame is
bit-identical to the same frame from a full decode.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import io
import math
import queue
import threading
import time
from collections.abc import Generator, Iterator
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
# Parallel decoders (sample_frames' ``decoders``) take runs of GOPs planning about this many
# seconds of decoding at most, and may hold this many frames ready before the consumer wants
# them. A keyframe counts as this many seconds of the frames that follow it.
_CHUNK_SECONDS: Final = 30.0
_READY_FRAMES: Final = 32
_KEY_COST: Final = 0.2


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
        self._probe_decode = False
        self.container = self._open()
        try:
            if not self._sized():
                self.container.close()
                self._probe_decode = True
                self.container = self._open()
            self._inspect()
        except BaseException:
            self.container.close()
            raise

    def _open(self) -> Any:
        target: Any = io.BytesIO(self._data) if self._data is not None else str(self.source)
        # FFmpeg's stream probing decodes the first picture(s) just to learn the pixel format,
        # which costs as much as decoding a keyframe (~5 ms a 720p file) and is done again by
        # the real decode. Containers that list their streams in the header (MP4, MKV, AVI)
        # state the picture size there, so probing with the decoder off loses nothing we use;
        # a stream whose size only decoding reveals is reopened with it on (see _inspect).
        options = None if self._probe_decode else {"skip_frame": "all"}
        try:
            container = av.open(target, mode="r", metadata_errors="ignore", options=options)
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

    def _video_streams(self) -> list[Any]:
        return [
            s
            for s in self.container.streams.video
            if not (int(s.disposition) & int(av.stream.Disposition.attached_pic))
        ]

    def _sized(self) -> bool:
        """Whether the first video stream's picture size is known (or there is none)."""
        streams = self._video_streams()
        ctx = streams[0].codec_context if streams else None
        return ctx is None or (int(ctx.width or 0) > 0 and int(ctx.height or 0) > 0)

    def _inspect(self) -> None:
        streams = self._video_streams()
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

    def twin(self) -> _Video:
        """The same video on a second handle (its own file position and decoder)."""
        other = copy.copy(self)
        other.container = self._open()
        return other

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
        # One thread: libswscale's own slice threads (its default) cost more CPU than they save
        # on a picture this small (~0.2 ms), and wait for a core when all are busy.
        gray = scaler.reformat(
            frame, width=out_w, height=out_h, format="gray", interpolation="AREA", threads=1
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
    decoders: int = 1,
) -> Iterator[VideoFrame]:
    """Yield about ``fps`` frames per second of video, in timestamp order, as small luma.

    One frame is yielded per target time ``k / fps`` (k = 0, 1, ...) up to the duration: the
    first frame at or after the target, or the keyframe when one lies within half an interval.
    Targets that one frame serves (frames rarer than targets) yield it once. ``luma`` is upright
    (rotation metadata applied), short side ``min_side`` (never enlarged).

    ``threads``: 1 decodes on one thread only, the better choice when the caller already runs
    several files in parallel; N > 1 uses N frame+slice decoding threads; 0 (default) chooses:
    frame threads only when the plan decodes long runs of frames (long GOPs), because every jump
    to the next keyframe costs the frames still in the threads' pipeline.

    ``decoders``: 1 (default) decodes on the calling thread. N > 1 decodes on N background
    threads, each with its own handle on the file and its own decoder, which take runs of whole
    GOPs in turns (a GOP decodes from its own keyframe, so the frames are the same); frames are
    still yielded in order, and what the caller does with one overlaps the decoding of the next.
    It is how one file uses two cores (frame threads lose their pipeline at every jump to a
    keyframe), but threads decoding at once take ~10 % more CPU time than the same work in
    turn, so callers that already run a file per core should keep 1. The work is split only
    between keyframes: a video that is one long GOP gets the overlap only.

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
    if decoders < 1:
        raise ValueError("decoders must be >= 1")
    return _sample(source, fps, min_side, limits, threads, decoders)


@dataclass(frozen=True)
class _Settings:
    """What every decoder of one video shares."""

    slack: float
    base_skip: str
    threads: int
    min_side: int
    limits: MediaLimits
    clock: _Clock


@dataclass(frozen=True)
class _Outcome:
    """How a run over some targets ended: all served, or the stream ended (maybe damaged)."""

    complete: bool
    emitted: int = 0
    error: str | None = None


def _sample(
    source: Source, fps: float, min_side: int, limits: MediaLimits, threads: int, decoders: int
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
        if threads == 0:
            threads = 0 if _decode_span(needs) >= _FRAME_THREADS_MIN_SPAN else 1
        # Skipping unreferenced frames moves a sample by a few frames at most: harmless when
        # samples are >= 4 frames apart, wrong when the caller wants (nearly) every frame.
        sparse = video.fps > 0 and (1.0 / fps) >= 4.0 / video.fps
        settings = _Settings(
            slack=_slack(video.keyframes, fps),
            base_skip="NONREF" if sparse else "DEFAULT",
            threads=threads,
            min_side=min_side,
            limits=limits,
            clock=clock,
        )
        if decoders == 1:
            _configure(video, settings)
            end = yield from _run(video, needs, settings, VideoReformatter(), None)
            emitted = end.emitted
        else:
            end, emitted = yield from _parallel(video, _chunks(needs, decoders), decoders, settings)
        if emitted == 0:
            if end.error is not None:
                raise MediaError(f"{name}: video decoding failed ({end.error})")
            raise MediaError(f"{name}: no decodable video frame (truncated or corrupt file)")
    finally:
        video.close()


def _configure(video: _Video, settings: _Settings) -> None:
    stream = video.stream
    ctx = stream.codec_context
    if settings.threads == 1:
        ctx.thread_type = "SLICE"
        ctx.thread_count = 1
    else:
        ctx.thread_type = "AUTO"
        ctx.thread_count = settings.threads
    ctx.skip_frame = settings.base_skip
    _guard_decoder(ctx, settings.limits)
    for other in video.container.streams:
        if other.index != stream.index:
            other.discard = av.stream.Discard.all  # demuxer skips their payloads


def _chunks(needs: list[_Need], decoders: int) -> list[list[_Need]]:
    """The plan cut between GOPs into runs of about equal decoding work, to deal out in turns.

    As many runs as decoders, or more for long videos, so that no run plans more than about
    _CHUNK_SECONDS of decoding: the decoders then progress side by side, and the frames one of
    them holds ready until the frames before them are out stay few.
    """
    if needs[0].anchor is None:
        return [needs]  # no keyframe plan: one sequential decode
    gops: list[list[_Need]] = []
    for need in needs:
        if gops and gops[-1][0].anchor == need.anchor:
            gops[-1].append(need)
        else:
            gops.append([need])
    costs = [_KEY_COST + max(n.threshold for n in gop) - float(gop[0].anchor or 0.0) for gop in gops]
    total = sum(costs)
    count = min(len(gops), decoders * max(1, math.ceil(total / (decoders * _CHUNK_SECONDS))))
    share = total / count
    chunks: list[list[_Need]] = [[]]
    done = 0.0
    for gop, cost in zip(gops, costs, strict=True):
        # Cut before this GOP when more than half of it lies past the current run's share.
        if chunks[-1] and len(chunks) < count and done + cost / 2 > share * len(chunks):
            chunks.append([])
        chunks[-1].extend(gop)
        done += cost
    return chunks


def _parallel(
    video: _Video, chunks: list[list[_Need]], decoders: int, settings: _Settings
) -> Generator[VideoFrame, None, tuple[_Outcome, int]]:
    """Decode ``chunks`` on background threads, chunk k on decoder k mod n; yield in order."""
    count = min(decoders, len(chunks))
    stop = threading.Event()
    videos = [video]
    queues: list[queue.Queue[Any]] = []
    workers: list[threading.Thread] = []
    try:
        for k in range(count):
            if k:
                videos.append(video.twin())
            _configure(videos[k], settings)
            queues.append(queue.Queue(maxsize=_READY_FRAMES))
            workers.append(
                threading.Thread(
                    target=_decode_turns,
                    args=(videos[k], chunks[k::count], settings, queues[k], stop),
                    name=f"stopspread-decoder-{k}",
                    daemon=True,
                )
            )
            workers[-1].start()
        emitted = 0
        end = _Outcome(complete=True)
        for index in range(len(chunks)):
            ready = queues[index % count]
            while True:
                item = ready.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, _Outcome):
                    break
                emitted += 1
                yield item
            end = item
            if not end.complete:
                break  # the stream ended or broke off here, as a sequential decode would stop
        return end, emitted
    finally:
        stop.set()
        for worker, ready in zip(workers, queues, strict=False):
            while worker.is_alive():  # a worker blocked on a full queue needs room to see `stop`
                with contextlib.suppress(queue.Empty):
                    while True:
                        ready.get_nowait()
                worker.join(0.01)
        for other in videos[1:]:
            other.close()


def _decode_turns(
    video: _Video,
    chunks: list[list[_Need]],
    settings: _Settings,
    ready: queue.Queue[Any],
    stop: threading.Event,
) -> None:
    """A decoder thread: the frames of its chunks, each chunk closed by its _Outcome."""
    scaler = VideoReformatter()
    try:
        for chunk in chunks:
            run = _run(video, chunk, settings, scaler, stop)
            while True:
                try:
                    ready.put(next(run))
                except StopIteration as finished:
                    outcome: _Outcome = finished.value
                    break
            ready.put(outcome)
            if not outcome.complete or stop.is_set():
                return
    except BaseException as exc:  # handed to the consumer, raised there in turn
        ready.put(exc)


def _run(
    video: _Video,
    needs: list[_Need],
    settings: _Settings,
    scaler: VideoReformatter,
    stop: threading.Event | None,
) -> Generator[VideoFrame, None, _Outcome]:
    """Decode the frames serving ``needs``, continuing from wherever the file was left."""
    name = video.name
    stream = video.stream
    ctx = stream.codec_context
    slack, limits, clock = settings.slack, settings.limits, settings.clock
    i = 0
    emitted = 0
    errors = 0
    next_anchor = needs[0].anchor
    feeding = next_anchor is None  # with keyframes known, start at the first planned keyframe
    last_key = -math.inf  # time of the latest keyframe handed to the decoder
    valid_from = -math.inf
    try:
        for packet in video.container.demux(stream):
            clock.check()
            if stop is not None and stop.is_set():
                return _Outcome(False, emitted)
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
                    wanted = _keyframe_suffices(needs, i, at, slack)
                    ctx.skip_frame = "NONKEY" if wanted else settings.base_skip
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
                    limits.check_pixels(frame.width, frame.height, name)
                    emitted += 1
                    luma = _luma(frame, settings.min_side, video.sar, scaler)
                    yield VideoFrame(timestamp=round(t, 6), luma=luma)
                if i >= len(needs):
                    return _Outcome(True, emitted)
            upcoming = needs[i].anchor
            if upcoming is not None and upcoming > last_key + slack:
                # Everything wanted before the next planned keyframe is out: drop packets up to
                # it instead of decoding frames nobody will look at.
                feeding, next_anchor = False, upcoming
    except av.error.FFmpegError as exc:
        return _Outcome(False, emitted, _reason(exc))  # damaged tail: keep what was decoded
    return _Outcome(False, emitted)
