"""Hash-list import/export: every format round-trips, real-shaped files read, bad input explains."""

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stopspread.cli import app
from stopspread.fingerprint import FrameFingerprint, ImageFingerprint, VideoFingerprint
from stopspread.listio import FORMATS, ReadReport, detect_format, read_records, write_records
from stopspread.records import ListFormatError, ListRecord

DATA = Path(__file__).parent / "data" / "listio"
PDQ_A = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
PDQ_B = "e4cc89d91c623842f8d1f1d9a398e78c9f199a3bf87925f2b7e11e0bf061b064"
MD5 = "0a21c8f85a55a9e276ffc2c53f6887c4"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SUFFIX = {"stopspread": ".jsonl", "hma-jsonl": ".jsonl", "vics": ".json", "pdq-csv": ".txt"}


def _image(record_id: str, pdq: str | None = PDQ_A, md5: str | None = None, sha256: str | None = None):
    image = ImageFingerprint(pdq, 100) if pdq else None
    return ListRecord(record_id, "image", md5, sha256, image=image)


def _video(record_id: str) -> ListRecord:
    frames = [FrameFingerprint(0.0, PDQ_A, 100), FrameFingerprint(1.5, PDQ_B, 80)]
    return ListRecord(record_id, "video", MD5, None, video=VideoFingerprint(0.0, frames))


def _json(records) -> list[dict]:
    return [record.to_json() for record in records]


# What each format can carry, so that "the same records" means the same thing for all of them.
ROUND_TRIP = {
    "stopspread": [_image("a"), _image("b", None, MD5, SHA256), _video("v")],
    "hma-csv": [_image("a"), _image("b", PDQ_B, MD5, SHA256), _image("c", None, MD5), _video("v")],
    "hma-jsonl": [_image("a"), _image("b", PDQ_B, MD5, SHA256), _image("c", None, MD5), _video("v")],
    # The ThreatExchange dataset CSV has no id column: ids come back as the hash.
    "threatexchange-csv": [_image(PDQ_A), _image(MD5, None, MD5), _image(SHA256, None, None, SHA256)],
    "pdq-csv": [_image("photos/a.jpg"), _image("b, with comma.png", PDQ_B)],
    "vics": [_image("1", PDQ_A, MD5, SHA256), _image("case-7", None, MD5), _image("3", PDQ_B)],
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_round_trips(tmp_path, fmt):
    records = ROUND_TRIP[fmt]
    path = tmp_path / f"list{SUFFIX.get(fmt, '.csv')}"
    assert write_records(records, path, fmt) == len(records)
    assert detect_format(path) == fmt
    # Compared as JSON: fingerprints hold numpy arrays, which dataclass equality cannot compare.
    assert _json(read_records(path, fmt)) == _json(records)
    assert _json(read_records(path)) == _json(records)  # and with the format sniffed


def test_write_to_a_stream():
    out = io.StringIO()
    write_records([_image("a", PDQ_A, MD5)], out, "hma-csv")
    assert out.getvalue().splitlines() == [
        "signal_type,signal_value,content_id",
        f"pdq,{PDQ_A},a",
        f"md5,{MD5},a",
    ]


def test_hma_bank_csv_groups_rows_of_one_content_id():
    records = list(read_records(DATA / "hma_bank.csv"))
    assert [r.id for r in records] == ["case-17-a", "case-17-b", "case-17-c"]
    video = records[2]
    assert video.kind == "video" and video.md5 == MD5
    assert [(f.t, f.pdq, f.quality) for f in video.video.frames] == [(0.0, PDQ_A, 100), (1.0, PDQ_B, 90)]


def test_threatexchange_dataset_csv_counts_signal_types_it_cannot_match():
    report = ReadReport()
    records = list(read_records(DATA / "tx_dataset.csv", report=report))
    assert [(r.kind, r.id) for r in records] == [
        ("image", "acecf3355e3125c8e24e2f30e0d4ec4f8482b878b3c34cdbdf063278db275992"),
        ("image", "8fb70f36e1c4181e82fde7d0f80138430e1e31f07b628e31ccbb687e87e1f307"),
        ("video", "9ffbb242d27f51a14e9c3633abead255"),
    ]
    assert report.records == 3 and report.skipped == {"signal type 'url'": 1}


def test_threatexchange_simple_rows_as_hma_ships_them():
    assert detect_format(DATA / "te_simple.csv") == "threatexchange-csv"
    records = list(read_records(DATA / "te_simple.csv"))
    assert [r.id for r in records] == ["2880742865368386", "2888629371260007"]
    assert records[0].image.pdq.startswith("acecf335")


def test_pdq_tool_output_and_conformance_csv():
    assert detect_format(DATA / "pdq_photo_hasher.txt") == "pdq-csv"
    records = list(read_records(DATA / "pdq_photo_hasher.txt"))
    assert [(r.id, r.image.quality) for r in records] == [
        ("pdq/data/bridge-mods/aaa-orig.jpg", 100),
        ("pdq/data/misc-images/small.jpg", 0),
        ("pdq/data/misc-images/c, with comma.png", 100),
    ]
    both = list(read_records(DATA / "pdqmd5.csv"))
    assert both[0].image.pdq == PDQ_A and both[1].md5 == MD5 and both[1].image is None


def test_bare_hashes_and_dihedral_rows_keep_every_hash(tmp_path):
    bare = tmp_path / "hashes.txt"
    bare.write_text(f"{PDQ_A}\n\n{PDQ_B.upper()}\n")
    assert [r.id for r in read_records(bare)] == [PDQ_A, PDQ_B]
    # --pdqdih prints several hashes for one file: one record each, none lost to a shared id.
    dihedral = tmp_path / "dih.txt"
    dihedral.write_text(f"{PDQ_A},100,x.jpg\n{PDQ_B},100,x.jpg\n")
    assert [r.id for r in read_records(dihedral)] == ["x.jpg", "x.jpg#2"]


def test_hma_jsonl_reads_bank_member_signals_and_banked_content():
    records = list(read_records(DATA / "hma_signals.jsonl"))
    assert [(r.id, r.kind) for r in records] == [("m-1", "image"), ("m-2", "video"), ("1234", "image")]
    assert records[2].image.pdq == PDQ_B and records[2].sha256 == SHA256


def test_vics_hash_set_skips_what_stopspread_cannot_match_and_says_so(caplog):
    report = ReadReport()
    records = list(read_records(DATA / "vics_hashset.json", report=report))
    assert [(r.id, r.md5, r.image.pdq if r.image else None) for r in records] == [
        ("1", "adebf3fa3c9be7f73825e1cb9e2dea09", None),
        ("3", "7815696ecbf1c96e6894b779456d330e", PDQ_A),
    ]
    assert report.skipped == {"vics entry with only SHA-1/PhotoDNA": 1}
    assert report.ignored == {"PhotoDNA": 1, "SHA-1": 1}
    assert "vics_hashset.json" in caplog.text and "PhotoDNA" in caplog.text


def test_vics_1_case_export():
    assert detect_format(DATA / "vics_case_v1.json") == "vics"
    [record] = read_records(DATA / "vics_case_v1.json")
    assert (record.id, record.kind, record.md5) == ("10", "video", MD5)


def test_vics_export_names_pdq_as_an_alternative_hash(tmp_path):
    path = tmp_path / "out.json"
    write_records([_image("7", PDQ_A, MD5, SHA256)], path, "vics")
    document = json.loads(path.read_text())
    assert document["@odata.context"].endswith("2.0.xml/CUSTOM/$metadata#Media")
    assert document["value"] == [
        {
            "MediaID": 7,
            "MD5": MD5.upper(),
            "AlternativeHashes": [
                {"HashName": "SHA256", "HashValue": SHA256},
                {"HashName": "PDQ", "HashValue": PDQ_A},
            ],
        }
    ]


@pytest.mark.parametrize(
    ("name", "text", "where", "message"),
    [
        ("l.csv", f"signal_type,signal_value\npdq,{PDQ_A}\npdq,abc\n", "l.csv:3", "64 hex"),
        ("l.csv", f"signal_type,signal_value,content_id\nmd5,{PDQ_A},x\n", "l.csv:2", "32 hex"),
        ("l.csv", "signal_type,content_id\npdq,x\n", "l.csv:1", "signal_value"),
        ("l.csv", f"signal_type,signal_value\npdq,{PDQ_A},extra\n", "l.csv:2", "columns"),
        ("l.csv", 'signal_type,signal_value\nvpdq,"[""zz,1,0""]"\n', "l.csv:2", "64 hex"),
        ("l.txt", f"{PDQ_A},100,a.jpg\n{PDQ_A},high,b.jpg\n", "l.txt:2", "invalid literal"),
        ("l.jsonl", f'{{"signal_type": "md5", "signal_value": "{MD5}"}}\n{{nope\n', "l.jsonl:2", "Expecting"),
        ("l.jsonl", '{"signal_type": "pdq"}\n', "l.jsonl:1", "signal_value"),
        ("l.json", '{"@odata.context": "x",\n "value": [\n  {"MediaID": 1, "MD5": "xy"}]}', "l.json:3", "32"),
        ("l.json", '{"@odata.context": "x",\n "value": [\n\n  {"MediaID": 1}]}', "l.json:4", "no MD5"),
        ("l.json", '{"@odata.context": "x", "value": [}', "l.json:1", "not JSON"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, name, text, where, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ListFormatError, match=message) as caught:
        list(read_records(path))
    assert where in str(caught.value)


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b'{"id": "a", "pdq": "' + PDQ_A.encode() + b'"}\n', "stopspread"),
        (b'{"id": "a.jpg", "error": "corrupt"}\n', "stopspread"),
        (b'{"signal_type": "pdq", "signal_value": "x"}\n', "hma-jsonl"),
        (b'\xef\xbb\xbf{\r\n  "odata.metadata": "http://github.com/ICMEC/ProjectVic/', "vics"),
        (b"signal_type,signal_value,content_id\n", "hma-csv"),
        (b"collab,signal_type,signal_str,category,tags\n", "threatexchange-csv"),
        (PDQ_A.encode() + b",100,a.jpg\n", "pdq-csv"),
        (b"FilePath,Hash\n", "pdq-csv"),
    ],
)
def test_format_sniffing(head, fmt):
    assert detect_format(head) == fmt


def test_unknown_formats_are_a_clear_error(tmp_path):
    with pytest.raises(ListFormatError, match=r"cannot tell the hash list format.*stopspread, hma-csv"):
        detect_format(b"<html><body>not a list</body></html>")
    path = tmp_path / "list.csv"
    path.write_text("name,colour\nx,red\n")
    with pytest.raises(ListFormatError, match=r"list\.csv: cannot tell"):
        list(read_records(path))
    with pytest.raises(ListFormatError, match="unknown list format 'csv'"):
        write_records([], tmp_path / "x", "csv")


def test_writers_refuse_records_a_format_cannot_carry(tmp_path):
    with pytest.raises(ListFormatError, match=r"'v'.*image PDQ only"):
        write_records([_video("v")], tmp_path / "x.txt", "pdq-csv")
    frames_only = ListRecord("w", "video", video=_video("w").video)
    with pytest.raises(ListFormatError, match=r"'w'.*VICS carries"):
        write_records([frames_only], tmp_path / "x.json", "vics")


def test_a_list_exported_to_hma_csv_is_scanned_by_the_cli(tmp_path, shared_dir):
    """Export the PDQ conformance list to HMA CSV, then `stopspread scan --against` that CSV."""
    folder = shared_dir / "data" / "pdq-conformance"
    exported = tmp_path / "bank.csv"
    write_records(read_records(folder / "reference.jsonl"), exported, "hma-csv")
    assert exported.read_text().startswith("signal_type,signal_value,content_id\npdq,")
    source = folder / "images" / "bridge-mods__aaa-orig.jpg"
    out = tmp_path / "matches.jsonl"
    result = CliRunner().invoke(
        app, ["scan", str(source), "--against", str(exported), "-o", str(out), "-j", "1"]
    )
    assert result.exit_code == 0, result.output
    [record] = [json.loads(line) for line in out.read_text().splitlines()]
    assert source.name in [m["id"] for m in record["matches"]]


def test_a_screenshot_region_pdq_is_exported_as_a_record_of_its_own(tmp_path):
    shot = ListRecord("s", "image", image=ImageFingerprint(PDQ_A, 90, (0.1, 0.1, 0.9, 0.8), PDQ_B, 70))
    path = tmp_path / "bank.csv"
    write_records([shot], path, "hma-csv")
    assert [(r.id, r.image.pdq) for r in read_records(path)] == [("s", PDQ_A), ("s#region", PDQ_B)]
