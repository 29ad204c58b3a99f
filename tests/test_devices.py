"""GPU pinning by lock files, and `rwbench info`."""

import os
import subprocess
import sys

import pytest

from rwbench.run import devices
from rwbench.commands import info


def test_gpu_slots_are_exclusive_across_processes(tmp_path):
    code = ("import sys, time; from rwbench.run.devices import acquire_gpu_slot; "
            "print(acquire_gpu_slot(2, sys.argv[1]), flush=True); time.sleep(30)")
    first = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "0"
        assert devices.acquire_gpu_slot(2, tmp_path) == 1          # the other job holds GPU 0
        with pytest.raises(RuntimeError, match="--resources gpu=2"):
            devices.acquire_gpu_slot(2, tmp_path)                  # both taken
    finally:
        first.kill()
        first.wait()
        for handle in devices._HELD:
            handle.close()
        devices._HELD.clear()
    assert devices.acquire_gpu_slot(2, tmp_path) == 0              # a killed job frees its GPU
    devices._HELD.pop().close()


def test_pin_device_leaves_cpu_and_explicit_devices_alone(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert devices.pin_device("cpu") == "cpu"
    assert devices.pin_device("cuda:1") == "cuda:1"
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_info_names_missing_files_and_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("RWBENCH_CHECKPOINTS", str(tmp_path))
    (tmp_path / "ffhq_10m.pt").write_bytes(b"x")
    rows = {r["item"]: r for r in info.collect(str(tmp_path / "results"))}
    assert rows["ffhq-vp-adm"]["status"] == "present"
    assert rows["ffhq-ve-ncsnpp"]["status"] == "missing" and "checkpoint_48.pth" in rows["ffhq-ve-ncsnpp"]["path"]
    assert "score_sde" in rows["ffhq-ve-ncsnpp"]["get"]
    assert rows["vp"]["status"] == "missing" and rows["torch"]["status"]
