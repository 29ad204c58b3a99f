"""docs/quickstart.md runs as written: its ```python blocks are executed in order, in one namespace, in a temporary
folder holding what the page says it needs (a digits oracle and a digits classifier, both made small here)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "docs" / "quickstart.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"(?ms)^```python\n(.*?)^```", text)


def small_digits_oracle():
    """A 10-component Gaussian mixture of the digits train split: one component per class (its mean and covariance +
    1e-2 I), the same kind of file `rwbench prepare` writes, without EM."""
    from rwbench.data import from_uint8, load_dataset
    from rwbench.models.denoisers import GaussianMixtureDenoiser

    data = load_dataset("digits", "train", 16)
    x = from_uint8(data.images, (0.0, 1.0), dtype=torch.float64).reshape(len(data.images), -1)
    classes = sorted(set(data.labels.tolist()))
    weights = torch.tensor([(data.labels == c).double().mean() for c in classes])
    means = torch.stack([x[data.labels == c].mean(0) for c in classes])
    covs = torch.stack([torch.cov(x[data.labels == c].T) + 1e-2 * torch.eye(x.shape[1], dtype=torch.float64)
                        for c in classes])
    return GaussianMixtureDenoiser(weights / weights.sum(), means, covs, sample_shape=(1, 16, 16))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """<tmp>/results/embedded/{oracle,classifier}: the oracle above and a classifier trained for 20 steps."""
    from rwbench.models.oracle import oracle_file
    from rwbench.training import train_model
    from rwbench.training.config import load_embedded_config

    base = tmp_path_factory.mktemp("quickstart")
    small_digits_oracle().save(oracle_file(base / "results" / "embedded" / "oracle", "digits"))
    threads = torch.get_num_threads()
    try:
        train_model(load_embedded_config(ROOT / "config" / "embedded-smoke.yaml"), "classifier",
                    base / "results" / "embedded" / "classifier", progress=False)
    finally:
        torch.set_num_threads(threads)
    return base


def test_the_quickstart_has_code_for_each_part_of_the_api():
    code = "\n".join(python_blocks(QUICKSTART.read_text()))
    for name in ("list_models", "list_samplers", "load_oracle", "ladder", "sample", "score"):
        assert f"rwbench.{name}(" in code, name


def test_the_quickstart_runs_as_written(results, monkeypatch, capsys):
    monkeypatch.chdir(results)
    namespace: dict = {"__name__": "quickstart"}
    start = time.perf_counter()
    for i, block in enumerate(python_blocks(QUICKSTART.read_text())):
        exec(compile(block, f"docs/quickstart.md block {i + 1}", "exec"), namespace)
    seconds = time.perf_counter() - start
    out = capsys.readouterr().out
    assert "digits-oracle" in out and "sampler ddpm does not take c" in out and "FID " in out
    assert namespace["samples"].images.shape == (8, 1, 16, 16)
    fid = namespace["result"]["metrics"]["fid"]
    assert fid["ci_lo"] <= fid["value"] <= fid["ci_hi"] and fid["n"] == 8
    assert namespace["result"]["extractor"].startswith("digits-cnn")
    assert seconds < 30, f"the quickstart took {seconds:.1f} s"


def test_a_missing_oracle_is_one_line_naming_rwbench_prepare(tmp_path):
    import rwbench

    with pytest.raises(FileNotFoundError) as err:
        rwbench.load_oracle("digits", results_dir=tmp_path)
    text = str(err.value)
    assert "\n" not in text and "rwbench prepare" in text and str(tmp_path / "embedded" / "oracle") in text
