"""The `rwbench` CLI: commands in pipeline order, parsers built without torch (instant --help), every default printed
once and taken from the config schema, --version, examples; and the layering rule (library never imports commands)."""

from __future__ import annotations

import argparse
import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from rwbench import cli, commands
from rwbench.plan import config

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_building_every_parser_imports_no_torch():
    res = run_python("import sys\nfrom rwbench import commands\nfor name in commands.COMMANDS: commands.command_parser(name)\n"
                     "print(sorted(m for m in ('torch', 'numpy', 'pandas', 'torch_fidelity') if m in sys.modules))")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_help_lists_commands_in_pipeline_order_and_version(capsys):
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    block = text.split("commands, in pipeline order:\n")[1].split("\n\n")[0]
    listed = [line.split()[0] for line in block.splitlines()]
    assert listed == list(commands.COMMANDS)
    order = ["prepare", "train", "plan", "sample", "reference", "evaluate", "aggregate", "figures"]
    assert [listed.index(n) for n in order] == sorted(listed.index(n) for n in order)
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"rwbench {importlib.import_module('rwbench').__version__}"


@pytest.mark.parametrize("name", list(commands.COMMANDS))
def test_every_command_help_prints_each_default_once_and_an_example(name):
    parser, _ = commands.command_parser(name)
    text = parser.format_help()
    assert f"example:\n  rwbench {name}" in text
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.help in (None, argparse.SUPPRESS):
            continue
        shown = formatter._expand_help(action).replace("default.yaml", "")   # a file name is not a default
        assert shown.count("default") <= 1, f"{name} {action.option_strings}: {shown}"
        if action.default not in (None, False) and action.nargs != 0:
            assert "default" in shown, f"{name} {action.option_strings}: default {action.default!r} not shown"


def test_cli_defaults_come_from_the_schema(monkeypatch):
    import copy

    patched = copy.deepcopy(config.load_schema())
    patched["properties"]["metrics"]["properties"]["n_boot"]["default"] = 123
    patched["properties"]["scalespace"]["properties"]["osmosis_steps"]["default"] = 7
    monkeypatch.setattr(config, "load_schema", lambda: patched)
    importlib.reload(importlib.import_module("rwbench.metrics.options"))
    for module, dest, value in (("evaluate", "n_boot", 123), ("scalespace", "osmosis_steps", 7)):
        importlib.reload(importlib.import_module(f"rwbench.commands.{module}"))
        assert commands.command_parser(module)[0].get_default(dest) == value
    monkeypatch.undo()
    importlib.reload(importlib.import_module("rwbench.metrics.options"))
    for module in ("evaluate", "scalespace"):
        importlib.reload(importlib.import_module(f"rwbench.commands.{module}"))
    assert commands.command_parser("evaluate")[0].get_default("n_boot") == config.default("metrics.n_boot")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_library_modules_never_import_command_modules():
    package = ROOT / "rwbench"
    offenders = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if rel.parts[0] == "commands" or rel.name in ("cli.py", "__main__.py"):
            continue
        bad = {n for n in _imports(path) if n == "rwbench.commands" or n.startswith("rwbench.commands.")
               or n == "rwbench.cli"}
        if bad:
            offenders.append(f"{rel}: {sorted(bad)}")
        if rel.parts[:2] != ("tools", "bench"):   # rwbench/tools/bench/*: `python -m rwbench.tools.bench` developer tools with their own main
            tree = ast.parse(path.read_text())
            cli_defs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "add_arguments"]
            if cli_defs:
                offenders.append(f"{rel}: defines add_arguments (CLI parts belong in rwbench/commands/)")
    assert not offenders, "\n".join(offenders)
    assert {p.stem for p in (package / "commands").glob("*.py")} - {"__init__"} == set(commands.COMMANDS)


def test_torch_free_copies_in_parsers_match_the_library():
    """Parsers cannot import the torch modules, so a few choice lists are spelled out; they must stay equal."""
    from rwbench.tools import equivalence, schedule_table
    from rwbench.commands import equivalence as eq_cmd
    from rwbench.commands import schedules as sch_cmd
    from rwbench.commands import train as train_cmd
    from rwbench.training import config

    assert eq_cmd.PAIRS == ",".join(equivalence.PAIRS)
    assert sch_cmd.SCHEDULES == ",".join(schedule_table.SCHEDULES)
    assert train_cmd.KINDS == config.KINDS


def test_library_defaults_equal_the_schemas():
    """evaluate's options (the library and `rwbench evaluate`) take every `metrics:` default from the config schema."""
    import dataclasses

    from rwbench.metrics.options import EvaluateOptions

    fields = {f.name: f.default for f in dataclasses.fields(EvaluateOptions)}
    for key, value in config.defaults("metrics").items():
        if key == "extractor":          # None: the dataset's default (digits-cnn for digits, the schema's choice)
            assert fields[key] is None
            continue
        assert fields[key] == value, key
    assert fields["device"] == config.default("device")
    parser = commands.command_parser("evaluate")[0]
    for key in ("lpips", "lpips_net", "n_boot", "extractor_weights", "device", "seed", "batch_size"):
        assert parser.get_default(key) == fields[key], key


# ---------------------------------------------------------------- generate / score as the field uses them


@pytest.fixture(scope="module")
def oracle_results(tmp_path_factory):
    """<tmp>/results/embedded/oracle: a small digits oracle (tests/test_quickstart.small_digits_oracle)."""
    from rwbench.models.oracle import oracle_file
    from test_quickstart import small_digits_oracle

    base = tmp_path_factory.mktemp("cli")
    small_digits_oracle().save(oracle_file(base / "results" / "embedded" / "oracle", "digits"))
    return base / "results"


def rwbench_from(cwd, *argv, pythonpath=ROOT):
    return subprocess.run([sys.executable, "-m", "rwbench", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"})


def test_generate_from_another_folder_writes_one_png_per_seed_and_a_subset_gives_the_same_images(oracle_results,
                                                                                                  tmp_path):
    common = ["--model", "digits-oracle", "--sampler", "simplified", "--steps", "6", "--no-progress",
              "--results-dir", str(oracle_results)]
    res = rwbench_from(tmp_path, "generate", *common, "--seeds", "0-3,7", "--outdir", "all")
    assert res.returncode == 0, res.stderr
    assert "5 images" in res.stdout
    names = sorted(p.name for p in (tmp_path / "all").glob("*.png"))
    assert names == ["seed000000.png", "seed000001.png", "seed000002.png", "seed000003.png", "seed000007.png"]
    assert cli.main(["generate", *common, "--seeds", "2,7", "--outdir", str(tmp_path / "some")]) == 0
    for seed in (2, 7):
        name = f"seed{seed:06d}.png"
        assert (tmp_path / "some" / name).read_bytes() == (tmp_path / "all" / name).read_bytes()
    import numpy as np

    npz = np.load(tmp_path / "some" / "samples.npz")
    assert npz["index"].tolist() == [2, 7] and npz["arr_0"].shape == (2, 16, 16, 1)


def test_generate_refuses_an_option_the_sampler_does_not_take_in_one_line(oracle_results, tmp_path, capsys):
    argv = ["generate", "--model", "digits-oracle", "--sampler", "ddpm", "--seeds", "0", "--outdir",
            str(tmp_path / "g"), "--results-dir", str(oracle_results)]
    assert cli.main([*argv, "--c", "0.3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--c: sampler ddpm does not take c (it takes --steps, --variance)" in err
    assert cli.main([*argv[:-4], "--seeds", "4-2", "--outdir", str(tmp_path / "g")]) == 2
    assert "runs backwards" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()


def test_score_json_is_one_object_with_intervals_extractor_and_reference(oracle_results, tmp_path, capsys):
    import json

    from toy_extractor import register_toy_extractor

    register_toy_extractor("rwbench-test-toy-cli")
    assert cli.main(["generate", "--model", "digits-oracle", "--sampler", "simplified", "--steps", "4", "--seeds",
                     "0-5", "--outdir", str(tmp_path / "g"), "--results-dir", str(oracle_results),
                     "--no-progress"]) == 0
    capsys.readouterr()
    argv = ["score", str(tmp_path / "g"), "--reference", "dataset:digits/test/16", "--extractor",
            "rwbench-test-toy-cli", "--reference-cache", str(tmp_path / "cache")]
    assert cli.main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) == {"metrics", "extractor", "reference"}
    assert summary["reference"] == "dataset:digits/test/16" and summary["extractor"].startswith("rwbench-test-toy-cli")
    fid = summary["metrics"]["fid"]
    assert set(fid) == {"value", "ci_lo", "ci_hi", "se", "n", "n_ref"} and fid["n"] == 6 and fid["n_ref"] > 0
    assert fid["ci_lo"] <= fid["value"] <= fid["ci_hi"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert f"{fid['value']:.6g}" in text and "extractor: rwbench-test-toy-cli" in text


def test_one_entry_point():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"rwbench": "rwbench.cli:main"}
    assert "gui-scripts" not in project and "entry-points" not in project
    assert "from rwbench.cli import main" in (ROOT / "rwbench" / "__main__.py").read_text()


@pytest.mark.slow
def test_an_installed_wheel_runs_generate_from_any_folder(oracle_results, tmp_path):
    """pip builds a wheel of the checkout; installed into a bare folder (no checkout next to it) it finds the config
    schema and the model presets as package data."""
    wheel = tmp_path / "wheel"
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                          str(wheel), str(ROOT)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    site = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                          *map(str, wheel.glob("*.whl"))], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    where = subprocess.run([sys.executable, "-c", "import rwbench; print(rwbench.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    res = rwbench_from(tmp_path, "generate", "--model", "digits-oracle", "--sampler", "simplified", "--steps", "6",
                       "--seeds", "0-1", "--outdir", "out", "--results-dir", str(oracle_results), "--no-progress",
                       pythonpath=site)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["seed000000.png", "seed000001.png"]
