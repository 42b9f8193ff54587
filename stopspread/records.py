"""Hash-list records as JSON Lines: what `stopspread hash` writes and every `--against` reads.

A full record carries every fingerprint stopspread makes; a minimal ``{"id": …, "pdq": …}``
record (a list exported from HMA, ThreatExchange or StopNCII) is read as a PDQ-only image.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stopspread.errors import InvalidSignalError, StopspreadError
from stopspread.fingerprint import FrameFingerprint, ImageFingerprint, VideoFingerprint
from stopspread.signals.local import LocalFeatures
from stopspread.signals.types import Md5Signal, PdqSignal, Sha256Signal


class ListFormatError(StopspreadError):
    """A hash list line could not be read."""


@dataclass(frozen=True)
class ListRecord:
    id: str
    kind: str  # "image" | "video"
    md5: str | None = None
    sha256: str | None = None
    image: ImageFingerprint | None = None
    video: VideoFingerprint | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind}
        if self.md5:
            out["md5"] = self.md5
        if self.sha256:
            out["sha256"] = self.sha256
        if self.image is not None:
            out.update(_image_to_json(self.image))
        if self.video is not None:
            out["duration"] = self.video.duration
            out["frames"] = [_frame_to_json(f) for f in self.video.frames]
        return out


def _image_to_json(image: ImageFingerprint) -> dict[str, Any]:
    out: dict[str, Any] = {"pdq": image.pdq, "quality": image.quality}
    if image.region is not None:
        out["region"] = {
            "box": list(image.region),
            "pdq": image.region_pdq,
            "quality": image.region_quality,
        }
    if len(image.local):
        out["local"] = image.local.to_text()
    if len(image.interface):
        out["interface"] = image.interface.to_text()
    return out


def _frame_to_json(frame: FrameFingerprint) -> dict[str, Any]:
    out: dict[str, Any] = {"t": frame.t, "pdq": frame.pdq, "quality": frame.quality}
    if frame.local is not None and len(frame.local):
        out["local"] = frame.local.to_text()
    return out


def record_from_json(data: dict[str, Any]) -> ListRecord:
    """Parse one record; ``InvalidSignalError``/``ListFormatError`` say what is wrong with it."""
    if not isinstance(data, dict):
        raise ListFormatError("a record must be a JSON object")
    record_id = data.get("id")
    if not isinstance(record_id, str | int) or record_id == "":
        raise ListFormatError("a record needs a non-empty 'id'")
    kind = data.get("kind", "video" if "frames" in data else "image")
    md5 = Md5Signal.validate(data["md5"]) if data.get("md5") else None
    sha256 = Sha256Signal.validate(data["sha256"]) if data.get("sha256") else None
    if kind == "image":
        image = None
        if "pdq" in data:
            region = data.get("region")
            image = ImageFingerprint(
                pdq=PdqSignal.validate(data["pdq"]),
                quality=int(data.get("quality", 100)),
                region=tuple(float(v) for v in region["box"]) if region else None,  # type: ignore[arg-type]
                region_pdq=PdqSignal.validate(region["pdq"]) if region else None,
                region_quality=int(region.get("quality", 100)) if region else None,
                local=_local(data.get("local")),
                interface=_local(data.get("interface")),
            )
        if image is None and not (md5 or sha256):
            raise ListFormatError(f"record {record_id!r} has no fingerprint ('pdq', 'md5' or 'sha256')")
        return ListRecord(str(record_id), "image", md5, sha256, image=image)
    if kind == "video":
        frames = [
            FrameFingerprint(
                float(f["t"]),
                PdqSignal.validate(f["pdq"]),
                int(f.get("quality", 100)),
                _local(f.get("local")) if f.get("local") else None,
            )
            for f in data.get("frames", [])
        ]
        video = VideoFingerprint(float(data.get("duration", 0.0)), frames) if frames else None
        if video is None and not (md5 or sha256):
            raise ListFormatError(f"record {record_id!r} has no fingerprint ('frames', 'md5' or 'sha256')")
        return ListRecord(str(record_id), "video", md5, sha256, video=video)
    raise ListFormatError(f"record {record_id!r}: unknown kind {kind!r} (expected 'image' or 'video')")


def _local(text: str | None) -> LocalFeatures:
    if not text:
        return LocalFeatures.empty()
    try:
        return LocalFeatures.from_text(text)
    except ValueError as exc:
        raise InvalidSignalError(f"local: {exc}") from exc


def read_list(path: Path) -> Iterator[ListRecord]:
    """Records of a JSON Lines hash list; error records (from a failed hash) are skipped."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if isinstance(data, dict) and "error" in data and "pdq" not in data and "frames" not in data:
                    continue
                yield record_from_json(data)
            except (
                json.JSONDecodeError,
                InvalidSignalError,
                ListFormatError,
                KeyError,
                TypeError,
                ValueError,
            ) as exc:
                raise ListFormatError(f"{path}:{number}: {exc}") from exc
