"""Investigations over the database: a case's trace, its chats, grants and their revocation.

Keyword-only functions over a session, like ``stopspread.service.store``: the caller commits.
Every read of a case writes an audit entry in the same transaction.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stopspread.service import store
from stopspread.service.problems import Problem
from stopspread.storage.models import ApiKey, Case, ChatImport, ChatLine, Grant, utcnow
from stopspread.trace import graph
from stopspread.trace import log as evidence_log
from stopspread.trace.log import NewEvent

# A chat export is text; a long one is a few MB. Larger is not a chat.
MAX_CHAT_BYTES = 16 * 1024 * 1024


def find_case(session: Session, number: str) -> Case:
    case = session.scalar(select(Case).where(Case.number == number))
    if case is None:
        raise Problem(404, "No such case", f"no case {number}")
    return case


def trace(session: Session, *, case: Case, actor: str) -> graph.Trace:
    """The spread graph of a case, from its evidence log (the log is the single source)."""
    with collector_paused():
        events = evidence_log.events(evidence_log.entry_texts(session, case.id))
        result = graph.build(events, case=case.number)
    result.chats = chats(session, case=case, messages=False) or result.chats
    store.audit(session, actor=actor, action="case.trace.read", case_id=case.id, events=len(events))
    return result


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a trace builds its objects: a 100,000-event case makes
    a million small dicts and strings, none in a cycle, and the collector's repeated passes over
    them took half the time of parsing and building."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def grants(session: Session, *, case: Case) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Grant, ApiKey.name).join(ApiKey, ApiKey.id == Grant.key_id).where(Grant.case_id == case.id)
    ).all()
    return [
        {
            "grant_id": g.id,
            "investigator_key_id": g.key_id,
            "investigator": name,
            "granted_by": g.granted_by,
            "created_at": g.created_at.isoformat(),
            "expires_at": g.expires_at.isoformat(),
            "revoked_at": g.revoked_at.isoformat() if g.revoked_at else None,
        }
        for g, name in rows
    ]


def revoke_grant(session: Session, *, case: Case, grant_id: int, revoked_by: str) -> Grant:
    """End an investigator's access now (the case holder's or an administrator's decision)."""
    row = session.get(Grant, grant_id)
    if row is None or row.case_id != case.id:
        raise Problem(404, "No such grant", f"case {case.number} has no grant {grant_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    store.audit(session, actor=revoked_by, action="grant.revoke", case_id=case.id, grant_id=grant_id)
    return row


# --- chats -----------------------------------------------------------------------------------

_detector: Any = None


def _load_detector() -> Any:
    global _detector
    if _detector is None:
        from stopspread.detect import Detector

        _detector = Detector.load()
    return _detector


def import_chat(
    session: Session, *, case: Case, data: bytes, file_name: str, actor: str, detector: Any = None
) -> ChatImport:
    """A WhatsApp export into the case: its messages with the detector's verdicts, and an evidence
    entry holding the SHA-256 of the file exactly as received (the file itself is the exhibit)."""
    from stopspread.chat import ChatFormatError, parse_whatsapp
    from stopspread.detect import BENIGN, MessageVerdict, assess_conversation

    if len(data) > MAX_CHAT_BYTES:
        raise Problem(413, "Chat too large", f"a chat export is at most {MAX_CHAT_BYTES} bytes")
    try:
        messages = parse_whatsapp(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise Problem(422, "Not a chat export", "a WhatsApp export is UTF-8 text") from exc
    except ChatFormatError as exc:
        raise Problem(422, "Not a chat export", str(exc)) from exc
    detector = detector or _load_detector()
    readable = [i for i, m in enumerate(messages) if not m.system and m.text]
    verdicts: dict[int, Any] = dict(
        zip(readable, detector.detect_messages([messages[i].text for i in readable]), strict=True)
    )
    # Messages without text (attachments only) are benign to the detector, not left out.
    benign = MessageVerdict(BENIGN, 0.0, None, None)
    person = [i for i, m in enumerate(messages) if not m.system]
    risk = assess_conversation(
        [verdicts.get(i, benign) for i in person],
        [messages[i].author for i in person],
        [messages[i].time for i in person],
    )
    risk_json = risk.to_json()
    # The detector counts positions among the people's messages; store the chat's own indices.
    risk_json["flagged"] = [messages[person[i]].index for i in risk.flagged]
    if risk.started_index is not None:
        risk_json["started_index"] = messages[person[risk.started_index]].index
    digest = hashlib.sha256(data).hexdigest()
    row = ChatImport(
        case_id=case.id,
        file_name=file_name[:256],
        sha256=digest,
        size=len(data),
        imported_by=actor,
        risk=json.dumps(risk_json, default=str),
    )
    session.add(row)
    session.flush()
    for m in messages:
        v = verdicts.get(m.index)
        session.add(
            ChatLine(
                import_id=row.id,
                position=m.index,
                sent_at=m.time,
                author=m.author,
                text=m.text,
                attachments=json.dumps(list(m.attachments), ensure_ascii=False),
                system=m.system,
                label=v.label if v else None,
                score=round(v.score, 4) if v and v.score is not None else None,
                category=v.category if v else None,
                evidence=json.dumps(list(v.evidence) if v else [], ensure_ascii=False),
            )
        )
    body = {
        "chat_id": row.id,
        "file_name": row.file_name,
        "sha256": digest,
        "bytes": len(data),
        "messages": len(messages),
        "flagged": len(risk.flagged),
        "risk": risk.level,
        "threatening_side": risk.threatening_side,
        "imported_by": actor,
    }
    evidence_log.append(session, [NewEvent(case.id, "chat", utcnow(), body)])
    store.audit(session, actor=actor, action="case.chat.import", case_id=case.id, sha256=digest)
    return row


def chats(session: Session, *, case: Case, messages: bool = True) -> list[dict[str, Any]]:
    out = []
    for chat in session.scalars(
        select(ChatImport).where(ChatImport.case_id == case.id).order_by(ChatImport.id)
    ):
        item: dict[str, Any] = {
            "chat_id": chat.id,
            "file_name": chat.file_name,
            "sha256": chat.sha256,
            "bytes": chat.size,
            "imported_by": chat.imported_by,
            "imported_at": chat.created_at.isoformat(),
            "risk": json.loads(chat.risk),
        }
        lines = session.scalars(
            select(ChatLine).where(ChatLine.import_id == chat.id).order_by(ChatLine.position)
        ).all()
        item["messages"] = len(lines)
        item["flagged_messages"] = [_line(m) for m in lines if m.label == "sextortion"]
        if messages:
            item["all_messages"] = [_line(m) for m in lines]
        out.append(item)
    return out


def _line(m: ChatLine) -> dict[str, Any]:
    sent: datetime | None = m.sent_at
    return {
        "index": m.position,
        "time": sent.isoformat() if sent else None,
        "author": m.author,
        "text": m.text,
        "attachments": json.loads(m.attachments),
        "system": m.system,
        "label": m.label,
        "score": m.score,
        "category": m.category,
        "evidence": json.loads(m.evidence),
    }


# --- export ----------------------------------------------------------------------------------


def vics_media(session: Session, *, case: Case) -> str:
    """The case's fingerprints as a VICS 2.0 media list (MediaID = fingerprint id)."""
    import io

    from stopspread.listio import write_records
    from stopspread.records import record_from_json
    from stopspread.storage.models import Fingerprint

    records = []
    for fp in session.scalars(
        select(Fingerprint).where(Fingerprint.case_id == case.id).order_by(Fingerprint.id)
    ):
        record = record_from_json({**json.loads(fp.record), "id": str(fp.id)})
        if record.md5 or record.sha256 or record.image is not None:  # what VICS can carry
            records.append(record)
    out = io.StringIO()
    write_records(records, out, "vics")
    return out.getvalue()


def export(session: Session, *, case: Case, key: Any, actor: str) -> bytes:
    """The evidence bundle of a case, after signing a checkpoint of its current head."""
    from stopspread.trace import bundle

    evidence_log.checkpoint(session, case=case, key=key)
    case_links = evidence_log.links(session, case.id)
    with collector_paused():
        result = graph.build(evidence_log.events(case_links), case=case.number)
    case_chats = chats(session, case=case)
    result.chats = [{k: v for k, v in c.items() if k != "all_messages"} for c in case_chats]
    data = bundle.build(
        case=case.number,
        links=case_links,
        checkpoints=evidence_log.checkpoints(session, case.id),
        trace=result.to_json(),
        vics=vics_media(session, case=case),
        chats=case_chats,
        key=key,
        exported_by=actor,
        created_at=utcnow(),
    )
    store.audit(
        session, actor=actor, action="case.export", case_id=case.id, sha256=hashlib.sha256(data).hexdigest()
    )
    return data
