"""README.md matches the repository: every linked file and every repository path it names exists, nothing points
outside the repository, and the licence and citation files it names are there and well-formed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
OUTPUTS = ("results/", "reports/", "exported/", "samples/", "checkpoints", ".venv", "config/<")   # made by running
SUFFIXES = (".md", ".py", ".yaml", ".yml", ".cff", ".sh", ".png", ".toml", ".smk", ".rst")


def named_paths() -> set[str]:
    """Markdown link / image targets and backticked tokens that look like repository paths."""
    paths = {t for t in re.findall(r"\]\(([^)\s]+)\)", README) if "://" not in t}
    for token in re.findall(r"`([^`\s]+)`", README):
        token = token.split(":")[0] if re.match(r"^[\w./-]+\.py:\w", token) else token   # rwbench/plan/grid.py:SAMPLERS
        if (any(c in token for c in "<>*|{}$=") or token.startswith(OUTPUTS + ("./",)) or "://" in token
                or token.endswith((".pt", ".pth"))):   # files the user provides or the DAG writes
            continue
        if "/" in token.strip("/") or token.endswith(SUFFIXES):
            paths.add(token)
    return paths


def test_every_path_the_readme_names_exists():
    paths = named_paths()
    assert "docs/figures/schedules.png" in paths and "LICENSE" in README and "CITATION.cff" in paths
    # bare module names (`walk.py`) are named in the package paragraph: they live in rwbench/
    missing = sorted(p for p in paths if not (ROOT / p).exists() and not ("/" not in p and (ROOT / "rwbench" / p).exists()))
    assert not missing, f"README names paths that are not in the repository: {missing}"


def test_nothing_points_outside_the_repository():
    assert not re.search(r"(\.\./|\bshared/(spec|golden)|/work/)", README)


def test_hero_image_has_alt_text_describing_it():
    (alt, target) = re.search(r"!\[([^\]]*)\]\(([^)]+)\)", README).groups()
    assert (ROOT / target).is_file() and len(alt) > 40 and "ladder" in alt


def test_install_size_and_cpu_only_alternative():
    assert "about 6 GB" in README and "--index-url https://download.pytorch.org/whl/cpu" in README
    assert "internet" in README


def test_licence_and_citation():
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "rwbench contributors" in licence
    assert 'license = {text = "MIT"}' in (ROOT / "pyproject.toml").read_text()
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "MIT" and cff["authors"]
    paper = cff["preferred-citation"]
    assert paper["journal"] == "IEEE Signal Processing Magazine" and paper["year"] == 2025
    assert [a["family-names"] for a in paper["authors"]] == ["Park", "McCann", "Garcia-Cardona", "Wohlberg", "Kamilov"]


# ---------------------------------------------------------------- every rwbench command line of the README runs

# commands that need the default DAG's outputs: listed here with the reason, not run
NEEDS_THE_DAG = {
    "rwbench export results/runs/<run_id> --out exported/<run_id>": "needs a run of the default DAG (results/runs/<run_id>)",
}
CHEAP = ("--help", "-h", "--version", "info", "generate", "score")   # what runs here in seconds


def code_lines() -> list[str]:
    """Every line of the README's code blocks: ``` fenced and four-space indented ones."""
    lines, fenced = [], False
    for line in README.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            lines.append(line.strip())
        elif line.startswith("    ") and line.strip():
            lines.append(line.strip())
    return lines


def readme_commands() -> tuple[list[str], list[str]]:
    """(command lines, diagram rows): code lines that start with `rwbench ` or `python -m rwbench `, the comment
    after `  # ` cut off; a row of the architecture diagram (`rwbench prepare      what it writes`: words after a run
    of spaces that is not a comment) is prose, not a command."""
    commands, diagram = [], []
    for line in code_lines():
        if not re.match(r"(python -m )?rwbench( |$)", line):
            continue
        gap = re.search(r" {2,}", line)
        if gap and not line[gap.end():].startswith("#"):
            diagram.append(line)
            continue
        commands.append(line[:gap.start()] if gap else line)
    return commands, diagram


def test_the_readme_commands_are_found_and_each_is_run_or_listed_with_a_reason():
    commands, diagram = readme_commands()
    assert any(c.startswith("rwbench generate ") for c in commands) and any(" --json" in c for c in commands)
    assert len(diagram) >= 5 and all(not d.startswith("rwbench generate --") for d in diagram)
    for command in commands:
        word = command.removeprefix("python -m ").split()[1]
        runs_here = word in CHEAP and "<" not in command
        assert runs_here or command in NEEDS_THE_DAG, f"README command neither cheap nor listed: {command!r}"
    assert set(NEEDS_THE_DAG) <= set(commands), "a skipped command is no longer in the README"


@pytest.fixture(scope="module")
def fresh_results(tmp_path_factory):
    """A working folder with what the cheap commands read: results/embedded/oracle (a small digits oracle) and
    results/embedded/classifier (the digits classifier, 20 training steps), as a fresh clone has after the DAG's
    prepare and train steps."""
    import torch

    from rwbench.models.oracle import oracle_file
    from rwbench.training import train_model
    from rwbench.training.config import load_embedded_config
    from test_quickstart import small_digits_oracle

    base = tmp_path_factory.mktemp("readme")
    small_digits_oracle().save(oracle_file(base / "results" / "embedded" / "oracle", "digits"))
    threads = torch.get_num_threads()
    try:
        train_model(load_embedded_config(ROOT / "config" / "embedded-smoke.yaml"), "classifier",
                    base / "results" / "embedded" / "classifier", progress=False)
    finally:
        torch.set_num_threads(threads)
    return base


def test_the_cheap_readme_commands_run_as_written(fresh_results):
    import json
    import shlex
    import subprocess
    import sys

    commands, _ = readme_commands()
    inline = [c for c in re.findall(r"`((?:python -m )?rwbench [^`<]*)`", README)
              if c.removeprefix("python -m ").split()[1] in ("--help", "info")]
    ran = []
    for command in [c for c in commands if c not in NEEDS_THE_DAG] + inline:
        argv = shlex.split(command.removeprefix("python -m "))[1:]
        res = subprocess.run([sys.executable, "-m", "rwbench", *argv], cwd=fresh_results, capture_output=True,
                             text=True, timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        assert res.returncode == 0, f"{command}:\n{res.stderr[-2000:]}"
        if "--json" in argv:
            assert json.loads(res.stdout)["metrics"]["fid"]["n"] == 16
        ran.append(command)
    assert any(c.startswith("rwbench generate") for c in ran) and any(c.startswith("rwbench score") for c in ran)
    assert len(list((fresh_results / "samples").glob("seed*.png"))) == 16
