"""The hash chain of a case's events and its signed checkpoints, as pure functions.

An entry is a JSON object ``{"v", "case", "seq", "kind", "at", "recorded_at", "body"}`` written
in canonical form (keys sorted, no spaces, UTF-8; :func:`canonical`). Its hash is

    hash = SHA-256( prev_hash as 64 ASCII hex digits  ||  canonical entry bytes )

with ``prev_hash`` of the first entry 64 zeros. Each entry names its case and its position, so an
entry moved to another case or another position no longer verifies, and each commits to the one
before, so an edited, removed, inserted or reordered entry breaks every hash after it.

A checkpoint is a signed statement of the chain's head: ``{"type", "case", "count", "head",
"at", "key"}`` in canonical form with an Ed25519 signature by the deployment's evidence key. A
checkpoint stops someone who can write the database from re-hashing the whole chain after an
edit (the head would differ from the signed one), and from cutting entries off the end (the
count would be short).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from stopspread.trace import keys

GENESIS = "0" * 64
ENTRY_VERSION = 1
CHECKPOINT_TYPE = "stopspread.checkpoint/1"
EVENT_KINDS = ("match", "report", "chat")


def canonical(value: Any) -> str:
    """The one JSON text of a value that hashes and signatures are taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def iso(moment: datetime) -> str:
    """UTC, microseconds, always the same spelling (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def entry_hash(prev_hash: str, entry_text: str) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + entry_text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Link:
    """One stored entry of a chain: its position, canonical text and the two hashes."""

    seq: int
    entry: str
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "entry": self.entry, "prev_hash": self.prev_hash, "hash": self.hash}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Link:
        return cls(int(data["seq"]), str(data["entry"]), str(data["prev_hash"]), str(data["hash"]))


def make_entry(
    *, case: str, seq: int, kind: str, at: datetime, recorded_at: datetime, body: dict[str, Any]
) -> str:
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    return canonical(
        {
            "v": ENTRY_VERSION,
            "case": case,
            "seq": seq,
            "kind": kind,
            "at": iso(at),
            "recorded_at": iso(recorded_at),
            "body": body,
        }
    )


def extend(prev: Link | None, entry_text: str) -> Link:
    """The link after ``prev`` (None: the first of the chain) holding ``entry_text``."""
    prev_hash = prev.hash if prev else GENESIS
    seq = (prev.seq if prev else 0) + 1
    return Link(seq, entry_text, prev_hash, entry_hash(prev_hash, entry_text))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    statement: str
    signature: str

    def to_json(self) -> dict[str, Any]:
        return {"statement": self.statement, "signature": self.signature}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(str(data["statement"]), str(data["signature"]))

    @property
    def fields(self) -> dict[str, Any]:
        return json.loads(self.statement)  # type: ignore[no-any-return]


def checkpoint_statement(*, case: str, count: int, head: str, at: datetime, key_id: str) -> str:
    return canonical(
        {"type": CHECKPOINT_TYPE, "case": case, "count": count, "head": head, "at": iso(at), "key": key_id}
    )


@dataclass
class Verification:
    """What a verification found: ``ok`` only when there is no problem at all."""

    case: str
    entries: int = 0
    checkpoints: int = 0
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)
    #: Not signs of tampering, but limits of what could be checked (e.g. entries newer than the
    #: last checkpoint are protected by the chain only until the next checkpoint signs them).
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "ok": self.ok,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "head": self.head,
            "problems": self.problems,
            "warnings": self.warnings,
        }


def verify_chain(
    case: str,
    links: Sequence[Link],
    checkpoints: Sequence[Checkpoint],
    public_key: Ed25519PublicKey | None,
    *,
    report: Verification | None = None,
) -> Verification:
    """Check every link and every checkpoint of one case's chain; list each problem found.

    ``links`` are in stored order. Without a public key the checkpoints' signatures cannot be
    checked, which is itself reported as a problem (a chain alone can be re-hashed by a forger).
    """
    result = report or Verification(case)
    result.entries, result.checkpoints = len(links), len(checkpoints)
    problems = result.problems
    prev_hash = GENESIS
    for position, link in enumerate(links, start=1):
        where = f"entry {position}"
        if link.seq != position:
            problems.append(f"{where}: stored as position {link.seq} (an entry is missing or out of order)")
        if link.prev_hash != prev_hash:
            problems.append(f"{where}: does not follow the entry before it (removed, inserted or reordered)")
        if entry_hash(link.prev_hash, link.entry) != link.hash:
            problems.append(f"{where}: its hash does not match its content (edited)")
        try:
            fields = json.loads(link.entry)
        except ValueError:
            problems.append(f"{where}: not JSON (edited)")
        else:
            if not isinstance(fields, dict) or canonical(fields) != link.entry:
                problems.append(f"{where}: not in canonical form (edited)")
            elif fields.get("case") != case or fields.get("seq") != position:
                problems.append(
                    f"{where}: names case {fields.get('case')!r} position {fields.get('seq')!r} "
                    "(moved or reordered)"
                )
        prev_hash = link.hash
    result.head = prev_hash
    if public_key is None:
        if checkpoints:
            problems.append("no public key to check the checkpoints' signatures with")
        return result
    kid = keys.key_id(public_key)
    hashes = [link.hash for link in links]
    signed = 0
    for number, checkpoint in enumerate(checkpoints, start=1):
        where = f"checkpoint {number}"
        if not keys.verify(public_key, checkpoint.statement.encode("utf-8"), checkpoint.signature):
            problems.append(f"{where}: signature does not verify with key {kid}")
            continue
        try:
            fields = checkpoint.fields
            count, head = int(fields["count"]), str(fields["head"])
        except (ValueError, KeyError, TypeError):
            problems.append(f"{where}: unreadable statement")
            continue
        if fields.get("case") != case or fields.get("type") != CHECKPOINT_TYPE:
            problems.append(f"{where}: is not a checkpoint of case {case}")
        elif count > len(hashes):
            problems.append(f"{where}: signed {count} entries, only {len(hashes)} remain (entries removed)")
        elif (hashes[count - 1] if count else GENESIS) != head:
            problems.append(f"{where}: the chain's head at entry {count} differs from the signed one")
        else:
            signed = max(signed, count)
    if signed < len(links):
        result.warnings.append(
            f"entries {signed + 1}..{len(links)} are not covered by a signed checkpoint yet"
        )
    return result
