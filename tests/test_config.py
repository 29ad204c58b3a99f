"""rwbench.plan.config.validate_config: one schema check for the Snakefile and `rwbench plan` (unknown keys, bounds)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from rwbench import cli
from rwbench.plan import config, grid
from rwbench.plan.config import validate_config

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for p in (ROOT / "config").glob("*.yaml") if not p.name.startswith("embedded"))


def smoke() -> dict:
    return config.load_config(ROOT / "config" / "smoke.yaml")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_validate_and_defaults_do_not_change_the_grid(path):
    raw = config.load_config(path)
    filled = validate_config(copy.deepcopy(raw), str(path))
    assert filled["metrics"]["n_boot"] >= 1 and "reports_dir" in filled
    assert grid.expand(filled) == grid.expand(raw)


def _first_experiment(cfg):
    return next(iter(cfg["experiments"].values()))


# (where to put the misspelled key, misspelling, the key the message must suggest)
TYPOS = [
    (lambda c: c, "shard_sise", "shard_size"),
    (lambda c: next(iter(c["models"].values())), "sigma_mx", "sigma_max"),
    (lambda c: _first_experiment(c), "stpes", "steps"),
    (lambda c: _first_experiment(c), "Tk", "TK"),
    (lambda c: c["metrics"], "extractr", "extractor"),
    (lambda c: c.setdefault("scalespace", {}), "fid_point", "fid_points"),
    (lambda c: c["equivalence"], "bach", "batch"),
    (lambda c: c["schedules_table"], "sigma_mn", "sigma_min"),
    (lambda c: c["models"]["digits-oracle"]["reference"], "pth", "path"),
    (lambda c: _first_experiment(c).setdefault("task_params", {}).setdefault("sr", {}), "factr", "factor"),
    (lambda c: _first_experiment(c).setdefault("sampler_options", {}).setdefault("ncsn", {}), "n_step_each",
     "n_steps_each"),
]


@pytest.mark.parametrize("where, typo, meant", TYPOS, ids=[t[1] for t in TYPOS])
def test_unknown_keys_are_refused_naming_the_closest_valid_key(where, typo, meant):
    cfg = smoke()
    where(cfg)[typo] = 1
    with pytest.raises(ValueError) as err:
        validate_config(cfg, "my.yaml")
    message = str(err.value)
    assert message.startswith("my.yaml: ") and "\n" not in message
    assert f"unknown key {typo!r} (did you mean {meant!r}?)" in message


def test_unknown_sampler_in_sampler_options_is_refused():
    cfg = smoke()
    _first_experiment(cfg)["sampler_options"] = {"native-ddmp": {"variance": "beta"}}
    with pytest.raises(ValueError, match="unknown sampler 'native-ddmp' \\(did you mean 'native-ddpm'\\?\\)"):
        validate_config(cfg)


@pytest.mark.parametrize("key, value, fragment", [("c", [-0.5], "less than or equal to the minimum of 0"),
                                                  ("steps", [0], "less than the minimum of 1"),
                                                  ("n_images", 0, "less than the minimum of 2")])
def test_plan_refuses_out_of_range_values_like_the_snakefile(tmp_path, capsys, key, value, fragment):
    cfg = smoke()
    _first_experiment(cfg)[key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert cli.main(["plan", "--config", str(path), "--list"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and fragment in out.err and len(out.err.strip().splitlines()) == 1
    assert str(path) in out.err


def test_snakefile_validates_through_the_same_function():
    text = (ROOT / "Snakefile").read_text()
    assert "from rwbench.plan.config import validate_config" in text and "validate_config(config" in text
    assert "snakemake.utils import min_version, validate" not in text


def test_schema_vocabularies_are_the_codes():
    """Task and model-family names have one home in code (rwbench.tasks, rwbench.plan.samplers); the schema's enums agree."""
    from rwbench.plan import samplers
    from rwbench import tasks

    exp = config.node("experiments.*")["properties"]
    assert exp["tasks"]["items"]["enum"] == list(tasks.TASKS)
    family = config.node("models")["additionalProperties"]["properties"]["family"]["enum"]
    assert family == list(samplers.FAMILIES)
    assert tasks.INVERSE_TASKS == ("inpaint", "box", "sr", "deblur") and set(tasks.TASK_DEFAULTS) == set(tasks.INVERSE_TASKS)
