"""Recall per family and false matches: stopspread beside plain PDQ, PDQ+dihedral, vPDQ and MD5.

    python benchmarks/make_dataset.py --out benchmarks/out/dataset --seed 7
    python benchmarks/bench_quality.py --data benchmarks/out/dataset \
        [--markdown benchmarks/results/quality.md]

Every method hashes the originals into a list and every query and unrelated file is checked
against it. A query counts as found when its own original is among its matches; an unrelated
file counts as a false match when it matches anything. Peers run in the same process on the
same files: pdqhash (Meta's PDQ C++ through its Python binding) on a full Pillow decode at
PDQ's published threshold 31, the same with the eight dihedral variants of the query, vpdq
(Meta's video PDQ, frames within 31 bits, >= 80 % of frames matched) and MD5 (what StopNCII
exchanges for videos).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from stopspread.matcher import Matcher
from stopspread.pipeline import hash_file, query_file

PDQ_THRESHOLD = 31


def _load_manifest(data: Path) -> list[dict]:
    with (data / "manifest.jsonl").open() as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _id_of(entry: dict) -> str:
    return entry["original"] if entry["role"] != "unrelated" else entry["path"]


# --- stopspread ---------------------------------------------------------------------------------


def stopspread_method(data: Path, originals: list[dict]) -> Callable[[dict], set[str]]:
    matcher = Matcher()
    for entry in originals:
        matcher.add(hash_file(data / entry["path"], entry["original"]))

    def check(entry: dict) -> set[str]:
        kind, query, digests = query_file(data / entry["path"])
        found = matcher.match(kind, query, digests)
        return {m.id for m in found}

    return check


# --- peers --------------------------------------------------------------------------------------


def _pdqhash_bits(path: Path, dihedral: bool) -> tuple[np.ndarray, int]:
    import pdqhash

    rgb = np.asarray(Image.open(path).convert("RGB"))
    if dihedral:
        hashes, quality = pdqhash.compute_dihedral(rgb)
        return np.packbits(np.asarray(hashes, dtype=bool), axis=-1), quality
    bits, quality = pdqhash.compute(rgb)
    return np.packbits(np.asarray(bits, dtype=bool))[None, :], quality


def pdq_method(data: Path, originals: list[dict], dihedral: bool) -> Callable[[dict], set[str]]:
    names, hashes = [], []
    for entry in originals:
        if entry["kind"] == "image":
            bits, _ = _pdqhash_bits(data / entry["path"], False)
            names.append(entry["original"])
            hashes.append(bits[0])
    table = np.stack(hashes)

    def check(entry: dict) -> set[str]:
        if entry["kind"] != "image":
            return set()
        bits, quality = _pdqhash_bits(data / entry["path"], dihedral)
        if quality < 50:  # Meta's quality gate: flatter pictures give unreliable hashes
            return set()
        distance = np.unpackbits(bits[:, None, :] ^ table[None], axis=-1).sum(-1).min(axis=0)
        return {names[i] for i in np.nonzero(distance <= PDQ_THRESHOLD)[0]}

    return check


def md5_method(data: Path, originals: list[dict]) -> Callable[[dict], set[str]]:
    by_digest: dict[str, set[str]] = defaultdict(set)
    for entry in originals:
        by_digest[hashlib.md5((data / entry["path"]).read_bytes()).hexdigest()].add(entry["original"])
    return lambda entry: set(by_digest.get(hashlib.md5((data / entry["path"]).read_bytes()).hexdigest(), ()))


def _vpdq_frames(path: Path) -> np.ndarray:
    import vpdq

    features = vpdq.computeHash(str(path), seconds_per_hash=1)
    # vPDQ's rules: frames under quality 50 are dropped, identical consecutive hashes deduplicated.
    hexes = list(dict.fromkeys(f.hex for f in features if f.quality >= 50))
    if not hexes:
        return np.zeros((0, 32), np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(-1, 32)


def vpdq_method(data: Path, originals: list[dict]) -> Callable[[dict], set[str]] | None:
    try:
        import vpdq  # noqa: F401
    except ImportError:
        return None
    listed = [(e["original"], _vpdq_frames(data / e["path"])) for e in originals if e["kind"] == "video"]

    def check(entry: dict) -> set[str]:
        if entry["kind"] != "video":
            return set()
        query = _vpdq_frames(data / entry["path"])
        found = set()
        for name, target in listed:
            if not len(query) or not len(target):
                continue
            close = np.unpackbits(query[:, None] ^ target[None], axis=-1).sum(-1) <= PDQ_THRESHOLD
            query_percent = 100 * close.any(axis=1).mean()
            target_percent = 100 * close.any(axis=0).mean()
            # vPDQ's published match percentage is 80 %; we let either side reach it, which is
            # more lenient than requiring both, so the peer is given its best chance.
            if max(query_percent, target_percent) >= 80:
                found.add(name)
        return found

    return check


# --- scoring ------------------------------------------------------------------------------------


def evaluate(check: Callable[[dict], set[str]], checked: list[dict]) -> tuple[dict, dict, float]:
    found: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    false: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    start = time.perf_counter()
    for entry in checked:
        try:
            matches = check(entry)
        except Exception as exc:  # a peer that cannot read a file misses it
            print(f"  {entry['path']}: {type(exc).__name__}: {exc}", file=sys.stderr)
            matches = set()
        if entry["role"] == "query":
            cell = found[(entry["kind"], entry["family"])]
            cell[0] += entry["original"] in matches
            cell[1] += 1
        else:
            cell = false[entry["kind"]]
            cell[0] += bool(matches)
            cell[1] += 1
    return dict(found), dict(false), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--methods", nargs="*", default=["stopspread", "pdq", "pdq-dihedral", "vpdq", "md5"])
    args = parser.parse_args()
    manifest = _load_manifest(args.data)
    originals = [e for e in manifest if e["role"] == "original"]
    checked = [e for e in manifest if e["role"] in ("query", "unrelated")]

    builders: dict[str, Callable[[], Callable[[dict], set[str]] | None]] = {
        "stopspread": lambda: stopspread_method(args.data, originals),
        "pdq": lambda: pdq_method(args.data, originals, dihedral=False),
        "pdq-dihedral": lambda: pdq_method(args.data, originals, dihedral=True),
        "vpdq": lambda: vpdq_method(args.data, originals),
        "md5": lambda: md5_method(args.data, originals),
    }
    results = {}
    for name in args.methods:
        start = time.perf_counter()
        check = builders[name]()
        if check is None:
            print(f"{name}: not installed, skipped", file=sys.stderr)
            continue
        build = time.perf_counter() - start
        found, false, elapsed = evaluate(check, checked)
        results[name] = (found, false, build, elapsed)
        print(
            f"{name}: listed in {build:.1f}s, checked {len(checked)} files in {elapsed:.1f}s",
            file=sys.stderr,
        )

    report = _table(results, " ".join(sys.argv))
    print(report)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(report)


def _table(results: dict, command: str) -> str:
    methods = list(results)
    families = sorted({key for found, *_ in results.values() for key in found})
    lines = [
        f"Command: `python {command}`",
        "",
        "| kind | family | n | " + " | ".join(methods) + " |",
        "|---|---|---|" + "---|" * len(methods),
    ]
    for kind, family in families:
        n = max(results[m][0].get((kind, family), [0, 0])[1] for m in methods)
        cells = [_pct(results[m][0].get((kind, family))) for m in methods]
        lines.append(f"| {kind} | {family} | {n} | " + " | ".join(cells) + " |")
    for kind in ("image", "video"):
        totals = []
        for m in methods:
            cells = [v for (k, _), v in results[m][0].items() if k == kind]
            totals.append(_pct([sum(c[0] for c in cells), sum(c[1] for c in cells)]) if cells else "–")
        lines.append(f"| {kind} | **all families** | | " + " | ".join(f"**{t}**" for t in totals) + " |")
    for kind in ("image", "video"):
        cells = []
        for m in methods:
            hit, n = results[m][1].get(kind, [0, 0])
            cells.append(f"{hit} / {n}")
        lines.append(f"| {kind} | false matches (unrelated) | | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pct(cell: list[int] | None) -> str:
    if not cell or not cell[1]:
        return "–"
    return f"{100 * cell[0] / cell[1]:.1f} %"


if __name__ == "__main__":
    main()
