"""README.md matches the repository: every linked file and every repository path it names exists, nothing points
outside the repository, and the licence and citation files it names are there and well-formed."""

from __future__ import annotations

import re
from pathlib import Path

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
