"""`POST /v1/detect`: the sextortion detector as a service, for apps that warn a child early and
for investigators who mark threats in a case file. Messages are scored and forgotten: nothing
is stored."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from stopspread.detect import Detector
from stopspread.detect.batch import InputError, detect_payload
from stopspread.service.problems import PROBLEM_RESPONSES, Problem
from stopspread.service.routes import StateDep, role
from stopspread.service.security import Role
from stopspread.storage.models import ApiKey

router = APIRouter(prefix="/v1", tags=["detection"])
AnyKey = Annotated[ApiKey, role(Role.PLATFORM, Role.REVIEWER, Role.INVESTIGATOR, Role.ADMIN)]
_loaded: Detector | None = None
_loading = threading.Lock()

EXAMPLE = {
    "messages": [
        {"id": "m1", "author": "x", "text": "send more or everyone sees these"},
        {"id": "m2", "author": "y", "text": "see you at practice"},
    ]
}


def _detector() -> Detector:
    global _loaded
    with _loading:
        if _loaded is None:
            _loaded = Detector.load()
        return _loaded


@router.post("/detect", responses=PROBLEM_RESPONSES)
def detect(
    key: AnyKey,
    state: StateDep,
    request: Request,
    payload: Annotated[dict[str, Any], Body(examples=[EXAMPLE])],
) -> dict[str, Any]:
    """Per message: label (sextortion / benign / unsupported), calibrated score, category, the
    words that drove it; per conversation: the risk, when it started and the threatening side."""
    messages = payload.get("messages")
    count = len(messages) if isinstance(messages, list) else 1
    if count > state.settings.max_batch:
        raise Problem(413, "Too many messages", f"at most {state.settings.max_batch} a request")
    wait = state.lookup_limits.take(f"key:{key.id}", cost=count)
    if wait:
        raise Problem(
            429, "Too many requests", "this key's rate is exceeded", retry_after=max(1, round(wait))
        )
    try:
        return detect_payload(_detector(), payload)
    except InputError as exc:
        raise Problem(422, "Invalid messages", str(exc)) from exc
