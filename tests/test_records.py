"""Hash-list records: full ones round-trip, minimal HMA/StopNCII ones are read, bad ones explain."""

import json

import numpy as np
import pytest
from PIL import Image

from stopspread.errors import InvalidSignalError
from stopspread.fingerprint import FrameFingerprint, VideoFingerprint, fingerprint_image
from stopspread.records import ListFormatError, ListRecord, read_list, record_from_json

PDQ = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"


def test_full_image_record_round_trips(media_images):
    luma = np.asarray(Image.open(media_images[0]).convert("L"), dtype=np.float32)
    record = ListRecord("a.jpg", "image", "0" * 32, "1" * 64, image=fingerprint_image(luma))
    again = record_from_json(json.loads(json.dumps(record.to_json())))
    assert again.to_json() == record.to_json()
    assert len(again.image.local) > 100


def test_video_record_round_trips():
    video = VideoFingerprint(3.0, [FrameFingerprint(float(t), PDQ, 80) for t in range(3)])
    record = ListRecord("v.mp4", "video", video=video)
    assert record_from_json(record.to_json()) == record


def test_minimal_pdq_record_is_an_image():
    record = record_from_json({"id": "hma-1", "pdq": PDQ.upper()})
    assert record.kind == "image" and record.image.pdq == PDQ and record.image.region is None


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        ({"pdq": PDQ}, ListFormatError, "id"),
        ({"id": "x"}, ListFormatError, "no fingerprint"),
        ({"id": "x", "pdq": "abc"}, InvalidSignalError, "64 hex"),
        ({"id": "x", "kind": "audio", "md5": "0" * 32}, ListFormatError, "unknown kind"),
        ({"id": "x", "pdq": PDQ, "local": "%%%"}, InvalidSignalError, "local"),
    ],
)
def test_bad_records_say_what_is_wrong(data, error, message):
    with pytest.raises(error, match=message):
        record_from_json(data)


def test_read_list_skips_error_records_and_names_the_bad_line(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps({"id": "a", "pdq": PDQ}) + "\n\n" + json.dumps({"id": "b", "error": "corrupt"}) + "\n"
    )
    assert [r.id for r in read_list(good)] == ["a"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "pdq": PDQ}) + "\n{not json\n")
    with pytest.raises(ListFormatError, match=r"bad.jsonl:2"):
        list(read_list(bad))
