"""Evidence bundles: one zip a court can check offline.

Contents, in this order::

    events.json       the case's chain (every entry with its hashes) and its signed checkpoints
    graph.json        the spread graph and what it answers (stopspread.trace.graph)
    media-vics.json   the case's fingerprints as a VICS 2.0 media list
    chats.json        imported chats: file digests, messages, the detector's verdicts
    report.html       the human-readable report (summary, timeline, graph, earliest sharers, custody)
    public-key.pem    the deployment's Ed25519 evidence key (public half)
    manifest.json     name, size and SHA-256 of every file above, the chain head, the checkpoint
    manifest.sig      Ed25519 signature of manifest.json (base64)

The zip is written in one canonical way (stored, not compressed; fixed dates and attributes), so
the verifier can rebuild it from its members and demand the very same bytes: a change anywhere in
the archive — in a file, a name, a date, a header — is detected, not only changes in the files'
contents. (Compression is left out on purpose: deflate's output differs between zlib versions, so
a rebuilt archive could differ on the court's machine without any tampering.)
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from stopspread.trace import chain, graph, keys, render

FORMAT = "stopspread.bundle/1"
MEMBERS = ("events.json", "graph.json", "media-vics.json", "chats.json", "report.html", "public-key.pem")
_DATE = (1980, 1, 1, 0, 0, 0)


def _json(value: Any) -> bytes:
    # Compact: Python's JSON encoder is C only without indent (5x faster on a 100,000-event case).
    return (json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _json_lines(head: dict[str, Any], key: str, items: list[dict[str, Any]]) -> bytes:
    """An object whose ``key`` list has one item per line: compact, yet readable with a pager."""
    opening = json.dumps(head, ensure_ascii=False, sort_keys=True)[:-1]
    opening += (", " if head else "") + json.dumps(key) + ": [\n"
    body = ",\n".join(json.dumps(item, ensure_ascii=False, sort_keys=True) for item in items)
    return (opening + body + "\n]}\n").encode("utf-8")


def canonical_zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.create_system = 3  # Unix, whatever the exporting machine
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, data)
    return buffer.getvalue()


def build(
    *,
    case: str,
    links: list[chain.Link],
    checkpoints: list[chain.Checkpoint],
    trace: dict[str, Any],
    vics: str,
    chats: list[dict[str, Any]],
    key: Ed25519PrivateKey,
    exported_by: str,
    created_at: datetime,
) -> bytes:
    """The bundle's bytes. ``checkpoints`` must end with one of the chain's current head."""
    head = links[-1].hash if links else chain.GENESIS
    last = checkpoints[-1].fields if checkpoints else {}
    kid = keys.key_id(key)
    custody = {
        "created_at": chain.iso(created_at),
        "exported_by": exported_by,
        "key_id": kid,
        "count": len(links),
        "head": head,
        "checkpoint_at": last.get("at"),
    }
    events = [{**json.loads(link.entry), "hash": link.hash} for link in links]
    files: list[tuple[str, bytes]] = [
        (
            "events.json",
            _json_lines(
                {
                    "case": case,
                    "hash": "sha256(prev_hash || entry), prev_hash of the first entry 64 zeros",
                    "checkpoints": [c.to_json() for c in checkpoints],
                },
                "entries",
                [link.to_json() for link in links],
            ),
        ),
        ("graph.json", _json(trace)),
        ("media-vics.json", vics.encode("utf-8")),
        ("chats.json", _json(chats)),
        (
            "report.html",
            render.report_html(trace=trace, events=events, chats=chats, custody=custody).encode(),
        ),
        ("public-key.pem", keys.public_pem(key).encode("ascii")),
    ]
    manifest = _json(
        {
            "format": FORMAT,
            "case": case,
            "created_at": custody["created_at"],
            "exported_by": exported_by,
            "key_id": kid,
            "chain": {"count": len(links), "head": head},
            "checkpoint": checkpoints[-1].to_json() if checkpoints else None,
            "files": [
                {"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                for name, data in files
            ],
        }
    )
    signature = keys.sign(key, manifest).encode("ascii")
    return canonical_zip([*files, ("manifest.json", manifest), ("manifest.sig", signature)])


@dataclass
class BundleCheck:
    case: str | None = None
    key_id: str | None = None
    entries: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "case": self.case,
            "key_id": self.key_id,
            "entries": self.entries,
            "files": self.files,
            "problems": self.problems,
        }


def verify(data: bytes, *, pinned: Ed25519PublicKey | None = None) -> BundleCheck:
    """Check a bundle offline: archive, files, signature, key, chain, checkpoints, graph."""
    check = BundleCheck()
    problems = check.problems
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            members = [(i.filename, archive.read(i)) for i in infos]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError, KeyError) as exc:
        problems.append(f"not a readable zip archive: {exc}")
        return check
    except Exception as exc:  # zipfile raises assorted errors on damaged headers; all mean damage
        problems.append(f"damaged zip archive: {type(exc).__name__}: {exc}")
        return check
    content = dict(members)
    if len(content) != len(members):
        problems.append("the archive holds two files of the same name")
    if canonical_zip(members) != data:
        problems.append("the archive is not byte for byte as exported (its structure was changed)")
    for required in ("manifest.json", "manifest.sig", "public-key.pem"):
        if required not in content:
            problems.append(f"{required} is missing")
    if problems and any("missing" in p for p in problems):
        return check
    try:
        public = keys.load_public(content["public-key.pem"])
    except ValueError as exc:
        problems.append(f"public-key.pem: {exc}")
        return check
    check.key_id = keys.key_id(public)
    if pinned is not None and keys.key_id(pinned) != check.key_id:
        problems.append(f"signed with key {check.key_id}, not the pinned key {keys.key_id(pinned)}")
    if not keys.verify(public, content["manifest.json"], content["manifest.sig"].decode("ascii", "replace")):
        problems.append("manifest.sig does not verify: the manifest was changed or signed by another key")
    try:
        manifest = json.loads(content["manifest.json"])
        listed = {f["name"]: f for f in manifest["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(f"manifest.json unreadable: {exc}")
        return check
    check.case = manifest.get("case")
    check.files = len(listed)
    expected_names = [*listed, "manifest.json", "manifest.sig"]
    if [name for name, _ in members] != expected_names:
        problems.append("the archive's files differ from the manifest's list (added, removed or renamed)")
    for name, item in listed.items():
        body = content.get(name)
        if body is None:
            problems.append(f"{name} is missing")
        elif hashlib.sha256(body).hexdigest() != item.get("sha256") or len(body) != item.get("bytes"):
            problems.append(f"{name} differs from its SHA-256 in the manifest (changed)")
    if "public-key.pem" not in listed:
        problems.append("the manifest does not list public-key.pem")
    try:
        events = json.loads(content["events.json"])
        links = [chain.Link.from_json(e) for e in events["entries"]]
        checkpoints = [chain.Checkpoint.from_json(c) for c in events["checkpoints"]]
    except (KeyError, ValueError, TypeError) as exc:
        problems.append(f"events.json unreadable: {exc}")
        return check
    check.entries = len(links)
    case = str(manifest.get("case"))
    result = chain.verify_chain(case, links, checkpoints, public)
    problems.extend(f"events.json: {p}" for p in result.problems)
    head = manifest.get("chain") or {}
    if head.get("count") != len(links) or head.get("head") != result.head:
        problems.append("the manifest's chain head differs from the chain in events.json")
    if checkpoints and manifest.get("checkpoint") != checkpoints[-1].to_json():
        problems.append("the manifest's checkpoint is not the chain's last checkpoint")
    if checkpoints and checkpoints[-1].fields.get("count") != len(links):
        problems.append("the last checkpoint does not cover the whole chain in the bundle")
    # The graph must follow from the events: rebuilt, its copies and links are the same.
    try:
        shipped = json.loads(content["graph.json"])
        rebuilt = graph.build([json.loads(link.entry) for link in links], case=case).to_json()
        if shipped.get("nodes") != rebuilt["nodes"] or shipped.get("edges") != rebuilt["edges"]:
            problems.append("graph.json does not follow from events.json")
    except (KeyError, ValueError, TypeError) as exc:
        problems.append(f"graph.json unreadable or inconsistent: {exc}")
    return check
