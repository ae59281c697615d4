"""The shipped data files are the bytes data/README.md says they are."""

from __future__ import annotations

import hashlib
import re

from conftest import ROOT


def test_every_shipped_file_matches_its_recorded_sha256():
    readme = (ROOT / "data" / "README.md").read_text()
    recorded = dict(re.findall(r"^\| `([^`]+)` \| [\d,]+ \| ([0-9a-f]{64}) \|$", readme, re.M))
    assert len(recorded) == 10
    for relative, digest in recorded.items():
        assert hashlib.sha256((ROOT / "data" / relative).read_bytes()).hexdigest() == digest
    shipped = {
        str(path.relative_to(ROOT / "data"))
        for path in (ROOT / "data").rglob("*")
        if path.is_file() and path.name != "README.md"
    }
    assert shipped == set(recorded)  # nothing unrecorded
