"""The service's tables. The database is the single source of truth; the in-memory index of each
worker process follows the ``changes`` table.

Nothing here holds media: fingerprints arrive as the CLI's JSON records and are kept as such.
Secrets and keys are stored only as SHA-256 digests (they are 128+ random bits, so a slow hash
adds nothing but latency). The ``audit_log``, ``changes``, ``evidence_log`` and
``evidence_checkpoints`` tables are append-only; the migrations install triggers that refuse
UPDATE and DELETE on them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for 10M+ rows.
BigId = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class HashList(Base):
    """A list of fingerprints with one policy: what a match means and how near is near."""

    __tablename__ = "lists"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # "cases" (victims' own fingerprints), "curated" (imported), "negative" (never matches).
    kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))  # "block" | "review"
    pdq_threshold: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Fingerprint(Base):
    __tablename__ = "fingerprints"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "image" | "video"
    # The hashes the server matches on, space-separated 64-hex PDQ (picture, inner picture,
    # video frames) and the exact digests; the full record is kept for the sync feed.
    pdq: Mapped[str] = mapped_column(Text, default="")
    md5: Mapped[str | None] = mapped_column(String(32), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    record: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|withdrawn|quarantined
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Change(Base):
    """Every time a fingerprint starts or stops matching: the index and the sync feed follow it."""

    __tablename__ = "changes"
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    fingerprint_id: Mapped[int] = mapped_column(ForeignKey("fingerprints.id"))
    op: Mapped[str] = mapped_column(String(8))  # "add" | "remove"
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Platform(Base):
    __tablename__ = "platforms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # A trusted platform may download the list (sync feed) and match locally.
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # platform|reviewer|investigator|admin
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platforms.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MatchEvent(Base):
    """A platform's lookup that hit a fingerprint: the evidence investigations are built from."""

    __tablename__ = "matches"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    fingerprint_id: Mapped[int] = mapped_column(ForeignKey("fingerprints.id"))  # ix_matches_fp_time
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id"))
    content_id: Mapped[str | None] = mapped_column(String(256))
    signal: Mapped[str] = mapped_column(String(8))  # pdq|md5|sha256
    distance: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # block|review, as the list said
    status: Mapped[str] = mapped_column(String(16))  # open|pending_review|confirmed|rejected
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))


class Report(Base):
    """What a platform did with a copy (StopNCII's vocabulary), with where it came from."""

    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    match_id: Mapped[int | None] = mapped_column(ForeignKey("matches.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platforms.id"))
    content_id: Mapped[str] = mapped_column(String(256))
    uploader: Mapped[str | None] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(16))  # PendingReview|Blocked|NotBlocked
    forwarded_from: Mapped[str | None] = mapped_column(String(256))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Grant(Base):
    """An investigator's access to one case, given by the case holder or an administrator."""

    __tablename__ = "grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    granted_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    detail: Mapped[str] = mapped_column(Text, default="{}")


class EvidenceEntry(Base):
    """One event of a case (a match, a platform report, an imported chat) in its hash chain.

    The chain is per case (``case_seq`` 1, 2, …): an evidence bundle for one case verifies on its
    own, without the events of other victims' cases. ``entry`` is the canonical JSON the hash is
    taken over (see ``stopspread.trace.chain``); the columns beside it are copies for queries.
    """

    __tablename__ = "evidence_log"
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    case_seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # match|report|chat
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    entry: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class EvidenceCheckpoint(Base):
    """A signed statement of a case's chain head: ``statement`` (canonical JSON) and its Ed25519
    signature by the deployment's evidence key."""

    __tablename__ = "evidence_checkpoints"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    count: Mapped[int] = mapped_column(BigInteger)
    head: Mapped[str] = mapped_column(String(64))
    statement: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChatImport(Base):
    """A chat export brought into a case as evidence; its messages are in ``chat_messages``."""

    __tablename__ = "chat_imports"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(256))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    imported_by: Mapped[str] = mapped_column(String(64))
    risk: Mapped[str] = mapped_column(Text, default="{}")  # the detector's conversation verdict
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChatLine(Base):
    """One message of an imported chat, with the sextortion detector's verdict on it."""

    __tablename__ = "chat_messages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("chat_imports.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))  # as the phone showed it
    author: Mapped[str | None] = mapped_column(String(256))
    text: Mapped[str] = mapped_column(Text)
    attachments: Mapped[str] = mapped_column(Text, default="[]")
    system: Mapped[bool] = mapped_column(Boolean, default=False)
    label: Mapped[str | None] = mapped_column(String(16))  # sextortion|benign|unsupported
    score: Mapped[float | None] = mapped_column(Float)
    category: Mapped[str | None] = mapped_column(String(32))
    evidence: Mapped[str] = mapped_column(Text, default="[]")


Index("ix_matches_fp_time", MatchEvent.fingerprint_id, MatchEvent.created_at)
# One chain position per case: a second writer racing for the same position fails, never forks.
Index("ix_evidence_case_seq", EvidenceEntry.case_id, EvidenceEntry.case_seq, unique=True)
APPEND_ONLY = ("audit_log", "changes", "evidence_log", "evidence_checkpoints")
