"""The live index's snapshots on disk."""

from __future__ import annotations

import os
import time
from pathlib import Path
from unittest import mock

from stopspread.service import live_index
from stopspread.service.live_index import LiveIndex


def test_a_snapshot_cut_short_leaves_no_lasting_scratch(tmp_path: Path) -> None:
    """A worker killed while writing a snapshot leaves its scratch folder; the next snapshot
    removes it once it is clearly abandoned, and leaves a young one (another worker's) alone."""
    folder = tmp_path / "index"
    folder.mkdir()
    abandoned, in_progress = folder / ".snapshot-000000000001.11.22", folder / ".snapshot-000000000001.33.44"
    for scratch in (abandoned, in_progress):
        (scratch / "pdq").mkdir(parents=True)
    old = time.time() - 2 * live_index.STALE_SCRATCH_SECONDS
    os.utime(abandoned, (old, old))
    index = LiveIndex(folder)
    index.ready = True
    index.snapshot()
    assert not abandoned.exists()
    assert in_progress.exists()
    assert (folder / "CURRENT").read_text() == "snapshot-000000000000"


def test_two_workers_writing_the_same_snapshot_both_succeed(tmp_path: Path) -> None:
    """At shutdown every worker snapshots the same sequence number; the second finds the first's."""
    folder = tmp_path / "index"
    first, second = LiveIndex(folder), LiveIndex(folder)
    for index in (first, second):
        index.ready = True
    written = first.snapshot()
    real_exists = Path.exists
    asked: list[Path] = []

    def exists(path: Path) -> bool:
        # The second worker checks once before the first has renamed its folder into place.
        if path == written and not asked:
            asked.append(path)
            return False
        return real_exists(path)

    with mock.patch.object(Path, "exists", exists):
        assert second.snapshot() == written
    assert asked
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
    assert (folder / "CURRENT").read_text() == written.name
