"""FFHQ reference statistics are cached per image folder identity (path, file names, sizes, times), not by name."""

from __future__ import annotations

import os
import types

import torch

from rwbench.data import to_uint8
from rwbench.plan.inputs import FFHQ_ENV, folder_identity
from rwbench.metrics import extractors as ex
from toy_extractor import register_toy_extractor

TOY = "rwbench-test-toy-refcache"
FFHQ = {"kind": "dataset", "dataset": "ffhq", "split": "all", "resolution": 8}


def _folder(path, n, size=10):
    path.mkdir()
    for i in range(n):
        (path / f"{i:05d}.png").write_bytes(b"x" * size)   # only names, sizes and times matter to the identity
    return path


def test_folder_identity_tracks_path_names_sizes_and_times(tmp_path):
    a = _folder(tmp_path / "a", 2)
    base = folder_identity(a)
    assert folder_identity(a) == base and folder_identity(_folder(tmp_path / "b", 2)) != base   # another path
    (a / "00001.png").write_bytes(b"y" * 11)
    assert folder_identity(a) != base                                                         # size changed
    now = folder_identity(a)
    os.utime(a / "00000.png", ns=(1, 1))
    assert folder_identity(a) != now                                                          # mtime changed


def test_reference_statistics_recompute_when_the_ffhq_folder_changes(tmp_path, monkeypatch, capsys):
    import rwbench.data
    from rwbench.metrics import reference as rf

    register_toy_extractor(TOY)
    info = ex.resolve_extractor(TOY)
    calls = []

    def load_dataset(name, split, resolution, seed=0):
        calls.append(os.environ[FFHQ_ENV])
        gen = torch.Generator().manual_seed(len(calls))
        return types.SimpleNamespace(images=to_uint8(torch.rand(30, 1, 8, 8, generator=gen)), labels=None)

    monkeypatch.setattr(rwbench.data, "load_dataset", load_dataset)
    a, b = _folder(tmp_path / "a", 3), _folder(tmp_path / "b", 3)
    cache = tmp_path / "cache"
    monkeypatch.setenv(FFHQ_ENV, str(a))
    first = rf.reference_statistics(FFHQ, info, cache, channels=1)
    assert "-folder" in first["path"] and "computing them" in capsys.readouterr().err
    assert rf.reference_statistics(FFHQ, info, cache, channels=1)["path"] == first["path"] and calls == [str(a)]
    monkeypatch.setenv(FFHQ_ENV, str(b))                       # another folder: new statistics, and it says why
    second = rf.reference_statistics(FFHQ, info, cache, channels=1)
    err = capsys.readouterr().err
    assert calls == [str(a), str(b)] and second["path"] != first["path"]
    assert "no statistics cached for this image folder" in err and os.path.basename(first["path"]) in err
    assert not torch.equal(second["mu"], first["mu"])
    monkeypatch.setenv(FFHQ_ENV, str(a))                       # back to the first folder: its cache is reused
    assert rf.reference_statistics(FFHQ, info, cache, channels=1)["path"] == first["path"] and len(calls) == 2
    (a / "00003.png").write_bytes(b"new")                      # an image added: the folder is another one
    assert rf.reference_statistics(FFHQ, info, cache, channels=1)["path"] != first["path"] and len(calls) == 3
