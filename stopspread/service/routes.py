"""HTTP routes, one router per role. Routes are thin: authenticate, limit, call `store`, commit."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from stopspread.errors import InvalidSignalError
from stopspread.service import security, store
from stopspread.service.app import State, metrics_response
from stopspread.service.live_index import Hit
from stopspread.service.problems import PROBLEM_RESPONSES, Problem
from stopspread.service.schemas import (
    Accepted,
    CaseOpened,
    CaseView,
    Changed,
    Decision,
    FingerprintsIn,
    GrantIn,
    GrantOut,
    LookupIn,
    LookupOut,
    LookupResult,
    MatchOut,
    ReportsIn,
    Signal,
    ThresholdIn,
    WithdrawIn,
)
from stopspread.service.security import Role
from stopspread.signals.types import Md5Signal, PdqSignal, Sha256Signal
from stopspread.storage.models import ApiKey
from stopspread.trace import cases as investigations
from stopspread.trace import keys as trace_keys
from stopspread.trace import log as evidence_log
from stopspread.trace.page import router as investigator_page

# Dependencies that do not block are ``async``: FastAPI runs a plain ``def`` dependency in a
# worker thread, and those hand-offs were a good part of a single lookup's cost.


async def _state(request: Request) -> State:
    return request.app.state.stopspread  # type: ignore[no-any-return]


StateDep = Annotated[State, Depends(_state)]


def _session(state: StateDep) -> Iterator[Session]:
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(_session)]


def _bearer(authorization: str | None) -> str:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Problem(401, "Missing or unknown credentials", "send 'Authorization: Bearer <key>'")
    return authorization[7:].strip()


# A platform calls thousands of times a second: a known key is remembered this long, so a
# revocation takes effect within it on every worker.
KEY_CACHE_SECONDS = 5.0


async def _key(state: StateDep, authorization: Annotated[str | None, Header()] = None) -> ApiKey:
    secret = _bearer(authorization)
    digest = security.digest(secret)
    now = time.monotonic()
    cached = state.key_cache.get(digest)
    if cached is not None and now - cached[0] < KEY_CACHE_SECONDS:
        return cached[1]
    key = await run_in_threadpool(_load_key, state, secret)
    if key is None:
        raise Problem(401, "Missing or unknown credentials")
    if len(state.key_cache) > 10_000:
        state.key_cache.clear()
    state.key_cache[digest] = (now, key)
    return key


def _load_key(state: State, secret: str) -> ApiKey | None:
    with state.sessions() as session:
        key = store.key_for(session, secret)
        if key is not None:
            session.expunge(key)
        return key


def role(*allowed: Role) -> Any:
    names = {r.value for r in allowed}

    async def check(key: Annotated[ApiKey, Depends(_key)]) -> ApiKey:
        if key.role not in names:
            raise Problem(403, "Not allowed for this role", f"this route is for: {', '.join(sorted(names))}")
        return key

    return Depends(check)


PlatformKey = Annotated[ApiKey, role(Role.PLATFORM)]
ReviewerKey = Annotated[ApiKey, role(Role.REVIEWER, Role.ADMIN)]
InvestigatorKey = Annotated[ApiKey, role(Role.INVESTIGATOR, Role.ADMIN)]


def _limit_case(request: Request, state: StateDep) -> None:
    client = request.client.host if request.client else "unknown"
    wait = state.case_limits.take(client)
    if wait:
        raise Problem(429, "Too many requests", "slow down", retry_after=max(1, round(wait)))


CaseLimit = Depends(_limit_case)


def _ready(state: State, session: Session) -> None:
    if not state.index.ready:
        raise Problem(503, "Index loading", "the list is being loaded; retry shortly", retry_after=5)
    if not state.index.is_current(state.engine):
        state.index.catch_up(session)


# --- victims and guardians -------------------------------------------------------------------

cases = APIRouter(prefix="/v1/cases", tags=["cases (victims and guardians)"], dependencies=[CaseLimit])


def _case(session: Session, number: str, authorization: str | None) -> Any:
    return store.case_for(session, number=number, secret=_bearer(authorization))


@cases.post("", status_code=201, response_model=CaseOpened, responses=PROBLEM_RESPONSES)
def open_case(body: FingerprintsIn, state: StateDep, session: SessionDep) -> CaseOpened:
    """Open a case with fingerprints. The case number and secret are shown once."""
    _ready(state, session)
    records = store.parse_records(body.fingerprints)
    case, secret, rows = store.open_case(session, records=records, index=state.index)
    session.commit()
    return CaseOpened(case_number=case.number, secret=secret, fingerprint_ids=[r.id for r in rows])


@cases.get("/{number}", response_model=CaseView, responses=PROBLEM_RESPONSES)
def read_case(
    number: str, session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> CaseView:
    """How many fingerprints are active and how many copies were blocked (with the case secret)."""
    case = _case(session, number, authorization)
    summary = store.case_summary(session, case=case, actor=f"case:{case.number}")
    session.commit()
    return CaseView(
        case_number=summary.number,
        active=summary.active,
        withdrawn=summary.withdrawn,
        under_review=summary.under_review,
        blocked_copies=summary.blocked_copies,
        fingerprints=summary.fingerprints,
    )


@cases.post("/{number}/fingerprints", status_code=201, response_model=Changed, responses=PROBLEM_RESPONSES)
def add_to_case(
    number: str,
    body: FingerprintsIn,
    state: StateDep,
    session: SessionDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Changed:
    case = _case(session, number, authorization)
    _ready(state, session)
    records = store.parse_records(body.fingerprints)
    hash_list = session.get(store.HashList, case.list_id)
    rows = store.add_fingerprints(session, hash_list=hash_list, records=records, case=case, index=state.index)
    store.audit(
        session, actor=f"case:{case.number}", action="case.add", case_id=case.id, fingerprints=len(rows)
    )
    session.commit()
    return Changed(changed=len(rows))


@cases.post("/{number}/withdraw", response_model=Changed, responses=PROBLEM_RESPONSES)
def withdraw(
    number: str,
    session: SessionDep,
    body: WithdrawIn | None = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Changed:
    """Withdraw some fingerprints (``{"fingerprint_ids": [...]}``) or all. They stop matching at once."""
    case = _case(session, number, authorization)
    ids = body.fingerprint_ids if body else None
    found = store.case_fingerprints(session, case=case, ids=ids)
    changed = store.set_status(session, fingerprints=found, status="withdrawn")
    store.audit(
        session, actor=f"case:{case.number}", action="case.withdraw", case_id=case.id, changed=changed
    )
    session.commit()
    return Changed(changed=changed)


@cases.post("/{number}/grants", status_code=201, response_model=GrantOut, responses=PROBLEM_RESPONSES)
def grant_access(
    number: str, body: GrantIn, session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> GrantOut:
    """Let an investigator (police unit) read this case's events for a number of days."""
    case = _case(session, number, authorization)
    row = store.grant(
        session,
        case=case,
        investigator_key_id=body.investigator_key_id,
        days=body.days,
        granted_by=f"case:{case.number}",
    )
    session.commit()
    return GrantOut(grant_id=row.id, expires_at=row.expires_at)


@cases.delete("/{number}/grants/{grant_id}", responses=PROBLEM_RESPONSES)
def revoke_grant(
    number: str, grant_id: int, session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    """End an investigator's access now."""
    case = _case(session, number, authorization)
    row = investigations.revoke_grant(session, case=case, grant_id=grant_id, revoked_by=f"case:{case.number}")
    session.commit()
    return {"grant_id": row.id, "revoked_at": row.revoked_at}


# --- platforms -------------------------------------------------------------------------------

platform = APIRouter(prefix="/v1", tags=["platforms"])


def _take_lookups(state: State, key: ApiKey, count: int) -> None:
    """Every matching route draws on the key's lookup budget: a platform probing the list with
    variations of a picture must not be able to map it."""
    wait = state.lookup_limits.take(f"key:{key.id}", cost=count)
    if wait:
        raise Problem(
            429, "Too many lookups", "this key's lookup rate is exceeded", retry_after=max(1, round(wait))
        )


async def _lookup(state: State, key: ApiKey, signals: list[Signal]) -> list[LookupResult]:
    """A platform's lookup: the blocking part (database, index) in one worker thread."""
    _take_lookups(state, key, len(signals))
    return await run_in_threadpool(_lookup_blocking, state, key, signals)


def _lookup_blocking(state: State, key: ApiKey, signals: list[Signal]) -> list[LookupResult]:
    with state.sessions() as session:
        _ready(state, session)
        per_query = _hits_per_query(state, session, signals)
    # One match per fingerprint per query, its best signal.
    queries = []
    for s, hits in zip(signals, per_query, strict=True):
        best: dict[int, tuple[str, Hit]] = {}
        for signal, hit in hits:
            if hit.fingerprint_id not in best or hit.distance < best[hit.fingerprint_id][1].distance:
                best[hit.fingerprint_id] = (signal, hit)
        queries.append((s.content_id, list(best.values())))
    assert key.platform_id is not None
    verdicts = state.recorder.record(
        platform_id=key.platform_id, queries=queries, query_pdq=[s.pdq for s in signals]
    )
    state.metrics.lookups.inc(len(signals))
    state.metrics.matches.inc(sum(1 for v in verdicts if v))
    return [
        LookupResult(
            matched=bool(v),
            matches=[
                MatchOut(
                    match_id=m.match_id, list=m.list, action=m.action, signal=m.signal, distance=m.distance
                )
                for m in v
            ],  # type: ignore[arg-type]
        )
        for v in verdicts
    ]


def _hits_per_query(state: State, session: Session, signals: list[Signal]) -> list[list[tuple[str, Hit]]]:
    per_query: list[list[tuple[str, Hit]]] = [[] for _ in signals]
    try:
        pdq_at = [i for i, s in enumerate(signals) if s.pdq]
        if pdq_at:
            hashes = PdqSignal.to_array([PdqSignal.validate(signals[i].pdq or "") for i in pdq_at])
            for i, hits in zip(pdq_at, state.index.lookup(hashes), strict=True):
                per_query[i].extend(("pdq", h) for h in hits)
        for kind, validator in (("md5", Md5Signal), ("sha256", Sha256Signal)):
            values = {
                i: validator.validate(getattr(s, kind)) for i, s in enumerate(signals) if getattr(s, kind)
            }
            if values:
                found = store.digest_hits(
                    session, kind=kind, values=list(values.values()), lists=state.index.lists
                )
                for i, value in values.items():
                    per_query[i].extend((kind, h) for h in found.get(value, []))
    except InvalidSignalError as exc:
        raise Problem(422, "Invalid signal", str(exc)) from exc
    return per_query


@platform.post("/match", response_model=LookupOut, responses=PROBLEM_RESPONSES)
async def match_batch(body: LookupIn, key: PlatformKey, state: StateDep) -> LookupOut:
    """Check up to 1000 fingerprints of uploads or forwards. A match says what the list's policy is
    (block, or hold for review) and gives a match id to report against; nothing about the victim."""
    return LookupOut(results=await _lookup(state, key, body.signals))


@platform.get("/match", response_model=LookupResult, responses=PROBLEM_RESPONSES)
async def match_one(
    key: PlatformKey,
    state: StateDep,
    pdq: str | None = None,
    md5: str | None = None,
    sha256: str | None = None,
    content_id: str | None = None,
) -> LookupResult:
    if not (pdq or md5 or sha256):
        raise Problem(422, "Invalid request", "give pdq, md5 or sha256")
    return (await _lookup(state, key, [Signal(pdq=pdq, md5=md5, sha256=sha256, content_id=content_id)]))[0]


@platform.post("/reports", status_code=201, response_model=Accepted, responses=PROBLEM_RESPONSES)
def report(body: ReportsIn, key: PlatformKey, session: SessionDep) -> Accepted:
    """What the platform did with each copy: PendingReview, Blocked or NotBlocked."""
    assert key.platform_id is not None
    count = store.record_reports(
        session, platform_id=key.platform_id, reports=[r.model_dump() for r in body.reports]
    )
    session.commit()
    return Accepted(accepted=count)


@platform.get("/sync", responses=PROBLEM_RESPONSES)
def sync(
    key: PlatformKey,
    session: SessionDep,
    cursor: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Delta feed for trusted platforms that match locally: additions (records as `stopspread scan
    --against` reads them) and tombstones, after ``cursor``; call again with the returned cursor."""
    platform_row = session.get(store.Platform, key.platform_id)
    if platform_row is None or not platform_row.trusted:
        raise Problem(403, "Not a trusted platform", "the list is shared only with trusted platforms")
    return store.sync_feed(session, cursor=cursor, limit=limit)


# --- HMA 2.0 compatible matcher routes -------------------------------------------------------

hma = APIRouter(prefix="/m", tags=["HMA-compatible matching"])


def _hma_signal(state: State, key: ApiKey, signal_type: str, signal: str) -> str:
    if signal_type != "pdq":
        raise Problem(400, f"No such SignalType '{signal_type}'", "stopspread's HMA routes serve 'pdq'")
    try:
        value = PdqSignal.validate(signal)
    except InvalidSignalError as exc:
        raise Problem(400, f"invalid signal type: {exc}") from exc
    _take_lookups(state, key, 1)
    return value


def _index_hits(state: State, pdq: str) -> list[Hit]:
    with state.sessions() as session:
        _ready(state, session)
    return state.index.lookup(PdqSignal.to_array([pdq]))[0]


def _hma_lookup(state: State, key: ApiKey, pdq: str) -> list[str]:
    hits = _index_hits(state, pdq)
    assert key.platform_id is not None
    state.recorder.record(platform_id=key.platform_id, queries=[(None, [("pdq", h) for h in hits])])
    return sorted({h.list.name for h in hits})


@hma.get("/lookup", responses=PROBLEM_RESPONSES)
async def hma_lookup(key: PlatformKey, state: StateDep, signal_type: str, signal: str) -> list[str]:
    """The names of the lists ("banks") the hash matches, as HMA's `GET /m/lookup` answers."""
    pdq = _hma_signal(state, key, signal_type, signal)
    return await run_in_threadpool(_hma_lookup, state, key, pdq)


@hma.get("/raw_lookup", responses=PROBLEM_RESPONSES)
async def hma_raw_lookup(
    key: PlatformKey, state: StateDep, signal_type: str, signal: str, include_distance: bool = False
) -> dict[str, Any]:
    pdq = _hma_signal(state, key, signal_type, signal)
    hits = await run_in_threadpool(_index_hits, state, pdq)
    if include_distance:
        return {"matches": [{"content_id": h.fingerprint_id, "distance": str(h.distance)} for h in hits]}
    return {"matches": [h.fingerprint_id for h in hits]}


@hma.get("/index/status", responses=PROBLEM_RESPONSES)
def hma_index_status(key: PlatformKey, state: StateDep, session: SessionDep) -> dict[str, Any]:
    if state.index.ready:
        state.index.catch_up(session)
    return {
        "pdq": {
            "present": state.index.ready,
            "built_to": state.index.seq if state.index.ready else -1,
            "size": state.index.size,
        }
    }


# --- reviewers -------------------------------------------------------------------------------

review = APIRouter(prefix="/v1", tags=["review"])


@review.get("/review/queue", responses=PROBLEM_RESPONSES)
def review_queue(
    key: ReviewerKey, session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    """Matches held for review, oldest first."""
    return store.review_queue(session, limit=limit)


@review.post("/review/matches/{match_id}", responses=PROBLEM_RESPONSES)
def decide(match_id: str, body: Decision, key: ReviewerKey, session: SessionDep) -> dict[str, str]:
    event = store.decide_match(session, match_id=match_id, decision=body.decision, reviewer=key)
    session.commit()
    return {"match_id": event.public_id, "status": event.status}


@review.get("/review/quarantine", responses=PROBLEM_RESPONSES)
def quarantine(key: ReviewerKey, session: SessionDep) -> list[dict[str, Any]]:
    """Fingerprints that matched far more distinct contents than a real case does."""
    return store.quarantined(session)


@review.post("/review/fingerprints/{fingerprint_id}", responses=PROBLEM_RESPONSES)
def decide_quarantine(
    fingerprint_id: int, body: Decision, key: ReviewerKey, session: SessionDep
) -> dict[str, Any]:
    fp = store.decide_quarantine(session, fingerprint_id=fingerprint_id, decision=body.decision, reviewer=key)
    session.commit()
    return {"fingerprint_id": fp.id, "status": fp.status}


@review.put("/lists/{name}/threshold", responses=PROBLEM_RESPONSES)
def threshold(name: str, body: ThresholdIn, key: ReviewerKey, session: SessionDep) -> dict[str, Any]:
    hash_list = store.set_threshold(session, name=name, threshold=body.pdq_threshold, actor=f"key:{key.id}")
    session.commit()
    return {"list": hash_list.name, "pdq_threshold": hash_list.pdq_threshold}


@review.post(
    "/lists/{name}/fingerprints", status_code=201, response_model=Changed, responses=PROBLEM_RESPONSES
)
def add_to_list(
    name: str, body: FingerprintsIn, key: ReviewerKey, state: StateDep, session: SessionDep
) -> Changed:
    """Add fingerprints to a curated list or to the negative list of known benign content."""
    hash_list = store.get_list(session, name)
    if hash_list.kind == "cases":
        raise Problem(403, "Cases list", "fingerprints enter the cases list only through a case")
    _ready(state, session)
    rows = store.add_fingerprints(
        session, hash_list=hash_list, records=store.parse_records(body.fingerprints), index=state.index
    )
    store.audit(session, actor=f"key:{key.id}", action="list.add", list=name, fingerprints=len(rows))
    session.commit()
    return Changed(changed=len(rows))


# --- investigators ---------------------------------------------------------------------------

investigate = APIRouter(prefix="/v1/investigations", tags=["investigators"])


@investigate.get("/cases/{number}/events", responses=PROBLEM_RESPONSES)
def case_events(number: str, key: InvestigatorKey, session: SessionDep) -> dict[str, Any]:
    """Every match and platform report of a case the investigator was granted."""
    case = store.granted_case(session, number=number, key=key)
    events = store.case_events(session, case=case, actor=f"key:{key.id}")
    session.commit()
    return {"case_number": case.number, **events}


@investigate.get("/cases/{number}/trace", responses=PROBLEM_RESPONSES)
def case_trace(number: str, key: InvestigatorKey, state: StateDep, session: SessionDep) -> Response:
    """The spread graph of a granted case: copies, reported and inferred forwards, the earliest
    sharer, the accounts that introduced each picture to each platform, top spreaders, speed. The
    chain head the answer was built from is signed, so what the investigator saw is fixed."""
    case = store.granted_case(session, number=number, key=key)
    signing_key = trace_keys.load_or_create(state.settings.data)
    with investigations.collector_paused():
        result = investigations.trace(session, case=case, actor=f"key:{key.id}")
        signed = evidence_log.checkpoint(session, case=case, key=signing_key)
        session.commit()
        # Plain JSON values already: FastAPI's generic encoder would walk the hundreds of
        # thousands of values of a large case once more (over a second) before serialising.
        body = orjson.dumps({**result.to_json(), "checkpoint": signed.to_json()})
    return Response(body, media_type="application/json")


@investigate.get("/cases/{number}/bundle", responses=PROBLEM_RESPONSES)
def case_bundle(number: str, key: InvestigatorKey, state: StateDep, session: SessionDep) -> Response:
    """The evidence bundle of a granted case (zip; check it with `stopspread evidence verify`)."""
    case = store.granted_case(session, number=number, key=key)
    data = investigations.export(
        session, case=case, key=trace_keys.load_or_create(state.settings.data), actor=f"key:{key.id}"
    )
    session.commit()
    return Response(
        data,
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="evidence-{case.number}.zip"'},
    )


@investigate.get("/cases/{number}/verify", responses=PROBLEM_RESPONSES)
def case_verify(number: str, key: InvestigatorKey, state: StateDep, session: SessionDep) -> dict[str, Any]:
    """Whether the case's evidence log is intact (chain, signed checkpoints, source rows)."""
    case = store.granted_case(session, number=number, key=key)
    public = trace_keys.load_or_create(state.settings.data).public_key()
    result = evidence_log.verify_case(session, case=case, public_key=public)
    store.audit(session, actor=f"key:{key.id}", action="case.verify", case_id=case.id, ok=result.ok)
    session.commit()
    return result.to_json()


@investigate.post("/cases/{number}/chats", status_code=201, responses=PROBLEM_RESPONSES)
def import_chat(
    number: str,
    key: InvestigatorKey,
    session: SessionDep,
    body: Annotated[bytes, Body(media_type="text/plain")],
    x_file_name: Annotated[str, Header()] = "chat.txt",
) -> dict[str, Any]:
    """A WhatsApp chat export (the .txt, as text/plain) into the case: the file's SHA-256 goes into
    the evidence log; the sextortion detector marks the threatening messages."""
    case = store.granted_case(session, number=number, key=key)
    row = investigations.import_chat(
        session, case=case, data=body, file_name=x_file_name, actor=f"key:{key.id}"
    )
    session.commit()
    return {"chat_id": row.id, "sha256": row.sha256, "risk": json.loads(row.risk)}


@investigate.get("/cases/{number}/chats", responses=PROBLEM_RESPONSES)
def case_chats(number: str, key: InvestigatorKey, session: SessionDep) -> list[dict[str, Any]]:
    case = store.granted_case(session, number=number, key=key)
    chats = investigations.chats(session, case=case)
    store.audit(session, actor=f"key:{key.id}", action="case.chats.read", case_id=case.id)
    session.commit()
    return chats


# --- operations ------------------------------------------------------------------------------

ops = APIRouter(tags=["operations"])


@ops.get("/livez")
def livez() -> dict[str, str]:
    return {"status": "ok"}


@ops.get("/readyz")
def readyz(state: StateDep) -> Response:
    if state.load_error:
        return JSONResponse({"status": "failed", "detail": state.load_error}, status_code=503)
    if not state.index.ready:
        return JSONResponse({"status": "loading"}, status_code=503)
    return JSONResponse({"status": "ready", "entries": state.index.size, "seq": state.index.seq})


@ops.get("/metrics")
def metrics(state: StateDep) -> Response:
    return metrics_response(state)


def mount(app: FastAPI) -> None:
    # Routes are matched in order, one pattern after another: the lookups platforms make
    # thousands of times a second come first.
    for router in (platform, hma, ops, cases, review, investigate, investigator_page):
        app.include_router(router)
