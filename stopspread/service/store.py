"""What the service does, as keyword-only functions over a database session.

Routes and the admin CLI are thin layers over these. Every function that changes something
does it in the caller's transaction; the caller commits once, after which (and only after
which) the change is acknowledged. Every read of case data writes an audit entry in the same
transaction as the read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from stopspread.records import ListRecord, record_from_json
from stopspread.service import security
from stopspread.service.live_index import MAX_SLOTS, MAX_THRESHOLD, Hit
from stopspread.service.problems import Problem
from stopspread.service.security import Role
from stopspread.storage.models import (
    ApiKey,
    AuditEntry,
    Case,
    Change,
    Fingerprint,
    Grant,
    HashList,
    MatchEvent,
    Platform,
    Report,
    utcnow,
)
from stopspread.trace import log as evidence_log

CASES_LIST = "cases"
LIST_KINDS = ("cases", "curated", "negative")
ACTIONS = ("block", "review")
REPORT_ACTIONS = ("PendingReview", "Blocked", "NotBlocked")
# Advisory lock key that orders appends to the change log on PostgreSQL (see live_index).
_CHANGE_LOCK = 0x5570_5EAD


# --- audit and changes -----------------------------------------------------------------------


def audit(session: Session, *, actor: str, action: str, case_id: int | None = None, **detail: Any) -> None:
    session.add(
        AuditEntry(actor=actor, action=action, case_id=case_id, detail=json.dumps(detail, default=str))
    )


def _log_changes(session: Session, fingerprint_ids: Iterable[int], op: str) -> None:
    ids = list(fingerprint_ids)
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHANGE_LOCK})
    session.add_all([Change(fingerprint_id=i, op=op) for i in ids])


# --- lists, platforms, keys (administration) -------------------------------------------------


def create_list(
    session: Session, *, name: str, kind: str = "curated", action: str = "review", threshold: int = 31
) -> HashList:
    if kind not in LIST_KINDS:
        raise Problem(422, "Unknown list kind", f"kind must be one of {', '.join(LIST_KINDS)}")
    if action not in ACTIONS:
        raise Problem(422, "Unknown action", f"action must be one of {', '.join(ACTIONS)}")
    _check_threshold(threshold)
    if session.scalar(select(HashList).where(HashList.name == name)):
        raise Problem(409, "List exists", f"a list named {name!r} exists")
    hash_list = HashList(name=name, kind=kind, action=action, pdq_threshold=threshold)
    session.add(hash_list)
    session.flush()
    return hash_list


def _check_threshold(threshold: int) -> None:
    if not 0 <= threshold <= MAX_THRESHOLD:
        raise Problem(422, "Threshold out of range", f"a PDQ threshold is 0..{MAX_THRESHOLD} bits")


def get_list(session: Session, name: str) -> HashList:
    hash_list = session.scalar(select(HashList).where(HashList.name == name))
    if hash_list is None:
        raise Problem(404, "No such list", f"no list named {name!r}")
    return hash_list


def ensure_defaults(session: Session) -> None:
    """The list victims' cases go to: block on match (the victim said it is hers)."""
    if session.scalar(select(HashList).where(HashList.name == CASES_LIST)) is None:
        create_list(session, name=CASES_LIST, kind="cases", action="block", threshold=31)


def create_platform(session: Session, *, name: str, trusted: bool = False) -> Platform:
    if session.scalar(select(Platform).where(Platform.name == name)):
        raise Problem(409, "Platform exists", f"a platform named {name!r} exists")
    platform = Platform(name=name, trusted=trusted)
    session.add(platform)
    session.flush()
    return platform


def create_key(session: Session, *, name: str, role: Role, platform: str | None = None) -> tuple[ApiKey, str]:
    """A new API key; the secret is returned once and only its digest is stored."""
    platform_id = None
    if role is Role.PLATFORM:
        if platform is None:
            raise Problem(422, "Platform needed", "a platform key belongs to a platform")
        row = session.scalar(select(Platform).where(Platform.name == platform))
        if row is None:
            raise Problem(404, "No such platform", f"no platform named {platform!r}")
        platform_id = row.id
    secret = security.new_api_key()
    key = ApiKey(
        name=name,
        prefix=secret[:8],
        key_hash=security.digest(secret),
        role=role.value,
        platform_id=platform_id,
    )
    session.add(key)
    session.flush()
    return key, secret


def revoke_key(session: Session, *, key_id: int) -> None:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise Problem(404, "No such key")
    key.revoked_at = utcnow()


def key_for(session: Session, secret: str) -> ApiKey | None:
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == security.digest(secret)))
    if key is None or key.revoked_at is not None or not security.same_digest(secret, key.key_hash):
        return None
    return key


# --- fingerprints ----------------------------------------------------------------------------


def parse_records(items: Sequence[dict[str, Any]]) -> list[ListRecord]:
    records = []
    for position, item in enumerate(items):
        try:
            records.append(record_from_json({"id": str(position), **item}))
        except (ValueError, KeyError, TypeError) as exc:
            raise Problem(
                422, "Invalid fingerprint", f"fingerprint {position}: {exc}", index=position
            ) from exc
    return records


def _pdq_of(record: ListRecord) -> list[str]:
    if record.image is not None:
        return [record.image.pdq] + ([record.image.region_pdq] if record.image.region_pdq else [])
    if record.video is not None:
        return [f.pdq for f in record.video.frames][:MAX_SLOTS]
    return []


def add_fingerprints(
    session: Session,
    *,
    hash_list: HashList,
    records: Sequence[ListRecord],
    case: Case | None = None,
    index: Any,
) -> list[Fingerprint]:
    """Store fingerprints as active and log them for the index. Refused (nothing stored) when one
    of them is on the negative list: benign content must never become matchable."""
    if hash_list.kind != "negative":
        for position, record in enumerate(records):
            hashes = _pdq_of(record)
            if hashes and index.matches_negative(hashes):
                raise Problem(
                    409,
                    "Known benign content",
                    f"fingerprint {position} matches the negative list of known benign content",
                    index=position,
                )
    rows = []
    for record in records:
        body = record.to_json()
        body.pop("id", None)
        rows.append(
            Fingerprint(
                list_id=hash_list.id,
                case_id=case.id if case else None,
                kind=record.kind,
                pdq=" ".join(_pdq_of(record)),
                md5=record.md5,
                sha256=record.sha256,
                record=json.dumps(body, separators=(",", ":")),
            )
        )
    session.add_all(rows)
    session.flush()
    _log_changes(session, (r.id for r in rows), "add")
    return rows


def set_status(session: Session, *, fingerprints: Sequence[Fingerprint], status: str) -> int:
    """Move fingerprints between active / withdrawn / quarantined, logging what the index must do."""
    changed_on, changed_off = [], []
    for fp in fingerprints:
        if fp.status == status or fp.status == "withdrawn":
            continue  # a withdrawal is final: the victim's word
        was_active = fp.status == "active"
        fp.status, fp.changed_at = status, utcnow()
        if was_active:
            changed_off.append(fp.id)
        elif status == "active":
            changed_on.append(fp.id)
    _log_changes(session, changed_off, "remove")
    _log_changes(session, changed_on, "add")
    return len(changed_on) + len(changed_off)


# --- cases -----------------------------------------------------------------------------------


def open_case(
    session: Session, *, records: Sequence[ListRecord], index: Any
) -> tuple[Case, str, list[Fingerprint]]:
    ensure_defaults(session)
    hash_list = get_list(session, CASES_LIST)
    secret = security.new_secret()
    case = Case(number=security.new_case_number(), secret_hash=security.digest(secret), list_id=hash_list.id)
    session.add(case)
    session.flush()
    rows = add_fingerprints(session, hash_list=hash_list, records=records, case=case, index=index)
    audit(session, actor=f"case:{case.number}", action="case.open", case_id=case.id, fingerprints=len(rows))
    return case, secret, rows


def case_for(session: Session, *, number: str, secret: str) -> Case:
    case = session.scalar(select(Case).where(Case.number == number))
    # The same answer for an unknown number and a wrong secret: nothing to learn by probing.
    if case is None or not security.same_digest(secret, case.secret_hash):
        raise Problem(401, "Unknown case or wrong secret")
    return case


@dataclass(frozen=True)
class CaseSummary:
    number: str
    active: int
    withdrawn: int
    under_review: int
    blocked_copies: int
    fingerprints: list[dict[str, Any]]


def case_summary(session: Session, *, case: Case, actor: str) -> CaseSummary:
    fingerprints = session.scalars(
        select(Fingerprint).where(Fingerprint.case_id == case.id).order_by(Fingerprint.id)
    )
    listed = [
        {"id": fp.id, "kind": fp.kind, "status": fp.status, "added_at": fp.created_at.isoformat()}
        for fp in fingerprints
    ]
    blocked = session.scalar(
        select(func.count(func.distinct(Report.content_id))).where(
            Report.case_id == case.id, Report.action == "Blocked"
        )
    )
    counts = {s: sum(1 for f in listed if f["status"] == s) for s in ("active", "withdrawn", "quarantined")}
    audit(session, actor=actor, action="case.read", case_id=case.id)
    return CaseSummary(
        case.number, counts["active"], counts["withdrawn"], counts["quarantined"], int(blocked or 0), listed
    )


def case_fingerprints(session: Session, *, case: Case, ids: Sequence[int] | None) -> list[Fingerprint]:
    query = select(Fingerprint).where(Fingerprint.case_id == case.id)
    if ids is not None:
        query = query.where(Fingerprint.id.in_(ids))
    found = list(session.scalars(query))
    if ids is not None and len(found) != len(set(ids)):
        missing = sorted(set(ids) - {f.id for f in found})
        raise Problem(404, "No such fingerprint in this case", f"unknown ids: {missing}")
    return found


def case_events(session: Session, *, case: Case, actor: str) -> dict[str, list[dict[str, Any]]]:
    matches = session.execute(
        select(MatchEvent, Platform.name)
        .join(Platform, Platform.id == MatchEvent.platform_id)
        .where(MatchEvent.case_id == case.id)
        .order_by(MatchEvent.id)
    ).all()
    reports = session.execute(
        select(Report, Platform.name)
        .join(Platform, Platform.id == Report.platform_id)
        .where(Report.case_id == case.id)
        .order_by(Report.id)
    ).all()
    audit(session, actor=actor, action="case.events.read", case_id=case.id)
    return {
        "matches": [
            {
                "match_id": m.public_id,
                "fingerprint_id": m.fingerprint_id,
                "platform": name,
                "content_id": m.content_id,
                "signal": m.signal,
                "distance": m.distance,
                "status": m.status,
                "at": m.created_at.isoformat(),
            }
            for m, name in matches
        ],
        "reports": [
            {
                "platform": name,
                "content_id": r.content_id,
                "uploader": r.uploader,
                "action": r.action,
                "forwarded_from": r.forwarded_from,
                "occurred_at": r.occurred_at.isoformat(),
                "match_id": _public_id(session, r.match_id),
            }
            for r, name in reports
        ],
    }


def _public_id(session: Session, match_id: int | None) -> str | None:
    return session.scalar(select(MatchEvent.public_id).where(MatchEvent.id == match_id)) if match_id else None


def grant(session: Session, *, case: Case, investigator_key_id: int, days: int, granted_by: str) -> Grant:
    key = session.get(ApiKey, investigator_key_id)
    if key is None or key.role != Role.INVESTIGATOR.value or key.revoked_at is not None:
        raise Problem(404, "No such investigator", "grants go to an active investigator key")
    row = Grant(
        case_id=case.id,
        key_id=key.id,
        granted_by=granted_by,
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(row)
    audit(session, actor=granted_by, action="grant.create", case_id=case.id, key_id=key.id, days=days)
    session.flush()
    return row


def granted_case(session: Session, *, number: str, key: ApiKey) -> Case:
    case = session.scalar(select(Case).where(Case.number == number))
    now = datetime.now(UTC)
    if case is not None and key.role == Role.ADMIN.value:
        return case
    if case is not None:
        grants = session.scalars(
            select(Grant).where(Grant.case_id == case.id, Grant.key_id == key.id, Grant.revoked_at.is_(None))
        )
        if any(_aware(g.expires_at) > now for g in grants):
            return case
    audit(session, actor=f"key:{key.id}", action="case.access.denied", number=number)
    session.commit()  # the refusal is on record even though the request fails
    raise Problem(
        403, "No access to this case", "access is granted per case by its holder or an administrator"
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- matching --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    match_id: str
    list: str
    action: str
    signal: str
    distance: int


def record_matches(
    session: Session,
    *,
    platform_id: int,
    queries: Sequence[tuple[str | None, list[tuple[str, Hit]]]],
    settings: Any,
    query_pdq: Sequence[str | None] | None = None,
) -> list[list[Verdict]]:
    """Turn index hits into match events (the evidence) and verdicts (what the platform learns).

    ``queries`` holds per query its content id and (signal, hit) pairs; ``query_pdq`` the PDQ
    each query looked up, where known (kept in the case's evidence log for the spread graph). A
    fingerprint that has matched more distinct contents than any real case does is quarantined here.
    """
    out: list[list[Verdict]] = []
    hit_ids = {hit.fingerprint_id for _, hits in queries for _, hit in hits}
    # One query for every fingerprint hit by the batch, and plain rows: a batch lookup can match
    # hundreds of fingerprints, and ORM objects cost several times more to load and to insert.
    found = (
        {
            row.id: row
            for row in session.execute(
                select(Fingerprint.id, Fingerprint.status, Fingerprint.case_id).where(
                    Fingerprint.id.in_(hit_ids)
                )
            )
        }
        if hit_ids
        else {}
    )
    now = utcnow()
    events: list[dict[str, Any]] = []
    looked_up: list[str | None] = []
    for position, (content_id, hits) in enumerate(queries):
        verdicts = []
        for signal, hit in hits:
            fp = found.get(hit.fingerprint_id)
            if fp is None or fp.status != "active":
                continue
            public_id = security.new_public_id()
            events.append(
                {
                    "public_id": public_id,
                    "fingerprint_id": fp.id,
                    "list_id": hit.list.id,
                    "case_id": fp.case_id,
                    "platform_id": platform_id,
                    "content_id": content_id,
                    "signal": signal,
                    "distance": hit.distance,
                    "action": hit.list.action,
                    "status": "pending_review" if hit.list.action == "review" else "open",
                    "created_at": now,
                }
            )
            looked_up.append(query_pdq[position] if query_pdq else None)
            verdicts.append(Verdict(public_id, hit.list.name, hit.list.action, signal, hit.distance))
        out.append(verdicts)
    if events:
        session.execute(insert(MatchEvent.__table__), events)  # Core: no ORM bookkeeping per row
        evidence_log.on_matches(session, events, looked_up)
        _maybe_quarantine(session, sorted({e["fingerprint_id"] for e in events}), settings)
    return out


def _maybe_quarantine(session: Session, fingerprint_ids: Sequence[int], settings: Any) -> None:
    """Quarantine the fingerprints that matched more distinct contents than any real case does."""
    window = utcnow() - timedelta(hours=settings.quarantine_window_hours)
    # First the events in the window, from the (fingerprint, time) index alone: their number
    # bounds the distinct contents from above, and is under the threshold for nearly every
    # fingerprint, so the exact count below reads the match rows of the few others only.
    suspects = [
        fingerprint_id
        for fingerprint_id, events in session.execute(
            select(MatchEvent.fingerprint_id, func.count())
            .where(MatchEvent.fingerprint_id.in_(fingerprint_ids), MatchEvent.created_at >= window)
            .group_by(MatchEvent.fingerprint_id)
        )
        if events > settings.quarantine_distinct
    ]
    if not suspects:
        return
    # Counted since the window began or since a reviewer released it, whichever is later: a
    # released fingerprint starts afresh.
    counts = session.execute(
        select(
            MatchEvent.fingerprint_id,
            func.count(func.distinct(func.coalesce(MatchEvent.content_id, MatchEvent.public_id))),
        )
        .join(Fingerprint, Fingerprint.id == MatchEvent.fingerprint_id)
        .where(
            MatchEvent.fingerprint_id.in_(suspects),
            MatchEvent.created_at >= window,
            MatchEvent.created_at >= Fingerprint.changed_at,
        )
        .group_by(MatchEvent.fingerprint_id)
    ).all()
    for fingerprint_id, distinct in counts:
        if distinct <= settings.quarantine_distinct:
            continue
        fp = session.get(Fingerprint, fingerprint_id)
        if fp is not None and fp.status == "active":
            set_status(session, fingerprints=[fp], status="quarantined")
            audit(
                session,
                actor="system",
                action="fingerprint.quarantine",
                case_id=fp.case_id,
                fingerprint_id=fp.id,
                distinct_contents=distinct,
            )


def digest_hits(
    session: Session, *, kind: str, values: Sequence[str], lists: dict[int, Any]
) -> dict[str, list[Hit]]:
    column = Fingerprint.md5 if kind == "md5" else Fingerprint.sha256
    rows = session.execute(
        select(Fingerprint.id, Fingerprint.list_id, column).where(
            column.in_(set(values)), Fingerprint.status == "active"
        )
    ).all()
    found: dict[str, list[Hit]] = {}
    negative = set()
    for fid, list_id, value in rows:
        policy = lists.get(list_id)
        if policy is None:
            continue
        if policy.kind == "negative":
            negative.add(value)
        else:
            found.setdefault(value, []).append(Hit(fid, policy, 0))
    return {v: hits for v, hits in found.items() if v not in negative}


def record_reports(session: Session, *, platform_id: int, reports: Sequence[dict[str, Any]]) -> int:
    made: list[tuple[Report, MatchEvent | None]] = []
    for position, item in enumerate(reports):
        if item["action"] not in REPORT_ACTIONS:
            raise Problem(
                422, "Unknown action", f"report {position}: action is one of {', '.join(REPORT_ACTIONS)}"
            )
        match = None
        if item.get("match_id"):
            match = session.scalar(
                select(MatchEvent).where(
                    MatchEvent.public_id == item["match_id"], MatchEvent.platform_id == platform_id
                )
            )
            if match is None:
                raise Problem(404, "No such match", f"report {position}: unknown match_id for this platform")
        row = Report(
            match_id=match.id if match else None,
            case_id=match.case_id if match else None,
            platform_id=platform_id,
            content_id=item["content_id"],
            uploader=item.get("uploader"),
            action=item["action"],
            forwarded_from=item.get("forwarded_from"),
            occurred_at=item.get("occurred_at") or utcnow(),
        )
        session.add(row)
        made.append((row, match))
    evidence_log.on_reports(session, made)  # the case's evidence, in this same transaction
    return len(reports)


# --- sync feed -------------------------------------------------------------------------------


def sync_feed(session: Session, *, cursor: int, limit: int) -> dict[str, Any]:
    """Changes after ``cursor``: additions as the CLI's records, withdrawals as tombstones.

    A record's id is ``fp-<number>``: it says nothing about the case or the victim. Negative
    lists are not sent (a platform matching locally gets only what should match).
    """
    rows = session.execute(
        select(
            Change.seq,
            Change.op,
            Fingerprint.id,
            Fingerprint.record,
            Fingerprint.status,
            HashList.name,
            HashList.kind,
            HashList.action,
        )
        .join(Fingerprint, Fingerprint.id == Change.fingerprint_id)
        .join(HashList, HashList.id == Fingerprint.list_id)
        .where(Change.seq > cursor)
        .order_by(Change.seq)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    additions, tombstones = [], []
    for row in rows:
        if row.kind == "negative":
            continue
        record_id = f"fp-{row.id}"
        if row.op == "add":
            additions.append(
                {"id": record_id, "list": row.name, "action": row.action, **json.loads(row.record)}
            )
        else:
            tombstones.append(record_id)
    return {
        "additions": additions,
        "tombstones": tombstones,
        "cursor": int(rows[-1].seq) if rows else cursor,
        "more": more,
    }


# --- review ----------------------------------------------------------------------------------


def review_queue(session: Session, *, limit: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(MatchEvent, HashList.name, Platform.name)
        .join(HashList, HashList.id == MatchEvent.list_id)
        .join(Platform, Platform.id == MatchEvent.platform_id)
        .where(MatchEvent.status == "pending_review")
        .order_by(MatchEvent.id)
        .limit(limit)
    ).all()
    return [
        {
            "match_id": m.public_id,
            "list": list_name,
            "platform": platform,
            "content_id": m.content_id,
            "fingerprint_id": m.fingerprint_id,
            "distance": m.distance,
            "at": m.created_at.isoformat(),
        }
        for m, list_name, platform in rows
    ]


def decide_match(session: Session, *, match_id: str, decision: str, reviewer: ApiKey) -> MatchEvent:
    event = session.scalar(select(MatchEvent).where(MatchEvent.public_id == match_id))
    if event is None:
        raise Problem(404, "No such match")
    if decision not in ("confirm", "reject"):
        raise Problem(422, "Unknown decision", "decision is 'confirm' or 'reject'")
    event.status = "confirmed" if decision == "confirm" else "rejected"
    event.reviewed_at, event.reviewed_by = utcnow(), reviewer.id
    audit(
        session,
        actor=f"key:{reviewer.id}",
        action=f"match.{decision}",
        case_id=event.case_id,
        match_id=match_id,
    )
    return event


def quarantined(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Fingerprint.id, HashList.name, Fingerprint.changed_at)
        .join(HashList, HashList.id == Fingerprint.list_id)
        .where(Fingerprint.status == "quarantined")
        .order_by(Fingerprint.id)
    ).all()
    return [{"fingerprint_id": i, "list": name, "since": at.isoformat()} for i, name, at in rows]


def decide_quarantine(
    session: Session, *, fingerprint_id: int, decision: str, reviewer: ApiKey
) -> Fingerprint:
    fp = session.get(Fingerprint, fingerprint_id)
    if fp is None or fp.status != "quarantined":
        raise Problem(404, "No such quarantined fingerprint")
    if decision not in ("release", "withdraw"):
        raise Problem(422, "Unknown decision", "decision is 'release' or 'withdraw'")
    set_status(session, fingerprints=[fp], status="active" if decision == "release" else "withdrawn")
    audit(
        session,
        actor=f"key:{reviewer.id}",
        action=f"quarantine.{decision}",
        case_id=fp.case_id,
        fingerprint_id=fp.id,
    )
    return fp


def set_threshold(session: Session, *, name: str, threshold: int, actor: str) -> HashList:
    hash_list = get_list(session, name)
    _check_threshold(threshold)
    hash_list.pdq_threshold = threshold
    audit(session, actor=actor, action="list.threshold", list=name, threshold=threshold)
    return hash_list
