"""rwbench.io: atomic writes leave complete files whose permissions follow the umask."""

from __future__ import annotations

import os
import stat

import pytest

from rwbench.io import atomic_path, atomic_write, write_json


@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_respects_umask(tmp_path, umask):
    with atomic_write(tmp_path / "a.bin") as handle:
        handle.write(b"x")
    write_json(tmp_path / "b.json", {"k": 1})
    assert _mode(tmp_path / "a.bin") == 0o666 & ~umask
    assert _mode(tmp_path / "b.json") == 0o666 & ~umask


def test_atomic_path_respects_umask(tmp_path, umask):
    with atomic_path(tmp_path / "c.pt") as tmp:
        with open(tmp, "wb") as handle:   # writers such as torch.save truncate the temp file in place
            handle.write(b"y")
    assert _mode(tmp_path / "c.pt") == 0o666 & ~umask
    assert (tmp_path / "c.pt").read_bytes() == b"y"


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_write(tmp_path / "d.bin") as handle:
            handle.write(b"partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
