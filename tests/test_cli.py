"""The command line as a platform engineer uses it: hash, scan, match, and what goes wrong."""

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from stopspread.cli import _output, _run_parallel, app

runner = CliRunner()


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def originals(tmp_path_factory, media_images) -> Path:
    folder = tmp_path_factory.mktemp("originals")
    for path in media_images[:6]:
        shutil.copy(path, folder / path.name)
    nested = folder / "nested"
    nested.mkdir()
    shutil.copy(media_images[6], nested / "copy.png.jpg")  # a JPEG whatever its name says
    return folder


def test_hash_writes_one_record_per_file_and_survives_bad_ones(tmp_path, originals):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "notes.jpg").write_text("not an image at all")
    truncated = (originals / sorted(p.name for p in originals.glob("*.jpg"))[0]).read_bytes()
    (bad / "truncated.jpg").write_bytes(truncated[: len(truncated) // 3])
    out = tmp_path / "list.jsonl"
    result = runner.invoke(app, ["hash", str(originals), str(bad), "-o", str(out), "--jobs", "2"])
    assert result.exit_code == 1, result.output
    records = _lines(out)
    assert len(records) == 10
    good = [r for r in records if "error" not in r]
    errors = {Path(r["id"]).name: r["error"] for r in records if "error" in r}
    assert len(good) == 7 and all(r["kind"] == "image" and len(r["pdq"]) == 64 and r["local"] for r in good)
    assert set(errors) == {"empty.jpg", "notes.jpg", "truncated.jpg"}
    assert all(message for message in errors.values())
    assert not list(tmp_path.glob("*.partial"))


def test_scan_finds_forwarded_copies_and_nothing_else(tmp_path, originals, media_images):
    listing = tmp_path / "list.jsonl"
    assert runner.invoke(app, ["hash", str(originals), "-o", str(listing), "-j", "1"]).exit_code == 0
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    source = sorted(originals.glob("*.jpg"))[2]
    photo = Image.open(source)
    w, h = photo.size
    photo.crop((w // 10, 0, w, h - h // 8)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
        uploads / "forward.webp"
    )
    Image.open(media_images[40]).save(uploads / "stranger.jpg", quality=60)
    out = tmp_path / "matches.jsonl"
    result = runner.invoke(app, ["scan", str(uploads), "--against", str(listing), "-o", str(out), "-j", "1"])
    assert result.exit_code == 0, result.output
    by_name = {Path(r["path"]).name: r for r in _lines(out)}
    assert [m["id"] for m in by_name["forward.webp"]["matches"]] == [str(source)]
    assert by_name["stranger.jpg"]["matches"] == []


def test_scan_matches_meta_reference_hashes_for_every_good_image(tmp_path, shared_dir):
    """Interoperability: lists made by Meta's reference PDQ work as --against lists."""
    folder = shared_dir / "data" / "pdq-conformance"
    out = tmp_path / "matches.jsonl"
    result = runner.invoke(
        app,
        [
            "scan",
            str(folder / "images"),
            "--against",
            str(folder / "reference.jsonl"),
            "-o",
            str(out),
            "-j",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    low_quality = {
        "misc-images__small.jpg",
        "reg-test-input__labelme-subset__q0003.jpg",
        "reg-test-input__labelme-subset__q0004.jpg",
    }
    records = _lines(out)
    assert len(records) == 30
    for record in records:
        name = Path(record["path"]).name
        if name not in low_quality:
            assert name in [m["id"] for m in record["matches"]], record


def test_match_reads_bare_hex_and_json_lines(tmp_path):
    listing = tmp_path / "list.jsonl"
    pdq = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
    near = format(int(pdq, 16) ^ 0b111, "064x")
    listing.write_text(json.dumps({"id": "victim-1", "pdq": pdq}) + "\n")
    queries = tmp_path / "queries.txt"
    queries.write_text(f"{near}\n" + json.dumps({"id": "upload-9", "pdq": "0" * 64}) + "\nnot-a-hash\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["match", str(queries), "--against", str(listing), "-o", str(out)])
    assert result.exit_code == 1  # one bad line
    first, second, third = _lines(out)
    assert first == {"id": near, "matches": [{"id": "victim-1", "signal": "pdq", "distance": 3}]}
    assert second == {"id": "upload-9", "matches": []}
    assert "64 hex" in third["error"]


def test_an_unreadable_list_is_a_clear_error(tmp_path):
    listing = tmp_path / "list.jsonl"
    listing.write_text('{"id": "x", "pdq": "123"}\n')
    queries = tmp_path / "q.txt"
    queries.write_text("0" * 64 + "\n")
    result = runner.invoke(app, ["match", str(queries), "--against", str(listing)])
    assert result.exit_code == 3
    assert "list.jsonl:1" in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("stopspread ")


def test_folders_pass_over_files_that_are_not_media(tmp_path, media_images):
    (tmp_path / "README.md").write_text("# notes")
    (tmp_path / "manifest.csv").write_text("a,b\n")
    shutil.copy(media_images[0], tmp_path / "photo")  # no suffix, but a JPEG inside
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n")
    out = tmp_path / "list.jsonl"
    result = runner.invoke(app, ["hash", str(tmp_path), "-o", str(out), "-j", "1"])
    assert result.exit_code == 1
    names = {Path(r["id"]).name: r for r in _lines(out)}
    assert set(names) == {"photo", "broken.png"}
    assert "error" in names["broken.png"] and "error" not in names["photo"]


def _die_on_bad(path: Path) -> str:
    if path.name == "bad":
        os._exit(1)  # what a decoder crash looks like to the pool
    return path.name


def test_a_file_that_kills_its_worker_fails_alone(tmp_path):
    paths = [tmp_path / name for name in ("a", "bad", "c", "d")]
    results = list(_run_parallel(_die_on_bad, lambda path: "crashed", paths, 2, "testing"))
    assert results == [(paths[0], "a"), (paths[1], "crashed"), (paths[2], "c"), (paths[3], "d")]


def test_an_interrupted_output_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("previous\n")
    with pytest.raises(RuntimeError), _output(target) as out:
        out.write("half a record")
        raise RuntimeError("interrupted")
    assert target.read_text() == "previous\n"
    assert list(tmp_path.iterdir()) == [target]
