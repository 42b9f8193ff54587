"""Request and response bodies, with the examples shown in the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PDQ_EXAMPLE = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
RECORD_EXAMPLE = {"kind": "image", "pdq": PDQ_EXAMPLE, "quality": 100}


class FingerprintsIn(BaseModel):
    """Fingerprints as `stopspread hash` writes them (or the victim's page makes them); never media."""

    fingerprints: list[dict[str, Any]] = Field(min_length=1, max_length=1000, examples=[[RECORD_EXAMPLE]])


class CaseOpened(BaseModel):
    case_number: str = Field(examples=["SS-K7M2Q-9XWPT"])
    secret: str = Field(description="Shown once; only its digest is stored. It cannot be recovered.")
    fingerprint_ids: list[int]


class CaseView(BaseModel):
    case_number: str
    active: int
    withdrawn: int
    under_review: int = Field(description="Quarantined fingerprints waiting for a reviewer")
    blocked_copies: int = Field(description="Distinct copies platforms reported as blocked")
    fingerprints: list[dict[str, Any]]


class WithdrawIn(BaseModel):
    fingerprint_ids: list[int] | None = Field(default=None, description="Omit to withdraw all of the case")


class Changed(BaseModel):
    changed: int


class GrantIn(BaseModel):
    investigator_key_id: int
    days: int = Field(default=90, ge=1, le=365)


class GrantOut(BaseModel):
    grant_id: int
    expires_at: datetime


class Signal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pdq: str | None = Field(default=None, examples=[PDQ_EXAMPLE])
    md5: str | None = None
    sha256: str | None = None
    content_id: str | None = Field(default=None, max_length=256, description="The platform's own id")


class LookupIn(BaseModel):
    signals: list[Signal] = Field(
        min_length=1, max_length=1000, examples=[[{"pdq": PDQ_EXAMPLE, "content_id": "c-1"}]]
    )


class MatchOut(BaseModel):
    match_id: str
    list: str
    action: Literal["block", "review"]
    signal: str
    distance: int


class LookupResult(BaseModel):
    matched: bool
    matches: list[MatchOut]


class LookupOut(BaseModel):
    results: list[LookupResult]


class ReportIn(BaseModel):
    content_id: str = Field(max_length=256)
    action: Literal["PendingReview", "Blocked", "NotBlocked"]
    match_id: str | None = None
    uploader: str | None = Field(default=None, max_length=256, description="Pseudonymous uploader id")
    forwarded_from: str | None = Field(
        default=None, max_length=256, description="Content id it was forwarded from"
    )
    occurred_at: datetime | None = None


class ReportsIn(BaseModel):
    reports: list[ReportIn] = Field(min_length=1, max_length=1000)


class Accepted(BaseModel):
    accepted: int


class Decision(BaseModel):
    decision: str = Field(examples=["confirm"])


class ThresholdIn(BaseModel):
    pdq_threshold: int = Field(ge=0, le=63)
