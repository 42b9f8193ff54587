"""Secrets, keys and roles.

Case secrets and API keys are 160 random bits (``secrets.token_urlsafe(20)``), shown once and
stored as SHA-256: with that much entropy a fast hash is as safe as a slow one, and a lookup
by digest is what lets a key be found without scanning. Comparisons are constant-time.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets


class Role(enum.StrEnum):
    PLATFORM = "platform"
    REVIEWER = "reviewer"
    INVESTIGATOR = "investigator"
    ADMIN = "admin"


KEY_PREFIX = "ssk_"


def new_secret() -> str:
    return secrets.token_urlsafe(20)


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(20)


def new_case_number() -> str:
    """Human-friendly, unguessable on its own is not needed (the secret is), but not sequential."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out over the phone
    body = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"SS-{body[:5]}-{body[5:]}"


def new_public_id() -> str:
    return secrets.token_hex(12)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_digest(secret: str, stored: str) -> bool:
    return hmac.compare_digest(digest(secret), stored)
