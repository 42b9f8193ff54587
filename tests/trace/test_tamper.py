"""Any edit, removal or reordering of the log, and any single-byte change to a bundle, is detected."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopspread.trace import bundle, chain, graph, keys

KEY = Ed25519PrivateKey.generate()
CASE = "SS-TEST1-CASE1"
T0 = datetime(2026, 3, 12, 20, tzinfo=UTC)


def make_chain(n: int) -> list[chain.Link]:
    links: list[chain.Link] = []
    for i in range(n):
        kind = "match" if i % 2 == 0 else "report"
        body = {
            "platform": "chatapp",
            "content_id": f"c{i // 2}",
            "fingerprint_id": 1,
            "distance": i % 7,
            "uploader": f"u{i}" if kind == "report" else None,
            "action": "Blocked",
            "match_id": f"m{i // 2}",
        }
        entry = chain.make_entry(
            case=CASE,
            seq=i + 1,
            kind=kind,
            at=T0 + timedelta(minutes=i),
            recorded_at=T0 + timedelta(minutes=i, seconds=1),
            body=body,
        )
        links.append(chain.extend(links[-1] if links else None, entry))
    return links


def sign_head(links: list[chain.Link]) -> chain.Checkpoint:
    head = links[-1].hash if links else chain.GENESIS
    statement = chain.checkpoint_statement(
        case=CASE, count=len(links), head=head, at=T0, key_id=keys.key_id(KEY)
    )
    return chain.Checkpoint(statement, keys.sign(KEY, statement.encode()))


LINKS = make_chain(12)
CHECKPOINT = sign_head(LINKS)


def verify(links: list[chain.Link]) -> chain.Verification:
    return chain.verify_chain(CASE, links, [CHECKPOINT], KEY.public_key())


def test_an_intact_chain_verifies() -> None:
    result = verify(LINKS)
    assert result.ok, result.problems
    assert result.head == LINKS[-1].hash


def rehash(links: list[chain.Link]) -> list[chain.Link]:
    """What a forger with write access to the database would do after an edit: recompute every hash."""
    out: list[chain.Link] = []
    for position, link in enumerate(links, start=1):
        try:
            fields = json.loads(link.entry)
            fields["seq"] = position
            text = chain.canonical(fields)
        except (ValueError, TypeError):
            text = link.entry  # an edit that broke the JSON: re-hash it as it is
        out.append(chain.extend(out[-1] if out else None, text))
    return out


def edit(links: list[chain.Link], i: int, where: int) -> list[chain.Link]:
    text = links[i].entry
    where %= len(text)
    changed = text[:where] + ("x" if text[where] != "x" else "y") + text[where + 1 :]
    return [*links[:i], chain.Link(links[i].seq, changed, links[i].prev_hash, links[i].hash), *links[i + 1 :]]


operations = st.one_of(
    st.tuples(st.just("edit"), st.integers(0, 11), st.integers(0, 10_000), st.booleans()),
    st.tuples(st.just("remove"), st.integers(0, 11), st.just(0), st.booleans()),
    st.tuples(st.just("swap"), st.integers(0, 11), st.integers(0, 11), st.booleans()),
    st.tuples(st.just("truncate"), st.integers(0, 11), st.just(0), st.booleans()),
)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_any_edit_removal_or_reordering_is_detected(operation: tuple[str, int, int, bool]) -> None:
    kind, i, j, forged = operation
    links = list(LINKS)
    if kind == "edit":
        links = edit(links, i, j)
    elif kind == "remove":
        del links[i]
    elif kind == "swap":
        if i == j:
            j = (i + 1) % len(links)
        links[i], links[j] = links[j], links[i]
    else:
        links = links[:i]
    if forged:
        links = rehash(links)
        if links == LINKS:  # an edit that re-hashes to the same chain changed nothing
            return
    assert not verify(links).ok


def test_a_forged_checkpoint_or_none_at_all_is_reported() -> None:
    other = Ed25519PrivateKey.generate()
    forged = chain.Checkpoint(CHECKPOINT.statement, keys.sign(other, CHECKPOINT.statement.encode()))
    assert not chain.verify_chain(CASE, LINKS, [forged], KEY.public_key()).ok
    unsigned = chain.verify_chain(CASE, LINKS, [], KEY.public_key())
    assert unsigned.ok and unsigned.warnings  # nothing wrong found, but nothing signed either
    assert not chain.verify_chain("SS-OTHER-CASE", LINKS, [CHECKPOINT], KEY.public_key()).ok


def make_bundle() -> bytes:
    events = [json.loads(link.entry) for link in LINKS]
    trace = graph.build(events, case=CASE).to_json()
    return bundle.build(
        case=CASE,
        links=LINKS,
        checkpoints=[CHECKPOINT],
        trace=trace,
        vics='{"value": []}\n',
        chats=[],
        key=KEY,
        exported_by="test",
        created_at=T0,
    )


BUNDLE = make_bundle()


def test_an_intact_bundle_verifies_with_its_key_and_a_pinned_one() -> None:
    check = bundle.verify(BUNDLE, pinned=KEY.public_key())
    assert check.ok, check.problems
    assert check.entries == len(LINKS) and check.case == CASE
    assert make_bundle() == BUNDLE  # exporting is deterministic


def test_a_bundle_signed_by_another_key_fails_against_the_pinned_key() -> None:
    check = bundle.verify(BUNDLE, pinned=Ed25519PrivateKey.generate().public_key())
    assert not check.ok and any("pinned" in p for p in check.problems)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(0, len(BUNDLE) - 1), flip=st.integers(1, 255))
def test_any_single_byte_change_to_a_bundle_is_detected(position: int, flip: int) -> None:
    damaged = bytearray(BUNDLE)
    damaged[position] ^= flip
    assert not bundle.verify(bytes(damaged)).ok


@pytest.mark.parametrize("cut", [1, 100, len(BUNDLE) // 2])
def test_a_truncated_or_extended_bundle_is_detected(cut: int) -> None:
    assert not bundle.verify(BUNDLE[:-cut]).ok
    assert not bundle.verify(BUNDLE + b"\0" * cut).ok


def test_a_consistently_rewritten_bundle_fails_on_the_signature() -> None:
    """Someone who edits a file and rewrites the manifest's digest still cannot sign."""
    import hashlib
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(BUNDLE)) as archive:
        members = [(i.filename, archive.read(i)) for i in archive.infolist()]
    files = dict(members)
    events = json.loads(files["graph.json"])
    events["earliest_sharer"]["account"] = "chatapp/someone-else"
    files["graph.json"] = json.dumps(events).encode()
    manifest = json.loads(files["manifest.json"])
    for item in manifest["files"]:
        if item["name"] == "graph.json":
            item["sha256"] = hashlib.sha256(files["graph.json"]).hexdigest()
            item["bytes"] = len(files["graph.json"])
    files["manifest.json"] = json.dumps(manifest).encode()
    forged = bundle.canonical_zip([(name, files[name]) for name, _ in members])
    check = bundle.verify(forged)
    assert not check.ok and any("manifest.sig" in p for p in check.problems)
