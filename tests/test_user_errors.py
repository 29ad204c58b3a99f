"""Bad input is one line naming the file and what to do (a traceback only with --debug or RWBENCH_DEBUG=1):
a corrupt PNG in the image folder, a truncated shard, a corrupt safetensors checkpoint. 16-bit PNGs load scaled."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from rwbench import cli
from rwbench.data import load_image_folder, read_image_rgb
from rwbench.errors import UserError
from rwbench.io import load_safetensors, load_tensors, write_json
from toy_extractor import register_toy_extractor


def _png(path, value=100):
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(path)


def _one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if not line.startswith("rwbench: warning:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_corrupt_png_names_the_file(tmp_path, monkeypatch, capsys):
    _png(tmp_path / "00000.png")
    bad = tmp_path / "00001.png"
    good = (tmp_path / "00000.png").read_bytes()
    bad.write_bytes(good[: len(good) // 2])                    # truncated PNG
    with pytest.raises(UserError, match="00001.png: not a readable image .*replace or remove the file"):
        load_image_folder(tmp_path, 8)
    (tmp_path / "00002.png").write_bytes(b"not a png at all")
    with pytest.raises(UserError, match="00001.png"):
        load_image_folder(tmp_path, 8)
    # through the CLI: one line (exit 2), the traceback with --debug or RWBENCH_DEBUG=1
    monkeypatch.setenv("RWBENCH_FFHQ_DIR", str(tmp_path))
    argv = ["reference", "--dataset", "ffhq", "--split", "all", "--resolution", "8", "--reference-cache",
            str(tmp_path / "cache"), "--extractor", register_toy_extractor("rwbench-test-toy-usererr"), "--channels", "3"]
    monkeypatch.delenv("RWBENCH_DEBUG", raising=False)
    assert cli.main(argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("rwbench reference: ") and str(bad) in line and "--debug" in line
    with pytest.raises(UserError):
        cli.main(["--debug", *argv])
    monkeypatch.setenv("RWBENCH_DEBUG", "1")
    with pytest.raises(UserError):
        cli.main(argv)


def test_sixteen_bit_png_is_scaled_not_saturated(tmp_path):
    v8 = np.arange(64, dtype=np.uint16).reshape(8, 8) * 4 + 1      # 1 .. 253, mean 127
    Image.fromarray((v8 * 257).astype(np.uint16)).save(tmp_path / "grey16.png")
    with Image.open(tmp_path / "grey16.png") as im:
        assert im.mode.startswith("I")                              # a real 16-bit file
    rgb = read_image_rgb(tmp_path / "grey16.png")
    assert rgb.shape == (3, 8, 8) and rgb.dtype == torch.uint8
    assert torch.equal(rgb[0], torch.from_numpy(v8.astype(np.uint8))) and torch.equal(rgb[0], rgb[2])
    assert abs(float(rgb.double().mean()) - float(v8.mean())) < 1e-9
    # 48-bit RGB (written by hand: 16-bit truecolour PNG) also maps v16 = 257 v8 back to v8
    import struct
    import zlib

    rgb8 = (np.arange(48).reshape(4, 4, 3) * 5 + 3).astype(np.uint16)
    rows = b"".join(b"\x00" + (rgb8[y] * 257).astype(">u2").tobytes() for y in range(4))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    (tmp_path / "rgb48.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 16, 2, 0, 0, 0))
                                         + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    assert torch.equal(read_image_rgb(tmp_path / "rgb48.png"), torch.from_numpy(rgb8.astype(np.uint8)).permute(2, 0, 1))


def test_truncated_shard_is_one_line_naming_the_file(tmp_path, capsys):
    run = tmp_path / "run"
    write_json(run / "spec.json", {"run_id": "r", "n_shards": 1, "task": "uncond", "data_range": [0, 1]})
    (run / "shards").mkdir()
    shard = run / "shards" / "shard-00000.pt"
    torch.save({"index": torch.arange(4), "sample": torch.rand(4, 1, 8, 8)}, shard)
    shard.write_bytes(shard.read_bytes()[:200])
    with pytest.raises(UserError, match="truncated or corrupt sample shard"):
        load_tensors(shard, "sample shard")
    assert cli.main(["evaluate", "--run", str(run), "--no-lpips"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(shard) in line and "snakemake" in line and "rebuild" in line


def test_corrupt_safetensors_checkpoint_is_one_line(tmp_path):
    from rwbench.models.embedded import load_digits_vp

    folder = tmp_path / "vp"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    (folder / "config.json").write_text(json.dumps({"kind": "vp", "net_config": {}}))
    with pytest.raises(UserError, match=r"model.safetensors: truncated or corrupt digits-vp checkpoint .*retrain"):
        load_digits_vp(folder)
    with pytest.raises(UserError, match="training state"):
        load_safetensors(folder / "model.safetensors", "training state")
