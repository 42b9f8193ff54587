"""The detector behind the service: any staff or platform key, nothing stored."""

from __future__ import annotations

from tests.service.conftest import Service


def test_detect_endpoint_flags_threats_and_keeps_order(service: Service) -> None:
    body = {
        "messages": [
            {"id": "a", "author": "x", "text": "send me more pics or I'll post the ones I have for everyone"},
            {"id": "b", "author": "y", "text": "are you coming to the party on saturday?"},
        ]
    }
    response = service.client.post("/v1/detect", json=body, headers=service.auth("platform"))
    assert response.status_code == 200, response.text
    records = response.json()["messages"]
    assert [r["id"] for r in records] == ["a", "b"]
    assert [r["label"] for r in records] == ["sextortion", "benign"]
    assert response.json()["conversation"]["threatening_side"] == "x"


def test_detect_needs_a_key_and_valid_messages(service: Service) -> None:
    assert service.client.post("/v1/detect", json={"messages": []}).status_code == 401
    bad = service.client.post("/v1/detect", json={"messages": [{"id": 1}]}, headers=service.auth("reviewer"))
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
