"""The evidence log in the database: appending events in the caller's transaction, reading a
case's chain, signing checkpoints and verifying everything against the database.

Chains are per case (see ``chain``): a case's bundle must verify without other victims' events,
and writers of different cases never wait for each other. Appends to one case are serialised: on
PostgreSQL by a transaction-scoped advisory lock per case, on SQLite by the database's single
writer (the hooks run after the transaction's first write, so it already holds the write lock);
a unique (case, position) index turns any race that slipped through into an error, never a fork.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from stopspread.storage.models import (
    Case,
    EvidenceCheckpoint,
    EvidenceEntry,
    MatchEvent,
    Platform,
    Report,
    utcnow,
)
from stopspread.trace import chain, keys

_LOCK_BASE = 0x5570_5EAE << 32  # advisory lock keys of evidence chains: base | case id


@dataclass(frozen=True, slots=True)
class NewEvent:
    case_id: int
    kind: str
    at: datetime
    body: dict[str, Any]


def append(session: Session, events: Sequence[NewEvent]) -> None:
    """Append events to their cases' chains, in the given order, in the caller's transaction."""
    if not events:
        return []
    case_ids = sorted({e.case_id for e in events})
    if session.get_bind().dialect.name == "postgresql":
        for case_id in case_ids:  # in id order, so two writers never wait on each other in a cycle
            session.execute(
                text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_BASE | (case_id & 0xFFFFFFFF)}
            )
    numbers = dict(session.execute(select(Case.id, Case.number).where(Case.id.in_(case_ids))).all())
    heads: dict[int, chain.Link | None] = {case_id: head(session, case_id) for case_id in case_ids}
    now = utcnow()
    rows = []
    for event in events:
        prev = heads[event.case_id]
        entry = chain.make_entry(
            case=numbers[event.case_id],
            seq=(prev.seq if prev else 0) + 1,
            kind=event.kind,
            at=event.at,
            recorded_at=now,
            body=event.body,
        )
        link = chain.extend(prev, entry)
        heads[event.case_id] = link
        rows.append(
            {
                "case_id": event.case_id,
                "case_seq": link.seq,
                "kind": event.kind,
                "at": event.at,
                "entry": link.entry,
                "prev_hash": link.prev_hash,
                "hash": link.hash,
            }
        )
    # A Core bulk insert: a batch lookup can log hundreds of matches, and ORM objects cost ~10x.
    session.execute(insert(EvidenceEntry), rows)


def head(session: Session, case_id: int) -> chain.Link | None:
    row = session.execute(
        select(EvidenceEntry.case_seq, EvidenceEntry.entry, EvidenceEntry.prev_hash, EvidenceEntry.hash)
        .where(EvidenceEntry.case_id == case_id)
        .order_by(EvidenceEntry.case_seq.desc())
        .limit(1)
    ).first()
    return chain.Link(int(row[0]), row[1], row[2], row[3]) if row else None


# --- the hooks of store.record_matches / store.record_reports -------------------------------


def _platform_names(session: Session, platform_ids: Iterable[int]) -> dict[int, str]:
    ids = set(platform_ids)
    return (
        dict(session.execute(select(Platform.id, Platform.name).where(Platform.id.in_(ids))).all())
        if ids
        else {}
    )


def on_matches(
    session: Session, events: Sequence[Mapping[str, Any]], query_pdq: Sequence[str | None]
) -> None:
    """Log the match events (rows of ``matches``) that belong to a case. ``query_pdq`` holds, per
    event, the PDQ the platform looked up where known: with it the spread graph can measure
    copy-to-copy similarity."""
    mine = [(e, pdq) for e, pdq in zip(events, query_pdq, strict=True) if e["case_id"] is not None]
    names = _platform_names(session, (e["platform_id"] for e, _ in mine))
    new = []
    for event, pdq in mine:  # curated lists have no victim's case
        body: dict[str, Any] = {
            "match_id": event["public_id"],
            "fingerprint_id": event["fingerprint_id"],
            "list_id": event["list_id"],
            "platform": names.get(event["platform_id"], str(event["platform_id"])),
            "content_id": event["content_id"],
            "signal": event["signal"],
            "distance": event["distance"],
            "action": event["action"],
        }
        if pdq:
            body["query_pdq"] = pdq.lower()
        new.append(NewEvent(event["case_id"], "match", event["created_at"], body))
    append(session, new)


def on_reports(session: Session, reports: Sequence[tuple[Report, MatchEvent | None]]) -> None:
    """Log the reports that belong to a case (called before they are flushed)."""
    for report, _ in reports:
        # SQLite keeps a time without its offset: store UTC, so that what is read back is the
        # instant the platform said (and the same instant the evidence entry holds).
        report.occurred_at = chain.parse_iso(chain.iso(report.occurred_at))
    session.flush()
    names = _platform_names(session, (r.platform_id for r, _ in reports))
    new = []
    for report, match in reports:
        if report.case_id is None:
            continue
        body = {
            "report_id": report.id,
            "match_id": match.public_id if match else None,
            "fingerprint_id": match.fingerprint_id if match else None,
            "platform": names.get(report.platform_id, str(report.platform_id)),
            "content_id": report.content_id,
            "uploader": report.uploader,
            "action": report.action,
            "forwarded_from": report.forwarded_from,
        }
        new.append(NewEvent(report.case_id, "report", report.occurred_at, body))
    append(session, new)


# --- reading ---------------------------------------------------------------------------------


def links(session: Session, case_id: int) -> list[chain.Link]:
    rows = session.execute(
        select(EvidenceEntry.case_seq, EvidenceEntry.entry, EvidenceEntry.prev_hash, EvidenceEntry.hash)
        .where(EvidenceEntry.case_id == case_id)
        .order_by(EvidenceEntry.case_seq, EvidenceEntry.seq)
    ).all()
    return [chain.Link(int(s), e, p, h) for s, e, p, h in rows]


def checkpoints(session: Session, case_id: int) -> list[chain.Checkpoint]:
    rows = session.execute(
        select(EvidenceCheckpoint.statement, EvidenceCheckpoint.signature)
        .where(EvidenceCheckpoint.case_id == case_id)
        .order_by(EvidenceCheckpoint.id)
    ).all()
    return [chain.Checkpoint(s, g) for s, g in rows]


def events(case_links: Sequence[chain.Link] | Sequence[str]) -> list[dict[str, Any]]:
    """The entries of a chain as dicts (what the spread graph is built from)."""
    texts = [link if isinstance(link, str) else link.entry for link in case_links]
    # One parse of one array: a third of the time of a parse per entry on a 100,000-entry case.
    return json.loads("[" + ",".join(texts) + "]")  # type: ignore[no-any-return]


def entry_texts(session: Session, case_id: int) -> list[str]:
    """Only the entries' text, in chain order (the trace needs no hashes: it is not a check)."""
    result = session.execute(
        text("SELECT entry FROM evidence_log WHERE case_id = :case ORDER BY case_seq"), {"case": case_id}
    )
    return list(result.scalars())


# --- checkpoints -----------------------------------------------------------------------------


def checkpoint(session: Session, *, case: Case, key: Ed25519PrivateKey) -> chain.Checkpoint:
    """Sign the case's current head (a new checkpoint only when the head moved since the last)."""
    last = head(session, case.id)
    count, head_hash = (last.seq, last.hash) if last else (0, chain.GENESIS)
    kid = keys.key_id(key)
    previous = session.scalar(
        select(EvidenceCheckpoint)
        .where(EvidenceCheckpoint.case_id == case.id)
        .order_by(EvidenceCheckpoint.id.desc())
        .limit(1)
    )
    if (
        previous is not None
        and (previous.count, previous.head) == (count, head_hash)
        and json.loads(previous.statement).get("key") == kid
    ):
        return chain.Checkpoint(previous.statement, previous.signature)
    statement = chain.checkpoint_statement(
        case=case.number, count=count, head=head_hash, at=utcnow(), key_id=kid
    )
    signature = keys.sign(key, statement.encode("utf-8"))
    session.add(
        EvidenceCheckpoint(
            case_id=case.id, count=count, head=head_hash, statement=statement, signature=signature
        )
    )
    session.flush()
    return chain.Checkpoint(statement, signature)


# --- verification against the database -------------------------------------------------------


def verify_case(session: Session, *, case: Case, public_key: Ed25519PublicKey | None) -> chain.Verification:
    """The chain and checkpoints of a case, and the source rows: every match and report of the
    case has its entry, with the same facts (an edit of ``matches``/``reports`` shows here)."""
    case_links = links(session, case.id)
    result = chain.verify_chain(case.number, case_links, checkpoints(session, case.id), public_key)
    logged_matches: dict[str, dict[str, Any]] = {}
    logged_reports: dict[int, dict[str, Any]] = {}
    for link in case_links:
        try:
            fields = json.loads(link.entry)
            body = fields["body"]
        except (ValueError, KeyError, TypeError):
            continue  # already reported by verify_chain
        if fields.get("kind") == "match":
            logged_matches[body.get("match_id")] = {**body, "at": fields.get("at")}
        elif fields.get("kind") == "report":
            logged_reports[body.get("report_id")] = {**body, "at": fields.get("at")}
    platforms = dict(session.execute(select(Platform.id, Platform.name)).all())
    for m in session.scalars(select(MatchEvent).where(MatchEvent.case_id == case.id).order_by(MatchEvent.id)):
        logged = logged_matches.get(m.public_id)
        facts = {
            "fingerprint_id": m.fingerprint_id,
            "platform": platforms.get(m.platform_id),
            "content_id": m.content_id,
            "signal": m.signal,
            "distance": m.distance,
            "at": chain.iso(m.created_at),
        }
        if logged is None:
            result.problems.append(f"match {m.public_id} has no entry in the evidence log (entry removed)")
        elif any(logged.get(k) != v for k, v in facts.items()):
            result.problems.append(f"match {m.public_id} differs from its evidence entry (edited)")
    for r in session.scalars(select(Report).where(Report.case_id == case.id).order_by(Report.id)):
        logged = logged_reports.get(r.id)
        facts = {
            "platform": platforms.get(r.platform_id),
            "content_id": r.content_id,
            "uploader": r.uploader,
            "action": r.action,
            "forwarded_from": r.forwarded_from,
            "at": chain.iso(r.occurred_at),
        }
        if logged is None:
            result.problems.append(f"report {r.id} has no entry in the evidence log (entry removed)")
        elif any(logged.get(k) != v for k, v in facts.items()):
            result.problems.append(f"report {r.id} differs from its evidence entry (edited)")
    return result


def cases_with_evidence(session: Session) -> list[Case]:
    with_log = select(EvidenceEntry.case_id).group_by(EvidenceEntry.case_id)
    return list(session.scalars(select(Case).where(Case.id.in_(with_log)).order_by(Case.id)))


def count(session: Session, case_id: int) -> int:
    return int(session.scalar(select(func.count()).where(EvidenceEntry.case_id == case_id)) or 0)
