"""Missing external inputs (FFHQ images, pretrained checkpoints) are named before any job runs; `rwbench info`
counts the images instead of calling an empty folder present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from rwbench.plan import grid
from rwbench.plan.config import load_and_validate
from rwbench.plan.inputs import image_folder_status, missing_inputs

ROOT = Path(__file__).resolve().parent.parent


def _env(monkeypatch, tmp_path, n_images):
    images, ckpts = tmp_path / "images", tmp_path / "checkpoints"
    images.mkdir()
    ckpts.mkdir()
    for i in range(n_images):
        Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(images / f"{i}.png")
    monkeypatch.setenv("RWBENCH_FFHQ_DIR", str(images))
    monkeypatch.setenv("RWBENCH_CHECKPOINTS", str(ckpts))
    return images, ckpts


def test_image_folder_status_counts_images(tmp_path, monkeypatch):
    assert image_folder_status(None).startswith("missing (set $RWBENCH_FFHQ_DIR")
    assert image_folder_status(tmp_path / "nope") == "missing (no such folder)"
    images, _ = _env(monkeypatch, tmp_path, 0)
    (images / "notes.txt").write_text("not an image")
    assert image_folder_status(images) == "empty (no PNG/JPEG files)"
    for i in range(3):
        Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(images / f"{i}.jpg")
    assert image_folder_status(images) == "present (3 images)"


def test_ffhq_config_lists_missing_images_and_checkpoints(tmp_path, monkeypatch):
    images, ckpts = _env(monkeypatch, tmp_path, 0)
    cfg = load_and_validate(ROOT / "config" / "ffhq.yaml")
    runs = grid.expand(cfg)
    missing = missing_inputs(runs, cfg["results_dir"])
    assert len(missing) == 3
    assert any(f"{images} holds no PNG/JPEG files" in m for m in missing)
    assert any(str(ckpts / "ffhq_10m.pt") in m for m in missing)
    assert any(str(ckpts / "ffhq_256_ncsnpp_continuous" / "checkpoint_48.pth") in m for m in missing)
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(images / "0.png")
    (ckpts / "ffhq_10m.pt").write_bytes(b"")
    (ckpts / "ffhq_256_ncsnpp_continuous").mkdir()
    (ckpts / "ffhq_256_ncsnpp_continuous" / "checkpoint_48.pth").write_bytes(b"")
    assert missing_inputs(runs, cfg["results_dir"]) == []
    smoke = load_and_validate(ROOT / "config" / "smoke.yaml")        # embedded models: built by the DAG, not missing
    assert missing_inputs(grid.expand(smoke), smoke["results_dir"]) == []


def test_info_reports_an_empty_ffhq_folder_as_empty(tmp_path, monkeypatch):
    from rwbench.commands.info import collect

    images, _ = _env(monkeypatch, tmp_path, 0)
    row = next(r for r in collect(str(tmp_path / "results")) if r["item"] == "ffhq")
    assert row["status"] == "empty (no PNG/JPEG files)" and row["path"] == str(images)
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(images / "a.png")
    row = next(r for r in collect(str(tmp_path / "results")) if r["item"] == "ffhq")
    assert row["status"] == "present (1 image)"
