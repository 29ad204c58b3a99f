"""The FFHQ networks' golden data ships with the repository and matches the sizes and sha256 in its README."""

from __future__ import annotations

import hashlib
import re

try:
    from tests.golden import GOLDEN_DIR
except ImportError:  # pytest's rootdir-less import mode
    from golden import GOLDEN_DIR

ROW = re.compile(r"^\| `([^`]+)` \| ([\d,]+) \| `([0-9a-f]{16})` \|", re.M)


def test_golden_files_ship_with_the_repository_and_match_their_checksums():
    rows = ROW.findall((GOLDEN_DIR / "README.md").read_text())
    assert len(rows) == 8, "the README's data-file table lists the eight golden files"
    for name, size, sha16 in rows:
        data = (GOLDEN_DIR / name).read_bytes()
        assert len(data) == int(size.replace(",", "")), name
        assert hashlib.sha256(data).hexdigest()[:16] == sha16, name
