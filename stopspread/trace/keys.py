"""The deployment's Ed25519 evidence key: made on first use in the data folder, or given.

The private key signs checkpoints and bundles. It is kept apart from the database on purpose:
someone who can rewrite the database (and re-hash a chain) still cannot sign a new head. For a
PostgreSQL deployment with several servers give every server the same key file
(``STOPSPREAD_EVIDENCE_KEY=/path/key.pem``); for a court, publish the public key (``stopspread
evidence public-key``) so that bundles can be checked against a pinned key, not only the copy
inside them.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_ENV = "STOPSPREAD_EVIDENCE_KEY"
KEY_FILE = Path("evidence") / "signing-key.pem"


def key_path(data_dir: Path) -> Path:
    given = os.environ.get(KEY_ENV)
    return Path(given) if given else data_dir / KEY_FILE


def load_or_create(data_dir: Path, path: Path | None = None) -> Ed25519PrivateKey:
    """The signing key at ``path`` (default: ``$STOPSPREAD_EVIDENCE_KEY`` or the data folder's);
    a missing default key is generated, readable by its owner only."""
    path = path or key_path(data_dir)
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 from the start (not chmod-ed after writing): the key is never readable by others.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return load_or_create(data_dir, path)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public(pem: str | bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode("ascii") if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """A short name of a key: the first 16 hex digits of the SHA-256 of its raw public bytes."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data)).decode("ascii")


def verify(public: Ed25519PublicKey, data: bytes, signature: str) -> bool:
    try:
        public.verify(base64.b64decode(signature, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True
