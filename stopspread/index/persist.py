"""On-disk format: one ``.npy`` file per array plus ``manifest.json``.

Why this shape: ``.npy`` loads with ``allow_pickle=False``, so a planted index file cannot run
code; the manifest carries a format version (so an old reader refuses a newer layout instead
of misreading it) and a SHA-256 per array (so bit rot or a truncated copy is reported instead
of silently returning wrong matches). The manifest is written last and atomically: a crash
mid-save leaves either the old manifest or none, never one that points at half-written arrays.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from stopspread.errors import IndexFormatError

FORMAT = "stopspread-hamming-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def write_index(directory: Path, kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Save ``arrays`` and a manifest describing them under ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    entries: dict[str, dict[str, Any]] = {}
    for name, arr in arrays.items():
        file = f"{name}.npy"
        path = directory / file
        np.save(path, np.ascontiguousarray(arr), allow_pickle=False)
        entries[name] = {
            "file": file,
            "dtype": np.dtype(arr.dtype).str,
            "shape": list(arr.shape),
            "sha256": _sha256(path),
        }
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": kind,
        "meta": meta,
        "arrays": entries,
    }
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp, directory / MANIFEST)


def read_manifest(directory: Path) -> dict[str, Any]:
    """Parse and check the manifest header; raise IndexFormatError saying what is wrong."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise IndexFormatError(f"no index at {directory}: {MANIFEST} is missing")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFormatError(f"{path} is not valid JSON ({exc}); the index is corrupt") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexFormatError(f"{path} is not a stopspread index manifest")
    version = manifest.get("version")
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"{path} has format version {version!r}; this stopspread reads version "
            f"{FORMAT_VERSION} only (upgrade stopspread, or rebuild the index from hashes)"
        )
    for key, typ in (("kind", str), ("meta", dict), ("arrays", dict)):
        if not isinstance(manifest.get(key), typ):
            raise IndexFormatError(f"{path} lacks a valid {key!r} field; the index is corrupt")
    return manifest


def read_index(directory: Path, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Load every array named in the manifest, verifying checksum, dtype and shape."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest["kind"] != kind:
        raise IndexFormatError(
            f"{directory} holds a {manifest['kind']!r} index, not {kind!r}; use open_index()"
        )
    arrays: dict[str, np.ndarray] = {}
    for name, entry in manifest["arrays"].items():
        try:
            file = entry["file"]
            want_sha = entry["sha256"]
            want_dtype = np.dtype(entry["dtype"])
            want_shape = tuple(int(x) for x in entry["shape"])
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexFormatError(f"manifest entry for {name!r} is malformed: {exc}") from exc
        path = directory / file
        if Path(file).name != file or not path.is_file():
            raise IndexFormatError(f"array file {file!r} of the index at {directory} is missing")
        if _sha256(path) != want_sha:
            raise IndexFormatError(f"{path} does not match its checksum; the index is corrupt")
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise IndexFormatError(f"{path} is not a readable .npy array: {exc}") from exc
        if arr.dtype != want_dtype or arr.shape != want_shape:
            raise IndexFormatError(
                f"{path} holds {arr.dtype}{arr.shape}, manifest says {want_dtype}{want_shape}"
            )
        arrays[name] = arr
    return manifest["meta"], arrays


def require(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    """Fetch an array the loader needs, with a clear error when the manifest omits it."""
    try:
        return arrays[name]
    except KeyError:
        raise IndexFormatError(f"index manifest lists no array {name!r}; the index is corrupt") from None
