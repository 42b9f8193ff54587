"""`stopspread detect` as an investigator or a platform engineer runs it."""

import json
from pathlib import Path

from typer.testing import CliRunner

from stopspread.cli import app
from stopspread.detect.batch import InputError, detect_payload

runner = CliRunner()

CHAT_ES = """\
12/03/2024, 21:05 - Los mensajes y las llamadas están cifrados de extremo a extremo.
12/03/2024, 21:05 - Ana: hola!! qué tal el examen
12/03/2024, 21:06 - Marcos: bien. oye, todavía tengo las fotos que me mandaste
12/03/2024, 21:07 - Ana: <Multimedia omitido>
13/03/2024, 22:10 - Marcos: pásame 100 euros por bizum o se las mando a tu madre
13/03/2024, 22:11 - Ana: no porfa
no tengo dinero
13/03/2024, 22:15 - Marcos: tienes hasta las 12 o todo el insti ve tus fotos
"""


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_jsonl_ids_are_echoed_or_positions_in_input_order(tmp_path):
    source = tmp_path / "in.jsonl"
    rows = [
        {"id": "m-1", "text": "send me the pics from the party!!"},
        {"text": "pay $200 in gift cards or your parents get the video"},
        {"id": 7, "text": "você tem que me mandar as fotos hoje à noite"},
        {"id": "m-4", "text": "jajaja"},
    ]
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["detect", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    records = _records(out)
    assert [r["id"] for r in records] == ["m-1", 1, 7, "m-4"]
    assert [r["label"] for r in records] == ["benign", "sextortion", "unsupported", "benign"]
    assert records[1]["category"] == "financial_extortion" and records[1]["evidence"]
    assert records[2]["score"] is None and records[2]["lang"] == "unsupported"
    assert all({"id", "label", "score", "category", "lang"} <= set(r) for r in records)
    assert "1 flagged as sextortion" in " ".join(result.output.split())


def test_whatsapp_export_gives_author_time_and_the_threatening_side(tmp_path):
    source = tmp_path / "chat.txt"
    source.write_text(CHAT_ES, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["detect", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    records = _records(out)
    assert [r["id"] for r in records] == list(range(7))
    assert records[0]["system"] is True and records[0]["label"] == "benign"
    assert records[3]["attachments"] == ["<omitted>"] and records[3]["label"] == "benign"
    assert records[4]["author"] == "Marcos" and records[4]["time"] == "2024-03-13T22:10:00"
    assert records[4]["label"] == records[6]["label"] == "sextortion"
    assert all(records[i]["label"] == "benign" for i in (1, 5))
    assert "threatening side: Marcos" in " ".join(result.output.split())


def test_bad_lines_get_error_records_and_the_rest_go_on(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"id": "a", "text": "hola"}\n{not json\n{"id": "c", "text": 5}\n{"id": "d", "text": "ok"}\n'
    )
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["detect", str(source), "-o", str(out)])
    assert result.exit_code == 1
    records = _records(out)
    assert [r["id"] for r in records] == ["a", 1, "c", "d"]
    assert "error" in records[1] and "error" in records[2]
    assert records[3]["label"] == "benign"


def test_empty_unknown_and_binary_inputs_fail_clearly(tmp_path):
    cases = {
        "empty.txt": b"",
        "notes.txt": b"just some notes\nnot a chat at all\n",
        "photo.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        result = runner.invoke(app, ["detect", str(path), "-o", str(tmp_path / "out.jsonl")])
        assert result.exit_code == 2, name
        assert "Cannot detect" in result.output, name
        assert not (tmp_path / "out.jsonl").exists()
    result = runner.invoke(app, ["detect", str(tmp_path / "missing.txt")])
    assert result.exit_code == 2 and "cannot read" in result.output


def test_service_payload():
    from stopspread.detect import Detector

    detector = Detector.load()
    answer = detect_payload(
        detector,
        {
            "messages": [
                {"id": "x", "text": "hey how was practice", "author": "A"},
                {
                    "id": "y",
                    "text": "send 300 on cashapp or your pics go on insta",
                    "author": "B",
                    "time": "2024-05-01T10:00:00",
                },
            ]
        },
    )
    assert [m["id"] for m in answer["messages"]] == ["x", "y"]
    assert answer["messages"][1]["label"] == "sextortion"
    assert answer["conversation"]["threatening_side"] == "B"
    assert answer["conversation"]["started_at"] == "2024-05-01T10:00:00"
    assert detect_payload(detector, {"text": "hola"})["messages"][0]["label"] == "benign"
    for bad in ({}, {"messages": "x"}, {"messages": [{"id": 1}]}, [1, 2]):
        try:
            detect_payload(detector, bad)
        except InputError:
            continue
        raise AssertionError(f"accepted {bad!r}")
