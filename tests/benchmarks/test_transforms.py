"""The forwarded-copies generator of the benchmark: families, determinism, the quick dataset."""

from __future__ import annotations

import io
import json
import math
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from benchmarks import make_dataset
from benchmarks import transforms as tf

IMAGE_FAMILIES = sorted(tf.FAMILIES)


@pytest.fixture(scope="module")
def photo(media_images: list[Path]) -> Image.Image:
    """A shared photo, shrunk to 800 px so that the tests stay fast."""
    with Image.open(media_images[12]) as im:
        img = im.convert("RGB")
    img.thumbnail((800, 800))
    return img


@pytest.fixture(scope="module")
def other_photo(media_images: list[Path]) -> Image.Image:
    with Image.open(media_images[40]) as im:
        img = im.convert("RGB")
    img.thumbnail((800, 800))
    return img


def _grey(img: Image.Image, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(img.convert("L").resize(size, Image.Resampling.BILINEAR), dtype=np.float32)


def test_family_tables_are_complete() -> None:
    assert (
        set(tf.FAMILIES)
        == set(tf.IMAGE_FAMILY_NAMES)
        == {
            "recompress",
            "colour",
            "mirror_rotate",
            "slight_rotate",
            "crop",
            "screenshot",
            "overlay",
            "blur_noise",
            "combo",
        }
    )
    assert set(tf.VIDEO_FAMILIES) == {
        "reencode",
        "trim",
        "crop",
        "mirror",
        "screen_record",
        "boxes",
        "compilation",
    }
    assert len(tf._COMBOS) >= 4


@pytest.mark.parametrize("family", IMAGE_FAMILIES)
def test_family_returns_changed_rgb_image(family: str, photo: Image.Image) -> None:
    for seed in range(2):
        out = tf.FAMILIES[family](photo, random.Random(seed))
        assert isinstance(out, Image.Image)
        assert out.mode == "RGB"
        w, h = out.size
        assert min(w, h) >= 64 and max(w, h) <= 3000
        if out.size == photo.size:
            diff = np.abs(np.asarray(out, np.int16) - np.asarray(photo, np.int16)).mean()
            assert diff > 0.5, f"{family} left the pixels as they were"


@pytest.mark.parametrize("family", IMAGE_FAMILIES)
def test_same_seed_same_bytes(family: str, photo: Image.Image) -> None:
    a = tf.forward_image(family, photo, random.Random(11))
    b = tf.forward_image(family, photo, random.Random(11))
    assert a.data == b.data
    assert a.params() == b.params()
    json.dumps(a.params())  # manifest-ready
    assert Image.open(io.BytesIO(a.data)).format == a.format


def test_every_copy_is_encoded(photo: Image.Image) -> None:
    formats = set()
    for family in IMAGE_FAMILIES:
        for seed in range(3):
            fwd = tf.forward_image(family, photo, random.Random(seed))
            formats.add(fwd.format)
            assert fwd.steps[-1]["op"] in ("encode", "recompress", "screenshot")
    assert {"JPEG", "PNG"} <= formats


def test_crop_removes_within_limits(photo: Image.Image) -> None:
    w, h = photo.size
    for seed in range(40):
        fwd = tf.forward_image("crop", photo, random.Random(seed))
        step = fwd.steps[0]
        sides = [step[k] for k in ("left", "top", "right", "bottom")]
        assert all(0.0 <= f <= 0.20 for f in sides)
        assert max(sides) >= 0.08
        ow, oh = fwd.image.size
        assert abs(ow - w * (1 - step["left"] - step["right"])) <= 2
        assert abs(oh - h * (1 - step["top"] - step["bottom"])) <= 2


def test_inner_rect() -> None:
    assert tf.inner_rect(100, 50, 0.0) == (100, 50)
    # a square turned by 45 degrees holds a square of side / sqrt(2)
    w, h = tf.inner_rect(100, 100, math.radians(45))
    assert w == pytest.approx(100 / math.sqrt(2)) and h == pytest.approx(100 / math.sqrt(2))
    # the corners of the inner rectangle lie inside the rotated one
    for angle in (3, 6, 9, -7):
        a = math.radians(angle)
        iw, ih = tf.inner_rect(160, 90, a)
        c, s = abs(math.cos(a)), abs(math.sin(a))
        assert iw * c + ih * s <= 160 + 1e-6 and iw * s + ih * c <= 90 + 1e-6


def test_slight_rotate_leaves_no_empty_corner() -> None:
    white = Image.new("RGB", (640, 400), (255, 255, 255))
    for seed in range(12):
        fwd = tf.forward_image("slight_rotate", white, random.Random(seed))
        assert 3.0 <= abs(fwd.steps[0]["degrees"]) <= 9.0
        assert np.asarray(fwd.image).min() > 200, "black corners left after the rotation"


def test_mirror_rotate_is_a_dihedral_map(photo: Image.Image) -> None:
    seen = set()
    for seed in range(30):
        fwd = tf.forward_image("mirror_rotate", photo, random.Random(seed))
        step = fwd.steps[0]
        seen.add((step["mirror"], step["rotate"]))
        expect = photo.size[::-1] if step["rotate"] in (90, 270) else photo.size
        assert fwd.image.size == expect
    assert (False, 0) not in seen and len(seen) >= 5


def test_overlay_covers_5_to_20_percent(photo: Image.Image) -> None:
    for seed in range(25):
        fwd = tf.forward_image("overlay", photo, random.Random(seed))
        assert 0.05 <= fwd.steps[0]["coverage"] <= 0.20


def test_recompress_long_side_and_quality(photo: Image.Image) -> None:
    big = photo.resize((1800, round(1800 * photo.height / photo.width)))
    for seed in range(20):
        step = tf.forward_image("recompress", big, random.Random(seed)).steps[0]
        assert 800 <= step["long_side"] <= 1600
        if step["format"] == "JPEG":
            assert 30 <= step["quality"] <= 80


def _check_box(fwd: tf.ForwardedImage, photo: Image.Image) -> None:
    """The photo lies in the returned box: compare, and find it by template matching."""
    assert fwd.box is not None
    x0, y0, x1, y1 = fwd.box
    shot = fwd.image
    assert 0 <= x0 < x1 <= shot.width and 0 <= y0 < y1 <= shot.height
    assert (x1 - x0) / (y1 - y0) == pytest.approx(photo.width / photo.height, rel=0.03)
    inside = _grey(shot.crop(fwd.box), (64, 64))
    assert np.abs(inside - _grey(photo, (64, 64))).mean() < 12
    # template match of a downscaled version: found at the box
    k = 200 / shot.height
    small = np.asarray(shot.convert("L").resize((round(shot.width * k), 200)))
    tw, th = round((x1 - x0) * k * 0.8), round((y1 - y0) * k * 0.8)
    mx0, my0 = photo.width // 10, photo.height // 10
    inner = photo.convert("L").crop((mx0, my0, photo.width - mx0, photo.height - my0))
    tmpl = np.asarray(inner.resize((tw, th)))
    res = cv2.matchTemplate(small, tmpl, cv2.TM_CCOEFF_NORMED)
    _, score, _, (mx, my) = cv2.minMaxLoc(res)
    assert score > 0.8
    assert abs(mx - (x0 * k + (x1 - x0) * k * 0.1)) <= 3 and abs(my - (y0 * k + (y1 - y0) * k * 0.1)) <= 3


@pytest.mark.parametrize("layout", ["whatsapp", "imessage", "telegram", "viewer"])
def test_screenshot_holds_the_photo_at_its_box(layout: str, photo: Image.Image) -> None:
    for seed, theme in ((1, "light"), (2, "dark")):
        frame = tf.ChatFrame.from_seed(seed, layout=layout, theme=theme)
        fwd = tf.forward_image("screenshot", photo, random.Random(0), chat_frame=frame)
        assert fwd.image.size == frame.size
        assert fwd.format == frame.save_format
        pw = fwd.box[2] - fwd.box[0]
        if layout != "viewer":
            assert 0.55 * frame.size[0] <= pw <= 0.95 * frame.size[0]
        _check_box(fwd, photo)


def test_screenshot_and_chat_screen_return_the_box(photo: Image.Image) -> None:
    img, box = tf.screenshot(photo, random.Random(4), return_box=True)
    assert img.size[1] > img.size[0] and box[2] <= img.size[0]
    plain = tf.screenshot(photo, random.Random(4))
    assert plain.tobytes() == img.tobytes()
    screen, box2 = tf.chat_screen(photo, random.Random(5), theme="dark", return_box=True)
    assert isinstance(tf.chat_screen(photo, random.Random(5)), Image.Image)
    assert box2[2] - box2[0] > 0 and screen.mode == "RGB"


def test_same_frame_differs_only_inside_the_photo(photo: Image.Image, other_photo: Image.Image) -> None:
    other = other_photo.resize(photo.size)  # same aspect: nothing of the frame moves
    for seed in (3, 8):
        frame = tf.ChatFrame.from_seed(seed, layout="whatsapp")
        a, box_a = tf.render_chat_screen(photo, frame)
        b, box_b = tf.render_chat_screen(other, frame)
        assert box_a == box_b
        diff = np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max(axis=2) > 0
        x0, y0, x1, y1 = box_a
        assert diff[y0:y1, x0:x1].mean() > 0.5
        diff[y0:y1, x0:x1] = False
        assert not diff.any(), "the frame changed outside the photo"


def test_combo_recipes_and_screenshot_box(photo: Image.Image) -> None:
    recipes = set()
    for seed in range(16):
        fwd = tf.forward_image("combo", photo, random.Random(seed))
        recipes.add(fwd.steps[0]["recipe"])
        if fwd.steps[0]["recipe"] == "recompress>screenshot>recompress":
            assert fwd.box is not None
            assert fwd.box[2] <= fwd.image.width and fwd.box[3] <= fwd.image.height
    assert len(recipes) >= 4


def test_unknown_family_is_refused(photo: Image.Image, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown image family"):
        tf.forward_image("sepia", photo, random.Random(0))
    with pytest.raises(ValueError, match="unknown video family"):
        tf.forward_video("reverse", tmp_path / "a.mp4", tmp_path / "b.mp4", random.Random(0))


# ---- videos --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(media_images: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("video") / "pan.mp4"
    params = tf.make_pan_video(media_images[3], dst, random.Random(1), seconds=2.0, size=(320, 180), fps=25)
    assert params["seconds"] == 2.0
    return dst


def test_pan_video(clip: Path) -> None:
    info = tf.video_info(clip)
    assert (info.width, info.height) == (320, 180)
    assert info.frames == 50 and info.duration == pytest.approx(2.0, abs=0.05)


def test_video_families(clip: Path, media_images: list[Path], tmp_path: Path) -> None:
    src = tf.video_info(clip)
    for family in tf.VIDEO_FAMILY_NAMES:
        dst = tmp_path / f"{family}.mp4"
        params = tf.forward_video(family, clip, dst, random.Random(2), fillers=[media_images[50]])
        info = tf.video_info(dst)
        assert info.frames > 0 and dst.stat().st_size > 0
        assert json.dumps(params)
        if family == "reencode":
            assert info.fps == 15 and min(info.width, info.height) <= 480
        elif family == "trim":
            assert 0.35 * src.duration - 0.1 <= info.duration <= 0.60 * src.duration + 0.1
        elif family == "crop":
            assert info.width < src.width and info.height < src.height
        elif family == "screen_record":
            assert info.height > info.width
        elif family == "boxes":
            assert 0.05 <= params["coverage"] <= 0.15
        elif family == "compilation":
            start, end = params["original_part"]
            assert params["filler_seconds"] >= end - start - 0.05
            kinds = [seg["kind"] for seg in params["segments"]]
            assert kinds[0] != "original" and kinds[-1] != "original" and kinds.count("original") == 1
            assert info.duration >= 2 * (end - start) - 0.1


def test_video_same_seed_same_bytes(clip: Path, tmp_path: Path) -> None:
    for family in ("boxes", "trim"):
        a, b = tmp_path / f"{family}_a.mp4", tmp_path / f"{family}_b.mp4"
        pa = tf.forward_video(family, clip, a, random.Random(9))
        pb = tf.forward_video(family, clip, b, random.Random(9))
        assert pa == pb and a.read_bytes() == b.read_bytes()


def test_mirror_video_is_flipped(clip: Path, tmp_path: Path) -> None:
    dst = tmp_path / "m.mp4"
    tf.VIDEO_FAMILIES["mirror"](clip, dst, random.Random(0))
    a = next(tf._frames_at(clip, 25, tf._rgb()))
    b = next(tf._frames_at(dst, 25, tf._rgb()))
    a = cv2.resize(a, (b.shape[1], b.shape[0])).astype(np.float32)
    b = b.astype(np.float32)
    assert np.abs(a[:, ::-1] - b).mean() < np.abs(a - b).mean() / 2


# ---- the quick dataset ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_dataset(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dataset")
    make_dataset.build(out, seed=7, quick=True, workers=2, shared=shared_dir)
    return out


def test_quick_dataset_manifest_is_consistent(quick_dataset: Path) -> None:
    lines = (quick_dataset / "manifest.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    paths = [r["path"] for r in records]
    assert len(paths) == len(set(paths))
    on_disk = {p.relative_to(quick_dataset).as_posix() for p in quick_dataset.rglob("*") if p.is_file()}
    assert set(paths) == on_disk - {"manifest.jsonl", "summary.json"}
    originals = {r["original"]: r for r in records if r["role"] == "original"}
    for r in records:
        assert set(r) == {"path", "role", "kind", "family", "original", "params"}
        assert r["role"] in ("original", "query", "unrelated") and r["kind"] in ("image", "video")
        assert (quick_dataset / r["path"]).stat().st_size > 0
        if r["role"] == "query":
            assert r["original"] in originals
            assert originals[r["original"]]["kind"] == r["kind"]
            assert r["path"].startswith(f"queries/{r['kind']}s/{r['family']}/{r['original']}__")
        elif r["role"] == "unrelated":
            assert r["original"] is None
    fams = {(r["kind"], r["family"]) for r in records if r["role"] == "query"}
    assert {f for k, f in fams if k == "image"} == set(tf.IMAGE_FAMILY_NAMES)
    assert {f for k, f in fams if k == "video"} == set(tf.VIDEO_FAMILY_NAMES)
    assert sum(1 for r in records if r["role"] == "original" and r["kind"] == "image") == 10
    assert sum(1 for r in records if r["role"] == "original" and r["kind"] == "video") == 3


def test_rebuilding_needs_force(quick_dataset: Path, shared_dir: Path) -> None:
    with pytest.raises(make_dataset.DatasetError, match="--force"):
        make_dataset.build(quick_dataset, quick=True, shared=shared_dir)


def test_shared_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STOPSPREAD_SHARED", str(tmp_path))
    assert make_dataset.shared_dir() == tmp_path.resolve()
    with pytest.raises(make_dataset.DatasetError, match="STOPSPREAD_SHARED"):
        make_dataset.build(tmp_path / "out", quick=True)


def test_quick_dataset_split_and_shared_frames(quick_dataset: Path) -> None:
    records = [json.loads(line) for line in (quick_dataset / "manifest.jsonl").read_text().splitlines()]
    summary = json.loads((quick_dataset / "summary.json").read_text())
    originals = set(summary["originals"]["images"])
    distractors = set(summary["distractors"])
    shot_photos = set(summary["original_screenshots"]["photos"].values())
    assert not (distractors & (originals | shot_photos))
    by_path = {r["path"]: r for r in records}
    twins = [r for r in records if r["role"] == "unrelated" and r["family"] == "screenshot"]
    assert twins
    for r in twins:
        twin = by_path[r["params"]["same_frame_as"]]
        assert twin["role"] == "query" and twin["params"]["frame_seed"] == r["params"]["frame_seed"]
        assert r["params"]["distractor"] in distractors
    fixed = [r for r in records if r["family"] == "screenshot_fixed_frame"]
    shots = [r for r in records if r["role"] == "original" and r["params"].get("source") == "chat_screenshot"]
    assert len(fixed) == len(shots) == 2
    assert {r["params"]["frame_seed"] for r in fixed + shots} == {
        summary["original_screenshots"]["frame_seed"]
    }
    for r in fixed:
        assert set(r["params"]["same_frame_as"]) == {s["path"] for s in shots}
