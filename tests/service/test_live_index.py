"""The live index's snapshots on disk."""

from __future__ import annotations

import os
import time
from pathlib import Path

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
