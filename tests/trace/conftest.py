"""The service fixtures of tests/service (SQLite and PostgreSQL), and helpers that make a spread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.service.conftest import (  # noqa: F401  (fixtures used by name)
    BACKENDS,
    Service,
    database_url,
    near,
    random_pdq,
    service,
)

START = datetime(2026, 3, 12, 20, 0, tzinfo=UTC)


def report(
    svc: Service,
    who: str,
    match_id: str,
    content: str,
    uploader: str | None,
    hours: float,
    forwarded_from: str | None = None,
) -> None:
    response = svc.client.post(
        "/v1/reports",
        json={
            "reports": [
                {
                    "match_id": match_id,
                    "content_id": content,
                    "uploader": uploader,
                    "action": "Blocked",
                    "forwarded_from": forwarded_from,
                    "occurred_at": (START + timedelta(hours=hours)).isoformat(),
                }
            ]
        },
        headers=svc.auth(who),
    )
    assert response.status_code == 201, response.text


def spread(svc: Service) -> tuple[str, dict[str, str]]:
    """A case whose picture is posted by chatapp/u-first, forwarded (one link reported, one not),
    then re-uploaded on photoshare (the "trusted" key's platform) by p-intro."""
    original = random_pdq()
    number, secret, _ = svc.open_case(original)
    copies = [
        # who, content, uploader, hours, bits from the original, reported forwarded_from
        ("platform", "c1", "u-first", 0.0, 2, None),
        ("platform", "c2", "u-second", 1.0, 4, "c1"),
        ("platform", "c3", "u-third", 2.0, 6, None),
        ("trusted", "p1", "p-intro", 5.0, 8, None),
        ("trusted", "p2", "p-fan", 6.0, 10, "p1"),
    ]
    for who, content, uploader, hours, bits, source in copies:
        result = svc.lookup(near(original, bits), who=who, content=content)[0]
        assert result["matched"], content
        report(svc, who, result["matches"][0]["match_id"], content, uploader, hours, source)
    return number, secret


def grant(svc: Service, number: str, secret: dict[str, str], who: str = "investigator") -> int:
    response = svc.client.post(
        f"/v1/cases/{number}/grants",
        json={"investigator_key_id": svc.key_ids[who], "days": 30},
        headers=secret,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["grant_id"])
