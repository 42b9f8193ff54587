"""Build the forwarded-copies dataset of stopspread's benchmark.

    python benchmarks/make_dataset.py --out DIR --seed 7 [--copies-per-family 1]
                                      [--videos/--no-videos] [--quick] [--workers 2] [--force]

The shared photos are split by the seed into ORIGINALS (the "victim's list", 100 photos) and
DISTRACTORS (the 55 others, unrelated to every original). Then:

originals/images/       90 original photos (copies) and 10 "original screenshots": 10 further
                        original photos shown in one fixed chat frame F0 (the victim reports the
                        screenshot they were sent; the bare photo is then NOT an original).
originals/videos/       the 9 shared videos and 12 pan/zoom videos over 12 original photos.
queries/images/<family>/<original>__<n>.<ext>
                        every original image through every image family, --copies-per-family
                        each. The frame of query screenshot n of original X is a ChatFrame drawn
                        from the seed, X and n (frame_seed in the params).
queries/videos/<family>/<original>__<n>.mp4
                        every original video through every video family.
unrelated/images/plain/ the 55 distractor photos as they are.
unrelated/images/<family>/<distractor>__<n>.<ext>
                        every distractor through every image family. A distractor's screenshot
                        reuses exactly the frame (same frame seed: layout, theme, texts, size,
                        format) of an original's query screenshot, named in "same_frame_as":
                        a shared frame must not make two pictures match.
unrelated/images/screenshot_fixed_frame/
                        10 distractors in the fixed frame F0 of the original screenshots.
unrelated/videos/plain/ 12 pan/zoom videos over 12 distractor photos.
unrelated/videos/<family>/
                        each of them through 3 video families (all 7 families covered).
manifest.jsonl          one line per file: path (relative), role (original | query | unrelated),
                        kind (image | video), family (null for untransformed files), original
                        (its own id for an original, the original's id for a query, null for
                        unrelated files) and params (what was drawn; "distractor" names the
                        source of an unrelated file).
summary.json            counts, the split, the arguments and the build time.

Compilations (video family) put the original between unrelated clips: pans over distractor
photos and segments of the unrelated pan videos.

--quick builds a small version for tests: 10 originals (8 photos + 2 original screenshots),
6 distractors, 3 original videos (the shortest shared one and two 6 s pans), 1 unrelated pan.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image

from benchmarks import transforms as tf

Record = dict[str, Any]

SUBDIRS = ("originals", "queries", "unrelated")
_EXT = {"PNG": "png", "JPEG": "jpg"}  # what a chat frame saves as


class DatasetError(Exception):
    """The dataset cannot be built (missing shared data, unusable output folder)."""


def shared_dir() -> Path:
    """The read-only shared folder beside the repository (env STOPSPREAD_SHARED overrides)."""
    default = Path(__file__).resolve().parents[1] / ".." / "shared"
    return Path(os.environ.get("STOPSPREAD_SHARED", default)).resolve()


@dataclass(frozen=True)
class Plan:
    """Sizes of one build; FULL and QUICK below."""

    originals: int  # original images, screenshot originals included
    screenshot_originals: int
    distractors: int | None  # None: all the remaining photos
    shared_videos: int | None  # None: all; else the shortest ones
    pan_originals: int
    pan_unrelated: int
    pan_seconds: tuple[float, float]
    pan_sizes: tuple[tuple[int, int], ...]
    unrelated_image_families: int | None  # per distractor; None: all
    unrelated_video_families: int
    max_photo_side: int | None = None  # quick: photos are shrunk to this long side first


FULL = Plan(100, 10, None, None, 12, 12, (10.0, 14.0), ((1280, 720), (1280, 720), (720, 1280)), None, 3)
QUICK = Plan(10, 2, 6, 1, 2, 1, (6.0, 6.0), ((320, 180),), 3, 2, max_photo_side=640)


def _rng(seed: int, *parts: object) -> random.Random:
    """A generator for one file: str seeds are hashed with SHA-512, stable across runs."""
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def _frame_seed(seed: int, original: str, n: int) -> int:
    return _rng(seed, "chat-frame", original, n).getrandbits(32)


def _record(
    path: Path,
    out: Path,
    role: str,
    kind: str,
    family: str | None,
    original: str | None,
    params: dict,
) -> Record:
    return {
        "path": path.relative_to(out).as_posix(),
        "role": role,
        "kind": kind,
        "family": family,
        "original": original,
        "params": params,
    }


def _load(path: Path, max_side: int | None = None) -> Image.Image:
    with Image.open(path) as im:
        img = im.convert("RGB")
    if max_side is not None and max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


def _put_photo(src: Path, dst: Path, max_side: int | None) -> None:
    """Copy a shared photo into the dataset (quick: shrunk, JPEG q 90)."""
    if max_side is None:
        shutil.copyfile(src, dst)
    else:
        _load(src, max_side).save(dst, "JPEG", quality=90)


# ---- jobs (run in worker processes; each returns its manifest records) ---------------------


def job_image(
    out: Path,
    stem: Path,
    src: Path,
    family: str,
    rng_parts: tuple,
    seed: int,
    role: str,
    original: str | None,
    extra: dict,
    frame_seed: int | None,
) -> list[Record]:
    frame = tf.ChatFrame.from_seed(frame_seed) if frame_seed is not None else None
    fwd = tf.forward_image(family, _load(src), _rng(seed, *rng_parts), chat_frame=frame)
    path = stem.with_name(f"{stem.name}.{fwd.ext}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fwd.data)
    params = {**extra, **fwd.params()}
    if frame_seed is not None:
        params["frame_seed"] = frame_seed
    return [_record(path, out, role, "image", family, original, params)]


def job_framed(
    out: Path,
    stem: Path,
    src: Path,
    frame_seed: int,
    role: str,
    family: str | None,
    original: str | None,
    extra: dict,
    max_side: int | None,
) -> list[Record]:
    """A photo inside the fixed chat frame F0 (original screenshots and their unrelated twins)."""
    frame = tf.ChatFrame.from_seed(frame_seed, layout="whatsapp")
    photo = _load(src, max_side)
    fwd = tf.forward_image("screenshot", photo, random.Random(0), chat_frame=frame)
    path = stem.with_name(f"{stem.name}.{fwd.ext}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fwd.data)
    params = {**extra, "frame_seed": frame_seed, **fwd.params()}
    return [_record(path, out, role, "image", family, original, params)]


def job_pan(
    out: Path,
    path: Path,
    photo: Path,
    rng_parts: tuple,
    seed: int,
    seconds: float,
    size: tuple[int, int],
    role: str,
    original: str | None,
    extra: dict,
) -> list[Record]:
    params = tf.make_pan_video(photo, path, _rng(seed, *rng_parts), seconds=seconds, size=size)
    return [_record(path, out, role, "video", None, original, {**extra, "source": "pan", **params})]


def job_video(
    out: Path,
    path: Path,
    src: Path,
    family: str,
    rng_parts: tuple,
    seed: int,
    role: str,
    original: str | None,
    extra: dict,
    fillers: tuple[Path, ...],
) -> list[Record]:
    params = tf.forward_video(family, src, path, _rng(seed, *rng_parts), fillers=fillers)
    return [_record(path, out, role, "video", family, original, {**extra, **params})]


def _call(job: Callable[[], list[Record]]) -> list[Record]:
    return job()


def _run(jobs: Sequence[Callable[[], list[Record]]], workers: int, label: str) -> list[Record]:
    records: list[Record] = []
    if not jobs:
        return records
    t0 = time.monotonic()
    if workers <= 1:
        for i, job in enumerate(jobs, 1):
            records += job()
            _progress(label, i, len(jobs), t0)
        return records
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ctx.Pool(workers) as pool:
        for i, recs in enumerate(pool.imap_unordered(_call, jobs), 1):
            records += recs
            _progress(label, i, len(jobs), t0)
    return records


def _progress(label: str, i: int, n: int, t0: float) -> None:
    if i == n or i % 50 == 0:
        print(f"  {label}: {i}/{n} ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)


# ---- the build -----------------------------------------------------------------------------


def _prepare_out(out: Path, force: bool) -> None:
    existing = [out / d for d in SUBDIRS if (out / d).exists()] + [
        p for p in (out / "manifest.jsonl", out / "summary.json") if p.exists()
    ]
    if existing and not force:
        raise DatasetError(f"{out} already holds a dataset; pass --force to rebuild it")
    for p in existing:
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    out.mkdir(parents=True, exist_ok=True)


def build(
    out: Path,
    *,
    seed: int = 7,
    copies: int = 1,
    videos: bool = True,
    quick: bool = False,
    workers: int = 2,
    force: bool = False,
    shared: Path | None = None,
) -> dict[str, Any]:
    """Build the dataset in ``out``; return the summary (also written to summary.json)."""
    t_start = time.monotonic()
    plan = QUICK if quick else FULL
    shared = shared or shared_dir()
    media = shared / "data" / "media"
    photos = sorted((media / "images").glob("*.jpg"))
    shared_videos = sorted((media / "videos").glob("*.mp4"))
    if len(photos) < plan.originals + 10 or (videos and not shared_videos):
        raise DatasetError(f"shared media not found or incomplete under {media}; set STOPSPREAD_SHARED")
    if copies < 1:
        raise DatasetError("--copies-per-family must be at least 1")
    out = out.resolve()
    _prepare_out(out, force)

    by_id = {p.stem: p for p in photos}
    order = sorted(by_id)
    random.Random(f"{seed}:split").shuffle(order)
    pool_orig = order[: plan.originals]
    distractors = order[plan.originals :]
    if plan.distractors is not None:
        distractors = distractors[: plan.distractors]
    shot_src = pool_orig[: plan.screenshot_originals]
    bare = sorted(pool_orig[plan.screenshot_originals :])
    distractors = sorted(distractors)
    fixed_frame_seed = _rng(seed, "fixed-frame").getrandbits(32)

    records: list[Record] = []
    shrunk = {} if plan.max_photo_side is None else {"shrunk_to": plan.max_photo_side}
    images_o = out / "originals" / "images"
    images_o.mkdir(parents=True)
    for pid in bare:
        dst = images_o / f"{pid}.jpg"
        _put_photo(by_id[pid], dst, plan.max_photo_side)
        records.append(
            _record(
                dst,
                out,
                "original",
                "image",
                None,
                pid,
                {"source": "shared", "file": f"images/{pid}.jpg", **shrunk},
            )
        )
    plain_u = out / "unrelated" / "images" / "plain"
    plain_u.mkdir(parents=True)
    for did in distractors:
        dst = plain_u / f"{did}.jpg"
        _put_photo(by_id[did], dst, plan.max_photo_side)
        records.append(
            _record(
                dst,
                out,
                "unrelated",
                "image",
                None,
                None,
                {"distractor": did, "file": f"images/{did}.jpg", **shrunk},
            )
        )

    phase_a: list[Callable[[], list[Record]]] = []
    phase_b: list[Callable[[], list[Record]]] = []

    # the photos as this dataset holds them (what every copy is made from)
    local = {pid: images_o / f"{pid}.jpg" for pid in bare} | {
        did: plain_u / f"{did}.jpg" for did in distractors
    }

    # original screenshots (fixed frame F0) and unrelated screenshots in the same frame
    shot_ids = [f"shot_{pid}" for pid in shot_src]
    for pid, sid in zip(shot_src, shot_ids, strict=True):
        phase_a.append(
            partial(
                job_framed,
                out,
                images_o / sid,
                by_id[pid],
                fixed_frame_seed,
                "original",
                None,
                sid,
                {"source": "chat_screenshot", "photo": pid},
                plan.max_photo_side,
            )
        )
    fixed_frame = tf.ChatFrame.from_seed(fixed_frame_seed, layout="whatsapp")
    shot_paths = [f"originals/images/{sid}.{_EXT[fixed_frame.save_format]}" for sid in shot_ids]
    fixed_twins = distractors[: plan.screenshot_originals]
    for did in fixed_twins:
        stem = out / "unrelated" / "images" / "screenshot_fixed_frame" / f"{did}__0"
        phase_a.append(
            partial(
                job_framed,
                out,
                stem,
                local[did],
                fixed_frame_seed,
                "unrelated",
                "screenshot_fixed_frame",
                None,
                {"distractor": did, "same_frame_as": shot_paths},
                None,
            )
        )

    # video originals and unrelated pans
    video_originals: list[tuple[str, Path]] = []
    unrelated_pans: list[tuple[str, Path]] = []
    if videos:
        videos_o = out / "originals" / "videos"
        videos_o.mkdir(parents=True)
        chosen = shared_videos
        if plan.shared_videos is not None:
            chosen = sorted(shared_videos, key=lambda p: (tf.video_info(p).duration, p.name))[
                : plan.shared_videos
            ]
        for src in sorted(chosen):
            dst = videos_o / src.name
            shutil.copyfile(src, dst)
            video_originals.append((src.stem, dst))
            records.append(
                _record(
                    dst,
                    out,
                    "original",
                    "video",
                    None,
                    src.stem,
                    {"source": "shared", "file": f"videos/{src.name}"},
                )
            )
        pan_rng = _rng(seed, "pan-plan")
        pan_o = sorted(pan_rng.sample(bare, plan.pan_originals))
        pan_u = sorted(pan_rng.sample(distractors, plan.pan_unrelated))
        for pid in pan_o:
            vid = f"pan_{pid}"
            dst = videos_o / f"{vid}.mp4"
            seconds, size = pan_rng.uniform(*plan.pan_seconds), pan_rng.choice(plan.pan_sizes)
            phase_a.append(
                partial(
                    job_pan,
                    out,
                    dst,
                    local[pid],
                    ("pan", vid),
                    seed,
                    seconds,
                    size,
                    "original",
                    vid,
                    {"photo_original": pid},
                )
            )
            video_originals.append((vid, dst))
        for did in pan_u:
            vid = f"pan_{did}"
            dst = out / "unrelated" / "videos" / "plain" / f"{vid}.mp4"
            seconds, size = pan_rng.uniform(*plan.pan_seconds), pan_rng.choice(plan.pan_sizes)
            phase_a.append(
                partial(
                    job_pan,
                    out,
                    dst,
                    local[did],
                    ("pan", vid),
                    seed,
                    seconds,
                    size,
                    "unrelated",
                    None,
                    {"distractor": did},
                )
            )
            unrelated_pans.append((vid, dst))

    # image queries
    originals_all = sorted([*bare, *shot_ids])
    for oid in originals_all:
        is_shot = oid.startswith("shot_")
        for family in tf.IMAGE_FAMILY_NAMES:
            for n in range(copies):
                stem = out / "queries" / "images" / family / f"{oid}__{n}"
                fs = _frame_seed(seed, oid, n) if family == "screenshot" else None
                # a screenshot original is read once rendered, in phase 1
                photo = None if is_shot else local[oid]
                job = partial(_image_query, out, stem, oid, family, n, seed, fs, images_o, photo)
                (phase_b if is_shot else phase_a).append(job)

    # unrelated images: every distractor through every family (or a rotating subset)
    fams = tf.IMAGE_FAMILY_NAMES
    for i, did in enumerate(distractors):
        k = plan.unrelated_image_families or len(fams)
        chosen_f = [fams[(i * k + j) % len(fams)] for j in range(k)] if k < len(fams) else list(fams)
        for family in chosen_f:
            for n in range(copies):
                stem = out / "unrelated" / "images" / family / f"{did}__{n}"
                extra: dict[str, Any] = {"distractor": did}
                fs = None
                if family == "screenshot":
                    twin = originals_all[i % len(originals_all)]
                    fs = _frame_seed(seed, twin, n)
                    ext = _EXT[tf.ChatFrame.from_seed(fs).save_format]
                    extra["same_frame_as"] = f"queries/images/screenshot/{twin}__{n}.{ext}"
                phase_a.append(
                    partial(
                        job_image,
                        out,
                        stem,
                        local[did],
                        family,
                        ("unrelated", did, family, n),
                        seed,
                        "unrelated",
                        None,
                        extra,
                        fs,
                    )
                )

    # video queries and unrelated video copies (after the pans exist)
    if videos:
        fillers = tuple([local[d] for d in distractors] + [p for _, p in unrelated_pans])
        vfams = tf.VIDEO_FAMILY_NAMES
        for vid, src in video_originals:
            for family in vfams:
                for n in range(copies):
                    dst = out / "queries" / "videos" / family / f"{vid}__{n}.mp4"
                    phase_b.append(
                        partial(
                            job_video,
                            out,
                            dst,
                            src,
                            family,
                            ("query", vid, family, n),
                            seed,
                            "query",
                            vid,
                            {},
                            fillers,
                        )
                    )
        for i, (vid, src) in enumerate(unrelated_pans):
            k = plan.unrelated_video_families
            for family in [vfams[(i * k + j) % len(vfams)] for j in range(k)]:
                dst = out / "unrelated" / "videos" / family / f"{vid}__0.mp4"
                phase_b.append(
                    partial(
                        job_video,
                        out,
                        dst,
                        src,
                        family,
                        ("unrelated", vid, family, 0),
                        seed,
                        "unrelated",
                        None,
                        {"distractor": vid.removeprefix("pan_")},
                        fillers,
                    )
                )

    # longest jobs first, for two workers to finish together
    phase_a.sort(key=_cost, reverse=True)
    phase_b.sort(key=_cost, reverse=True)
    print(
        f"building {out} (seed {seed}, {workers} workers): {len(phase_a)} + {len(phase_b)} jobs",
        file=sys.stderr,
    )
    records += _run(phase_a, workers, "phase 1/2 (images, pans)")
    records += _run(phase_b, workers, "phase 2/2 (screenshot originals' queries, videos)")
    records.sort(key=lambda r: r["path"])
    with (out / "manifest.jsonl").open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n")

    elapsed = time.monotonic() - t_start
    counts: Counter[str] = Counter(f"{r['role']}/{r['kind']}/{r['family'] or '-'}" for r in records)
    summary = {
        "seed": seed,
        "quick": quick,
        "copies_per_family": copies,
        "videos": videos,
        "workers": workers,
        "seconds": round(elapsed, 1),
        "files": len(records),
        "counts": dict(sorted(counts.items())),
        "originals": {"images": originals_all, "videos": sorted(v for v, _ in video_originals)},
        "distractors": distractors,
        "original_screenshots": {
            "frame_seed": fixed_frame_seed,
            "photos": dict(zip(shot_ids, shot_src, strict=True)),
        },
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _image_query(
    out: Path,
    stem: Path,
    oid: str,
    family: str,
    n: int,
    seed: int,
    frame_seed: int | None,
    images_o: Path,
    src: Path | None,
) -> list[Record]:
    if src is None:  # a screenshot original: its file, rendered in phase 1
        src = next(images_o.glob(f"{oid}.*"))
    return job_image(out, stem, src, family, ("query", oid, family, n), seed, "query", oid, {}, frame_seed)


_COST = {
    "job_pan": 40.0,
    "job_video": 10.0,
    "job_framed": 1.0,
    "job_image": 1.0,
    "_image_query": 1.0,
}
_VIDEO_COST = {"compilation": 3.0, "screen_record": 2.0, "reencode": 0.7, "trim": 0.5}


def _cost(job: Callable[[], list[Record]]) -> float:
    name = getattr(getattr(job, "func", None), "__name__", "")
    cost = _COST.get(name, 1.0)
    if name == "job_video":
        cost *= _VIDEO_COST.get(job.args[3], 1.0)  # type: ignore[attr-defined]
    return cost


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--copies-per-family", type=int, default=1, dest="copies")
    ap.add_argument("--videos", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--quick", action="store_true", help="a small dataset for tests")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--force", action="store_true", help="replace a dataset already in --out")
    args = ap.parse_args(argv)
    try:
        summary = build(
            args.out,
            seed=args.seed,
            copies=args.copies,
            videos=args.videos,
            quick=args.quick,
            workers=args.workers,
            force=args.force,
        )
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for key, n in summary["counts"].items():
        print(f"{n:6d}  {key}")
    print(f"{summary['files']} files in {summary['seconds']} s -> {args.out / 'manifest.jsonl'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
