from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stopspread.errors import MediaError, MediaLimitError, UnsupportedMediaError
from stopspread.media import MediaLimits, VideoFrame, probe_video, sample_frames
from tests.media._make import luma_of, marker, moving_frame, write_audio_only, write_video


@pytest.fixture(scope="module")
def shared_samples(media_videos: list[Path]) -> dict[Path, list[VideoFrame]]:
    assert media_videos, "no shared videos found"
    return {p: list(sample_frames(p)) for p in media_videos}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Synthetic 5-s videos: short and long GOP, and other containers."""
    d = tmp_path_factory.mktemp("clips")
    return {
        "short_gop": write_video(d / "short.mp4", gop=12),
        "long_gop": write_video(d / "long.mp4", gop=250),
        "faststart": write_video(d / "fast.mp4", gop=25, options={"movflags": "faststart"}),
        "mkv": write_video(d / "clip.mkv", gop=25),
        "ts": write_video(d / "clip.ts", gop=25, audio=True),
        "mpeg4": write_video(d / "clip.avi", codec="mpeg4", gop=25),
    }


def test_shared_videos_one_frame_per_second(
    shared_samples: dict[Path, list[VideoFrame]],
) -> None:
    for path, frames in shared_samples.items():
        info = probe_video(path)
        assert len(frames) == math.floor(info.duration - 1e-9) + 1, path
        times = [f.timestamp for f in frames]
        assert times[0] == 0.0
        assert all(b > a for a, b in itertools.pairwise(times)), times
        assert max(b - a for a, b in itertools.pairwise(times)) <= 1.5, times
        for frame in frames:
            assert frame.luma.dtype == np.float32
            assert min(frame.luma.shape) == 256
            assert (frame.luma.shape[0] > frame.luma.shape[1]) == (info.height > info.width)
            assert frame.luma.min() >= 0 and frame.luma.max() <= 255


def test_samples_are_identical_to_a_full_decode(
    media_videos: list[Path], shared_samples: dict[Path, list[VideoFrame]]
) -> None:
    path = media_videos[1]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ref = {}
        for f in container.decode(stream):
            width = round(f.width * 256 / f.height)  # landscape: short side is the height
            small = f.reformat(width=width, height=256, format="gray", interpolation="AREA")
            ref[round(float(f.pts * stream.time_base), 3)] = small.to_ndarray()
    for frame in shared_samples[path]:
        assert np.array_equal(ref[round(frame.timestamp, 3)], frame.luma)


def test_probe_shared_video(media_videos: list[Path]) -> None:
    info = probe_video(media_videos[0])
    assert info.codec == "h264"
    assert info.duration > 1
    assert info.fps > 1
    assert info.width > 0 and info.height > 0


@pytest.mark.parametrize("name", ["short_gop", "long_gop", "faststart", "mkv", "ts", "mpeg4"])
def test_generated_video_round_trips(clips: dict[str, Path], name: str) -> None:
    path = clips[name]
    info = probe_video(path)
    assert info.duration == pytest.approx(5.0, abs=0.1)
    assert (info.width, info.height) == (320, 240)
    frames = list(sample_frames(path))
    assert len(frames) == 5
    for frame, target in zip(frames, range(5), strict=True):
        assert abs(frame.timestamp - target) <= 0.5
        assert frame.luma.shape == (240, 320)  # smaller than min_side: never enlarged
        expected = luma_of(moving_frame(round(frame.timestamp * 25), 25, 320, 240))
        assert np.abs(frame.luma - expected).mean() < 6, (name, frame.timestamp)


def test_bytes_input_and_single_thread_agree(clips: dict[str, Path]) -> None:
    path = clips["long_gop"]
    a = list(sample_frames(path))
    b = list(sample_frames(path.read_bytes(), threads=1))
    assert [f.timestamp for f in a] == [f.timestamp for f in b]
    assert all(np.array_equal(x.luma, y.luma) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("fps", [2.0, 0.5, 25.0])
def test_sampling_rate(clips: dict[str, Path], fps: float) -> None:
    frames = list(sample_frames(clips["long_gop"], fps=fps))
    assert len(frames) == math.floor(5.0 * fps - 1e-9) + 1
    if fps == 25.0:  # every frame: nothing may be skipped
        assert [round(f.timestamp * 25) for f in frames] == list(range(125))


def test_min_side_scales_down(clips: dict[str, Path]) -> None:
    frames = list(sample_frames(clips["short_gop"], min_side=60))
    assert frames[0].luma.shape == (60, 80)


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_display_rotation_is_applied(tmp_path: Path, rotation: int) -> None:
    img = marker(320, 192)
    path = write_video(tmp_path / "rot.mp4", frames=[img] * 10, width=320, height=192, rotation=rotation)
    info = probe_video(path)
    assert info.rotation == rotation % 360
    assert (info.width, info.height) == ((192, 320) if rotation != 180 else (320, 192))
    luma = next(iter(sample_frames(path))).luma
    expected = np.rot90(luma_of(img), rotation // 90)  # counter-clockwise, as players show it
    assert luma.shape == expected.shape
    assert np.abs(luma - expected).mean() < 8


def test_non_square_pixels(tmp_path: Path) -> None:
    path = write_video(tmp_path / "sar.mp4", seconds=1, width=320, height=240, sar=Fraction(2))
    assert probe_video(path).width == 640
    assert next(iter(sample_frames(path, min_side=120))).luma.shape == (120, 320)


def test_truncated_video_yields_what_it_can(clips: dict[str, Path]) -> None:
    data = clips["faststart"].read_bytes()  # index first, so a cut keeps the header
    frames = list(sample_frames(data[: len(data) * 6 // 10]))
    assert 1 <= len(frames) < 5
    assert frames[-1].timestamp < 4


def test_truncated_to_nothing_decodable(clips: dict[str, Path]) -> None:
    data = clips["faststart"].read_bytes()
    with pytest.raises(MediaError, match=r"no decodable|no video stream"):
        list(sample_frames(data[: len(data) // 20]))


def test_truncated_index_at_end(clips: dict[str, Path]) -> None:
    data = clips["long_gop"].read_bytes()  # moov after mdat: a cut loses the index
    with pytest.raises(MediaError, match="cannot open video"):
        list(sample_frames(data[: len(data) // 2]))


def test_corrupt_bytes(clips: dict[str, Path]) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, 100_000, dtype=np.uint8).tobytes()
    with pytest.raises(MediaError):
        list(sample_frames(clips["long_gop"].read_bytes()[:32] + noise))
    with pytest.raises(UnsupportedMediaError):
        list(sample_frames(noise))


def test_text_file_is_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "list.mp4"
    path.write_text("#EXTM3U\n#EXT-X-VERSION:3\nhttp://example.invalid/a.ts\n")
    with pytest.raises(UnsupportedMediaError, match="not a recognised video"):
        list(sample_frames(path))


def test_image_given_to_sample_frames(media_images: list[Path]) -> None:
    with pytest.raises(UnsupportedMediaError, match="image"):
        list(sample_frames(media_images[0]))


def test_no_video_stream(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no video stream"):
        list(sample_frames(write_audio_only(tmp_path / "a.mp4")))


def test_video_stream_without_frames(tmp_path: Path) -> None:
    path = tmp_path / "empty.mkv"
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = out.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for packet in [*audio.encode(frame), *audio.encode()]:
            out.mux(packet)
    with pytest.raises(MediaError, match=r"zero duration|no decodable"):
        list(sample_frames(path))


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="not found"):
        list(sample_frames(tmp_path / "nope.mp4"))
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        list(sample_frames(tmp_path / "empty.mp4"))


def test_limits(clips: dict[str, Path]) -> None:
    path = clips["short_gop"]
    with pytest.raises(MediaLimitError, match="over the limit"):
        list(sample_frames(path, limits=MediaLimits(max_video_seconds=2)))
    with pytest.raises(MediaLimitError, match="MP"):
        list(sample_frames(path, limits=MediaLimits(max_pixels=10_000)))
    with pytest.raises(MediaLimitError, match="decoding stopped"):
        list(sample_frames(path, limits=MediaLimits(max_decode_seconds=1e-9)))
    with pytest.raises(MediaLimitError, match="MiB"):
        list(sample_frames(path.read_bytes(), limits=MediaLimits(max_bytes=1000)))


def test_bad_arguments(clips: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="fps"):
        sample_frames(clips["short_gop"], fps=0)
    with pytest.raises(ValueError, match="min_side"):
        sample_frames(clips["short_gop"], min_side=0)


def test_stopping_early_closes_cleanly(clips: dict[str, Path]) -> None:
    frames = sample_frames(clips["long_gop"])
    first = next(iter(frames))
    assert first.timestamp == 0.0
    frames.close()  # type: ignore[attr-defined]


def _same(a: list[VideoFrame], b: list[VideoFrame]) -> bool:
    return [f.timestamp for f in a] == [f.timestamp for f in b] and all(
        np.array_equal(x.luma, y.luma) for x, y in zip(a, b, strict=True)
    )


def test_parallel_decoders_yield_the_same_frames(
    media_videos: list[Path], shared_samples: dict[Path, list[VideoFrame]], clips: dict[str, Path]
) -> None:
    for path in media_videos:
        assert _same(list(sample_frames(path, decoders=2, threads=1)), shared_samples[path]), path
    for name, path in clips.items():
        for fps in (1.0, 2.0, 25.0):
            one = list(sample_frames(path, fps=fps, threads=1))
            assert _same(list(sample_frames(path, fps=fps, threads=1, decoders=2)), one), (name, fps)
    data = clips["short_gop"].read_bytes()
    assert _same(list(sample_frames(data, decoders=3)), list(sample_frames(data)))


def test_parallel_decoders_take_long_videos_in_turns(tmp_path: Path) -> None:
    # 80 s of 1-s GOPs: more work than two runs of _CHUNK_SECONDS, so the decoders alternate.
    path = write_video(tmp_path / "long.mp4", seconds=80, rate=10, width=64, height=48, gop=10)
    one = list(sample_frames(path, fps=2.0))
    assert len(one) == 160
    assert _same(list(sample_frames(path, fps=2.0, decoders=2)), one)


def test_chunks_cut_between_gops() -> None:
    from stopspread.media.video import _chunks, _plan

    keyframes = [float(k) for k in range(0, 600, 2)]
    needs = _plan(600.0, 1.0, keyframes)
    chunks = _chunks(needs, 2)
    assert [n for chunk in chunks for n in chunk] == needs
    assert len(chunks) > 2 and len(chunks) % 2 == 0
    for before, after in itertools.pairwise(chunks):
        assert before[-1].anchor != after[0].anchor
    short = _plan(13.0, 1.0, [0.0, 10.0])
    assert [len(c) for c in _chunks(short, 2)] == [10, 3]
    assert _chunks(_plan(5.0, 1.0, None), 2) == [_plan(5.0, 1.0, None)]


def test_parallel_decoders_on_damaged_files(clips: dict[str, Path]) -> None:
    data = clips["faststart"].read_bytes()
    cut = data[: len(data) * 6 // 10]
    assert _same(list(sample_frames(cut, decoders=2)), list(sample_frames(cut)))
    with pytest.raises(MediaError, match=r"no decodable|no video stream"):
        list(sample_frames(data[: len(data) // 20], decoders=2))
    path = clips["short_gop"]
    with pytest.raises(MediaLimitError, match="MP"):
        list(sample_frames(path, decoders=2, limits=MediaLimits(max_pixels=10_000)))
    with pytest.raises(MediaLimitError, match="decoding stopped"):
        list(sample_frames(path, decoders=2, limits=MediaLimits(max_decode_seconds=1e-9)))
    with pytest.raises(ValueError, match="decoders"):
        sample_frames(path, decoders=0)


def test_stopping_early_stops_the_decoder_threads(clips: dict[str, Path]) -> None:
    import threading

    frames = sample_frames(clips["short_gop"], decoders=2)
    assert next(iter(frames)).timestamp == 0.0
    frames.close()  # type: ignore[attr-defined]
    assert not [t for t in threading.enumerate() if t.name.startswith("stopspread-decoder")]
