"""rwbench.io: atomic writes leave complete files whose permissions follow the umask; HTML table pages."""

from __future__ import annotations

import os
import stat

import pytest

from rwbench.io import HTML_MAX_ROWS, atomic_path, atomic_write, html_cell, write_json, write_table_html


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


def test_table_page_escapes_rounds_and_cuts_long_tables(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"name": ["<a>"] + ["b"] * HTML_MAX_ROWS, "value": [float("nan")] + [1 / 3] * HTML_MAX_ROWS})
    path = write_table_html(frame, tmp_path / "t.html", note="x & y")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<title>t</title>" in page     # the file's stem is the title
    assert "<td>&lt;a&gt;</td><td>&ndash;</td>" in page and "<td>0.3333</td>" in page
    assert "x &amp; y" in page and page.count("<tr>") == HTML_MAX_ROWS + 1      # the header and the first rows
    assert f"First {HTML_MAX_ROWS} of {HTML_MAX_ROWS + 1} rows" in page
    assert html_cell(2) == "2" and html_cell(1e-5) == "1e-05"
