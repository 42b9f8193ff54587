"""Reading and writing hash lists in the formats the field exchanges them in.

``read_records`` turns a file of any supported format into ``ListRecord``s, validating every hash
with the signal types (PDQ 64 hex, MD5 32 hex, SHA-256 64 hex) and naming ``file:line`` for any bad
one; ``write_records`` writes records out. Nothing here touches a database.

Formats (``FORMATS``) and where their layouts come from (paths in github.com/facebook/ThreatExchange
unless said otherwise; layouts were read there, no code was copied):

``stopspread``
    The CLI's JSON Lines (``stopspread.records``): full records, or minimal ``{"id", "pdq"}`` ones.
``hma-csv``
    A CSV with a header naming ``signal_type`` and ``signal_value`` (or ``signal_str``, the name
    ``threatexchange dataset -P --csv`` uses, python-threatexchange/threatexchange/cli/dataset_cmd.py),
    optional id column (``content_id`` as HMA 2.0 names banked content in
    hasher-matcher-actioner/src/OpenMediaMatch/blueprints/curation.py, or ``id``, ``bank_member_id``,
    ``indicator_id``); other columns (``collab``, ``category``, ``tags``…) are ignored. Written as
    ``signal_type,signal_value,content_id``, one row per signal; consecutive rows with one id are
    one record.
``threatexchange-csv``
    Read like ``hma-csv``, plus the header-less rows ``hash,indicator id,updated time,tags`` of the
    ThreatExchange "simple" dataset that HMA ships as sample lists
    (hasher-matcher-actioner/sample_data/pdq.csv, examples/hma-lite/sample_data/photo_md5.csv).
    Written exactly as ``threatexchange dataset -P --csv`` prints
    (``collab,signal_type,signal_str,category,tags``, sample: python-threatexchange/threatexchange/
    pdq_samples.csv): that layout has no id, so ids come back as the hash.
``hma-jsonl``
    One JSON object per line, ``{"signal_type": "pdq", "signal_value": "…", "content_id": …}`` — the
    JSON of HMA's BankMemberSignal (hasher-matcher-actioner/hmalib/common/models/bank.py, whose
    ``bank_member_id`` is read as the id); HMA 2.0's banked-content reply ``{"id": …, "signals":
    {"pdq": "…", "video_md5": "…"}}`` (curation.py) is read too.
``pdq-csv``
    What Meta's PDQ tools print: ``hash,quality,filename`` rows (pdq/cpp/bin/pdq-photo-hasher.cpp;
    also its ``--details`` form ``hash=…,quality=…,filename=…``), bare hashes one per line, and the
    ``FilePath,Hash`` CSV of pdq/wasm/test/TestData/PDQMD5TestData.csv (32 hex there is an MD5).
    The file name is the id. Written as ``hash,quality,id``; only image PDQs fit.
``vics``
    Project VIC / VICS JSON: ``{"@odata.context" (2.0) or "odata.metadata" (1.x): …, "value": […]}``
    where ``value`` holds Media entries (a VICS 2.0 hash set) or Cases with a ``Media`` list. Field
    names (``MediaID``, ``MD5``, ``SHA1``, ``Category``, ``MimeType``, ``AlternativeHashes`` of
    ``{"HashName", "HashValue"}``; PhotoDNA travels as an AlternativeHashes entry named
    ``PhotoDNA``) follow the VICS exporters of public forensic tools found by the code search.
    stopspread writes a 2.0 Media list: ``MediaID`` (the record id, an integer when it is one),
    ``MD5``, and ``AlternativeHashes`` entries ``SHA256`` and ``PDQ`` (VICS has no PDQ field; the
    AlternativeHashes list is the model's place for other hashes, so VICS tools keep it). It reads
    ``MD5``, ``SHA256`` and ``PDQ`` either as fields or AlternativeHashes entries.

Signal types in the row formats: ``pdq``; ``vpdq`` (python-threatexchange's video PDQ, a JSON list of
``"hex,quality,seconds"`` strings, threatexchange/extensions/vpdq/vpdq_util.py) for a video's frames;
``video_md5`` (HMA's name) for a video's MD5; ``md5``/``photo_md5`` for an image's MD5 and ``sha256``
(stopspread's names: HMA defines neither).

What a format cannot carry is not invented: local features, screenshot regions' boxes and image PDQ
quality exist only in ``stopspread`` (an image's region PDQ is written as a record of its own, id
``<id>#region``). Readers never drop data silently: a hash stopspread cannot match (SHA-1 alone,
PhotoDNA, another signal type) is counted in ``ReadReport`` and logged; anything malformed raises
``ListFormatError``. Records with the same id on consecutive rows are merged; a second hash of the
same kind under one id becomes ``<id>#2``… since the matcher keeps one record per id.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from stopspread.errors import InvalidSignalError
from stopspread.fingerprint import FrameFingerprint, ImageFingerprint, VideoFingerprint
from stopspread.records import ListFormatError, ListRecord, read_list
from stopspread.signals.types import Md5Signal, PdqSignal, Sha256Signal

__all__ = ["FORMATS", "ListFormatError", "ReadReport", "detect_format", "read_records", "write_records"]

FORMATS: tuple[str, ...] = ("stopspread", "hma-csv", "threatexchange-csv", "hma-jsonl", "pdq-csv", "vics")

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

# Enough of a file to tell its format: a VICS file's metadata key is in its first few lines.
_SNIFF_BYTES = 64 * 1024
_HEX = re.compile(r"[0-9a-fA-F]+")
_ID_COLUMNS = ("content_id", "id", "bank_member_id", "indicator_id")
_VALUE_COLUMNS = ("signal_value", "signal_str", "signal")
_SHA1 = re.compile(r"[0-9a-f]{40}")
# VICS media ids are numbers; MediaID and any id that is a decimal number are written as one.
_INTEGER = re.compile(r"-?[0-9]+")
# A ThreatExchange "simple" row: hash, numeric indicator id, ISO time.
_TIME = re.compile(r"\d{4}-\d\d-\d\dt", re.IGNORECASE)
_VICS_CONTEXT = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/CUSTOM/$metadata#Media"


@dataclass
class ReadReport:
    """What a read imported and what it could not: pass one to ``read_records`` to get the counts."""

    records: int = 0
    #: Entries not imported at all, by reason (e.g. "vics entry with only SHA-1").
    skipped: Counter[str] = field(default_factory=Counter)
    #: Hashes left out of entries that were imported, by reason (e.g. "PhotoDNA").
    ignored: Counter[str] = field(default_factory=Counter)


# ---------------------------------------------------------------------------------------------
# Format detection


def detect_format(path_or_first_bytes: PathLike | bytes) -> str:
    """The format of a file (from its extension and first bytes) or of a file's first bytes."""
    if isinstance(path_or_first_bytes, bytes):
        name, suffix, head = "the data", "", path_or_first_bytes
    else:
        path = Path(path_or_first_bytes)
        name, suffix = str(path), path.suffix.lower()
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    text = head.decode("utf-8-sig", errors="replace").lstrip()
    if not text:
        # An empty list is empty in every format; the CLI's own is the natural reading.
        return "vics" if suffix == ".json" else "stopspread"
    found = _sniff(text)
    if found:
        return found
    raise ListFormatError(
        f"{name}: cannot tell the hash list format from its content "
        f"(first line {text.splitlines()[0][:80]!r}); pass one of: {', '.join(FORMATS)}"
    )


def _sniff(text: str) -> str | None:
    lowered = text[:_SNIFF_BYTES].lower()
    if text.startswith("{"):
        first = text.splitlines()[0]
        try:
            data = json.loads(first)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            if "odata.metadata" in data or "@odata.context" in data:
                return "vics"
            if "signal_type" in data or isinstance(data.get("signals"), dict):
                return "hma-jsonl"
            return "stopspread"
        # A pretty-printed JSON document: VICS names its data model near the top.
        if "odata.metadata" in lowered or "@odata.context" in lowered or "projectvic" in lowered:
            return "vics"
        return None
    first_line = text.splitlines()[0].strip()
    cells = [c.strip().lower() for c in next(csv.reader([first_line]))]
    if "signal_type" in cells:
        return "threatexchange-csv" if "signal_str" in cells else "hma-csv"
    if cells[:2] == ["filepath", "hash"] or first_line.startswith("hash="):
        return "pdq-csv"
    if cells and len(cells[0]) in (32, 64) and _HEX.fullmatch(cells[0]):
        if len(cells) >= 3 and cells[1].isdigit() and _TIME.match(cells[2]):
            return "threatexchange-csv"
        return "pdq-csv"
    return None


# ---------------------------------------------------------------------------------------------
# Reading


def read_records(
    path: PathLike, format: str | None = None, report: ReadReport | None = None
) -> Iterator[ListRecord]:
    """The records of a hash list file; ``format`` (one of ``FORMATS``) is detected when omitted."""
    path = Path(path)
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise ListFormatError(f"unknown list format {fmt!r}; expected one of: {', '.join(FORMATS)}")
    report = report if report is not None else ReadReport()
    if fmt == "stopspread":
        records: Iterator[ListRecord] = read_list(path)
    elif fmt == "vics":
        records = _read_vics(path, report)
    else:
        records = _group(_ROW_READERS[fmt](path, report))
    for record in records:
        report.records += 1
        yield record
    if report.skipped or report.ignored:
        # Logged as well as counted so that a caller who passed no report still hears of it.
        log.warning(
            "%s: %d records read; not imported: %s; hashes left out: %s",
            path,
            report.records,
            dict(report.skipped) or "none",
            dict(report.ignored) or "none",
        )


@dataclass
class _Signal:
    """One hash of one row, already validated, with where it came from."""

    where: str
    id: str | None
    field: str  # "pdq" | "md5" | "sha256" | "frames"
    value: Any
    kind: str | None  # "image" | "video" | None (either)
    quality: int = 100


def _signal(
    where: str, record_id: str | None, signal_type: str, value: str, report: ReadReport
) -> _Signal | None:
    """Validate one (signal type, value) pair; None (counted) for a type stopspread does not match."""
    kind_of = signal_type.strip().lower()
    try:
        if kind_of == "pdq":
            return _Signal(where, record_id, "pdq", PdqSignal.validate(value), "image")
        if kind_of == "video_md5":
            return _Signal(where, record_id, "md5", Md5Signal.validate(value), "video")
        if kind_of in ("md5", "photo_md5"):
            return _Signal(where, record_id, "md5", Md5Signal.validate(value), None)
        if kind_of == "sha256":
            return _Signal(where, record_id, "sha256", Sha256Signal.validate(value), None)
        if kind_of == "vpdq":
            return _Signal(where, record_id, "frames", _parse_vpdq(value), "video")
    except (InvalidSignalError, ValueError, TypeError) as exc:
        raise ListFormatError(f"{where}: {exc}") from exc
    report.skipped[f"signal type {kind_of!r}"] += 1
    return None


def _parse_vpdq(value: str) -> list[FrameFingerprint]:
    features = json.loads(value)
    if not isinstance(features, list) or not features:
        raise ValueError("vpdq: expected a non-empty JSON list of 'hex,quality,seconds' strings")
    frames = []
    for feature in features:
        hex_value, quality, seconds = str(feature).split(",")
        frames.append(FrameFingerprint(float(seconds), PdqSignal.validate(hex_value), int(quality)))
    return frames


@dataclass
class _Draft:
    id: str
    kind: str | None = None
    md5: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    quality: int = 100
    frames: list[FrameFingerprint] | None = None

    def add(self, signal: _Signal) -> bool:
        """Take the signal if the record has room for it (False: it belongs to another record)."""
        if getattr(self, signal.field) is not None:
            return False
        if signal.kind and self.kind and signal.kind != self.kind:
            return False
        setattr(self, signal.field, signal.value)
        self.kind = self.kind or signal.kind
        if signal.field == "pdq":
            self.quality = signal.quality
        return True

    def build(self) -> ListRecord:
        if (self.kind or "image") == "image":
            image = ImageFingerprint(self.pdq, self.quality) if self.pdq else None
            return ListRecord(self.id, "image", self.md5, self.sha256, image=image)
        # vPDQ and the other row formats carry no duration; 0 is what records.py reads for "unknown".
        video = VideoFingerprint(0.0, self.frames) if self.frames else None
        return ListRecord(self.id, "video", self.md5, self.sha256, video=video)


def _default_id(signal: _Signal) -> str:
    # The hash itself, as the CLI's `match` does for bare lines; a vPDQ list is summarised by its MD5.
    if signal.field == "frames":
        text = ",".join(f"{f.pdq}:{f.t}" for f in signal.value)
        return "vpdq-" + hashlib.md5(text.encode()).hexdigest()
    return str(signal.value)


def _group(signals: Iterable[_Signal]) -> Iterator[ListRecord]:
    """Records from signals: consecutive signals under one explicit id make one record."""
    draft: _Draft | None = None
    base: str | None = None  # the explicit id of the current run of rows
    repeat = 1
    for signal in signals:
        if signal.id is not None and signal.id == base and draft is not None and draft.add(signal):
            continue
        if draft is not None:
            yield draft.build()
        if signal.id is None:
            base, repeat = None, 1
            draft = _Draft(_default_id(signal))
        elif signal.id == base:
            repeat += 1
            draft = _Draft(f"{signal.id}#{repeat}")
        else:
            base, repeat = signal.id, 1
            draft = _Draft(signal.id)
        draft.add(signal)
    if draft is not None:
        yield draft.build()


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield reader.line_num, row
        except csv.Error as exc:
            raise ListFormatError(f"{path}:{reader.line_num}: {exc}") from exc


def _read_signal_csv(path: Path, report: ReadReport) -> Iterator[_Signal]:
    rows = _csv_rows(path)
    first = next(rows, None)
    if first is None:
        return
    header = [cell.strip().lower() for cell in first[1]]
    if "signal_type" not in header:
        yield from _read_te_simple(path, first, rows, report)
        return
    type_at = header.index("signal_type")
    value_at = next((header.index(c) for c in _VALUE_COLUMNS if c in header), None)
    if value_at is None:
        raise ListFormatError(f"{path}:{first[0]}: a 'signal_type' column needs a 'signal_value' column")
    id_at = next((header.index(c) for c in _ID_COLUMNS if c in header), None)
    for number, row in rows:
        where = f"{path}:{number}"
        if len(row) != len(header):
            raise ListFormatError(f"{where}: expected {len(header)} columns, found {len(row)}")
        record_id = row[id_at].strip() or None if id_at is not None else None
        signal = _signal(where, record_id, row[type_at], row[value_at], report)
        if signal is not None:
            yield signal


def _read_te_simple(
    path: Path, first: tuple[int, list[str]], rows: Iterator[tuple[int, list[str]]], report: ReadReport
) -> Iterator[_Signal]:
    """Header-less ThreatExchange rows: hash, indicator id, updated time, tags."""
    for number, row in [first, *rows]:
        where = f"{path}:{number}"
        if len(row) < 2:
            raise ListFormatError(f"{where}: expected 'hash,indicator id,…' or a header with 'signal_type'")
        value = row[0].strip()
        # These files were one per signal type; HMA's samples are PDQ (64 hex) or photo MD5 (32).
        signal_type = "md5" if len(value) == 32 else "pdq"
        signal = _signal(where, row[1].strip() or None, signal_type, value, report)
        if signal is not None:
            yield signal


def _read_pdq_csv(path: Path, report: ReadReport) -> Iterator[_Signal]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            text = line.strip()
            if not text:
                continue
            where = f"{path}:{number}"
            if number == 1 and text.lower().replace(" ", "") == "filepath,hash":
                continue
            try:
                hash_value, quality, name = _pdq_line(text)
                if len(hash_value) == 32:  # PDQMD5TestData.csv lists videos by MD5
                    yield _Signal(where, name, "md5", Md5Signal.validate(hash_value), None)
                    continue
                yield _Signal(where, name, "pdq", PdqSignal.validate(hash_value), "image", quality)
            except (InvalidSignalError, ValueError) as exc:
                raise ListFormatError(f"{where}: {exc}") from exc


def _pdq_line(text: str) -> tuple[str, int, str | None]:
    """(hash, quality, file name) of one line of pdq-photo-hasher output, plain or --details."""
    if text.startswith("hash="):
        head, _, name = text.partition(",filename=")
        pairs = dict(part.split("=", 1) for part in head.split(",") if "=" in part)
        return pairs["hash"], int(pairs.get("quality", 100)), name or None
    first, _, rest = text.partition(",")
    if _HEX.fullmatch(first.strip()):
        # pdq-photo-hasher prints the file name unquoted, commas and all: everything after quality.
        quality, _, name = rest.partition(",")
        return first.strip(), int(quality) if quality.strip() else 100, name.strip() or None
    # FilePath,Hash rows: the name first, and it may itself contain commas.
    name, _, hash_value = text.rpartition(",")
    return hash_value.strip(), 100, name.strip() or None


def _read_hma_jsonl(path: Path, report: ReadReport) -> Iterator[_Signal]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ListFormatError(f"{where}: {exc}") from exc
            if not isinstance(data, dict):
                raise ListFormatError(f"{where}: a line must be a JSON object")
            raw_id = next((data[k] for k in (*_ID_COLUMNS, "id") if data.get(k) not in (None, "")), None)
            record_id = None if raw_id is None else str(raw_id)
            if isinstance(data.get("signals"), dict):
                pairs = list(data["signals"].items())
            elif "signal_type" in data:
                value = next((data[k] for k in _VALUE_COLUMNS if k in data), None)
                if value is None:
                    raise ListFormatError(f"{where}: 'signal_type' without 'signal_value'")
                pairs = [(data["signal_type"], value)]
            else:
                raise ListFormatError(f"{where}: expected 'signal_type' and 'signal_value', or 'signals'")
            for signal_type, value in pairs:
                signal = _signal(where, record_id, str(signal_type), value, report)
                if signal is not None:
                    yield signal


_ROW_READERS = {
    "hma-csv": _read_signal_csv,
    "threatexchange-csv": _read_signal_csv,
    "hma-jsonl": _read_hma_jsonl,
    "pdq-csv": _read_pdq_csv,
}


def _read_vics(path: Path, report: ReadReport) -> Iterator[ListRecord]:
    text = path.read_text(encoding="utf-8-sig")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ListFormatError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("value"), list):
        raise ListFormatError(f"{path}:1: a VICS file is a JSON object with a 'value' list")
    entries: list[Any] = []
    for item in document["value"]:
        # A hash set lists Media directly; a case export lists Cases, each with its Media.
        if isinstance(item, dict) and isinstance(item.get("Media"), list):
            entries.extend(item["Media"])
        else:
            entries.append(item)
    for entry in entries:
        try:
            record = _vics_record(entry, report)
        except (InvalidSignalError, ListFormatError, ValueError, TypeError) as exc:
            raise ListFormatError(f"{path}:{_line_of(text, entry)}: {exc}") from exc
        if record is not None:
            yield record


def _vics_record(entry: Any, report: ReadReport) -> ListRecord | None:
    if not isinstance(entry, dict):
        raise ListFormatError("a VICS media entry must be a JSON object")
    hashes = {key.upper(): value for key, value in entry.items() if isinstance(value, str) and value}
    for alternative in entry.get("AlternativeHashes") or []:
        if isinstance(alternative, dict) and alternative.get("HashName") and alternative.get("HashValue"):
            name = str(alternative["HashName"]).upper().replace("-", "")
            hashes.setdefault(name, str(alternative["HashValue"]))
    label = f"MediaID {entry['MediaID']}" if "MediaID" in entry else "media entry"
    md5 = Md5Signal.validate(hashes["MD5"]) if "MD5" in hashes else None
    sha256 = Sha256Signal.validate(hashes["SHA256"]) if "SHA256" in hashes else None
    pdq = PdqSignal.validate(hashes["PDQ"]) if "PDQ" in hashes else None
    sha1 = hashes.get("SHA1", "").strip().lower() or None
    if sha1 is not None and not _SHA1.fullmatch(sha1):
        raise InvalidSignalError(f"{label}: SHA1: expected 40 hex digits, got {sha1[:80]!r}")
    photodna = "PHOTODNA" in hashes
    if not (md5 or sha256 or pdq):
        if sha1 or photodna:
            # stopspread matches neither SHA-1 nor PhotoDNA (proprietary): counted, never silent.
            report.skipped["vics entry with only SHA-1/PhotoDNA"] += 1
            return None
        raise ListFormatError(f"{label} has no MD5, SHA1, SHA256, PDQ or PhotoDNA hash")
    if photodna:
        report.ignored["PhotoDNA"] += 1
    if sha1:
        report.ignored["SHA-1"] += 1
    record_id = str(entry["MediaID"]) if entry.get("MediaID") not in (None, "") else (md5 or sha256 or pdq)
    is_video = str(entry.get("MimeType", "")).lower().startswith("video/") and pdq is None
    if is_video:
        return ListRecord(str(record_id), "video", md5, sha256)
    image = ImageFingerprint(pdq, 100) if pdq else None
    return ListRecord(str(record_id), "image", md5, sha256, image=image)


def _line_of(text: str, target: Any) -> int:
    """Line where a parsed JSON object starts: re-parses, on the error path only, noting positions."""
    starts: dict[int, int] = {}
    decoder = json.JSONDecoder()
    plain = decoder.parse_object

    def parse_object(state: tuple[str, int], *args: Any) -> tuple[Any, int]:
        value, end = plain(state, *args)
        starts[id(value)] = state[1] - 1
        return value, end

    decoder.parse_object = parse_object  # type: ignore[assignment]
    # The C scanner ignores parse_object; the Python one calls it for every object.
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    document = decoder.decode(text)
    for entry in _walk(document):
        if entry == target:
            return text.count("\n", 0, starts.get(id(entry), 0)) + 1
    return 1


def _walk(value: Any) -> Iterator[Any]:
    yield value
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        yield from _walk(child)


# ---------------------------------------------------------------------------------------------
# Writing


def write_records(records: Iterable[ListRecord], path_or_stream: PathLike | TextIO, format: str) -> int:
    """Write records in ``format``; returns how many. A record the format cannot carry is an error."""
    if format not in _WRITERS:
        raise ListFormatError(f"unknown list format {format!r}; expected one of: {', '.join(FORMATS)}")
    with _opened(path_or_stream) as out:
        return _WRITERS[format](records, out)


@contextmanager
def _opened(path_or_stream: PathLike | TextIO) -> Iterator[TextIO]:
    if hasattr(path_or_stream, "write"):
        yield path_or_stream  # type: ignore[misc]
        return
    # newline="": the csv module writes its own line ends; JSON writers write "\n".
    with Path(path_or_stream).open("w", encoding="utf-8", newline="") as handle:  # type: ignore[arg-type]
        yield handle


def _signals_of(record: ListRecord) -> Iterator[tuple[str, str, str]]:
    """(id, signal type, value) of every hash a record carries, in the row formats' names."""
    if record.image is not None:
        yield record.id, "pdq", record.image.pdq
    if record.video is not None and record.video.frames:
        frames = [f"{f.pdq},{f.quality},{f.t:.3f}" for f in record.video.frames]
        yield record.id, "vpdq", json.dumps(frames)
    if record.md5:
        yield record.id, "video_md5" if record.kind == "video" else "md5", record.md5
    if record.sha256:
        yield record.id, "sha256", record.sha256
    if record.image is not None and record.image.region_pdq:
        # The picture inside a screenshot matches on its own: a record of its own elsewhere.
        yield f"{record.id}#region", "pdq", record.image.region_pdq


def _write_stopspread(records: Iterable[ListRecord], out: TextIO) -> int:
    count = 0
    for record in records:
        count += 1
        out.write(json.dumps(record.to_json()) + "\n")
    return count


def _write_hma_csv(records: Iterable[ListRecord], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["signal_type", "signal_value", "content_id"])
    count = 0
    for record in records:
        count += 1
        for record_id, signal_type, value in _signals_of(record):
            writer.writerow([signal_type, value, record_id])
    return count


def _write_te_csv(records: Iterable[ListRecord], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["collab", "signal_type", "signal_str", "category", "tags"])
    count = 0
    for record in records:
        count += 1
        for _, signal_type, value in _signals_of(record):
            # A list of known non-consensual images is a positive class in ThreatExchange's terms.
            writer.writerow(["stopspread", signal_type, value, "POSITIVE_CLASS", ""])
    return count


def _write_hma_jsonl(records: Iterable[ListRecord], out: TextIO) -> int:
    count = 0
    for record in records:
        count += 1
        for record_id, signal_type, value in _signals_of(record):
            line = {"content_id": record_id, "signal_type": signal_type, "signal_value": value}
            out.write(json.dumps(line) + "\n")
    return count


def _write_pdq_csv(records: Iterable[ListRecord], out: TextIO) -> int:
    count = 0
    for record in records:
        count += 1
        if record.image is None:
            raise ListFormatError(f"record {record.id!r}: pdq-csv carries image PDQ only (it has none)")
        out.write(f"{record.image.pdq},{record.image.quality},{record.id}\n")
        if record.image.region_pdq:
            quality = record.image.region_quality if record.image.region_quality is not None else 100
            out.write(f"{record.image.region_pdq},{quality},{record.id}#region\n")
    return count


def _write_vics(records: Iterable[ListRecord], out: TextIO) -> int:
    # Written entry by entry so that a list of millions never sits in memory as one document.
    out.write('{\n"@odata.context": ' + json.dumps(_VICS_CONTEXT) + ',\n"value": [')
    count = 0
    for record in records:
        count += 1
        if not (record.md5 or record.sha256 or record.image is not None):
            raise ListFormatError(f"record {record.id!r}: VICS carries MD5, SHA-256 and image PDQ only")
        entry: dict[str, Any] = {"MediaID": int(record.id) if _INTEGER.fullmatch(record.id) else record.id}
        if record.md5:
            entry["MD5"] = record.md5.upper()  # as VICS hash sets spell it
        alternatives = []
        if record.sha256:
            alternatives.append({"HashName": "SHA256", "HashValue": record.sha256})
        if record.image is not None:
            alternatives.append({"HashName": "PDQ", "HashValue": record.image.pdq})
        if alternatives:
            entry["AlternativeHashes"] = alternatives
        out.write(("\n" if count == 1 else ",\n") + json.dumps(entry))
    out.write("\n]\n}\n")
    return count


_WRITERS = {
    "stopspread": _write_stopspread,
    "hma-csv": _write_hma_csv,
    "threatexchange-csv": _write_te_csv,
    "hma-jsonl": _write_hma_jsonl,
    "pdq-csv": _write_pdq_csv,
    "vics": _write_vics,
}
