"""Dependencies: one torch requirement in pyproject, environment.yml, the rules' environment, the README and .ci/run;
the k-diffusion extra equal to what .ci/run installs with --no-deps; nothing declared that the code does not use."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# distribution name -> the module it is imported as
IMPORT_NAMES = {"scikit-learn": "sklearn", "scikit-image": "skimage", "torch-fidelity": "torch_fidelity",
                "pyyaml": "yaml", "pillow": "PIL"}
# declared but not imported, and why (each still used)
NOT_IMPORTED = {"snakemake": "runs the DAG (`snakemake --cores 2`); the tests call it as a program",
                "tabulate": "pandas.DataFrame.to_markdown's backend (the markdown tables)",
                "seaborn": "the figures (being converted to seaborn)"}


def name_of(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def pins(requirements) -> dict[str, str]:
    return {name_of(r): r.replace(" ", "") for r in requirements if isinstance(r, str) and not r.startswith("-")}


def conda_requirements(path: Path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    plain = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next((d["pip"] for d in env["dependencies"] if isinstance(d, dict)), [])
    return pins([*plain, *pip])


def test_one_torch_everywhere():
    declared = pins(PYPROJECT["dependencies"])
    torch, vision = declared["torch"], declared["torchvision"]
    assert torch == "torch==2.14.1" and vision == "torchvision==0.29.1"
    for path in (ROOT / "environment.yml", ROOT / "workflow" / "envs" / "rwbench.yaml"):
        conda = conda_requirements(path)
        assert (conda["torch"], conda["torchvision"]) == (torch, vision), path
    for path in (ROOT / "README.md", ROOT / ".ci" / "run"):
        text = path.read_text()
        assert f"pip install {torch} {vision}" in text, path
        assert set(re.findall(r"torch==[\w.+]+", text)) == {torch}, path


def test_the_conda_environments_declare_pyprojects_dependencies():
    declared = pins(PYPROJECT["dependencies"])
    for path in (ROOT / "environment.yml", ROOT / "workflow" / "envs" / "rwbench.yaml"):
        conda = conda_requirements(path)
        for name, requirement in declared.items():
            if path.name == "rwbench.yaml" and name == "snakemake":   # the rules run inside snakemake already
                continue
            assert conda.get(name) == requirement, f"{path.name}: {name} {conda.get(name)} != pyproject {requirement}"


def test_the_kdiffusion_extra_is_what_ci_installs_without_dependencies():
    extra = PYPROJECT["optional-dependencies"]["kdiffusion"]
    line = next(line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.startswith("pip install --no-deps"))
    ci = line.split("--no-deps", 1)[1].split(">")[0].split()
    assert sorted(ci) == sorted(extra)
    assert "k-diffusion==0.1.1.post1" in extra


def imported_top_levels() -> set[str]:
    names = set()
    files = [*(ROOT / "rwbench").rglob("*.py"), *(ROOT / "workflow").rglob("*.smk"), ROOT / "Snakefile"]
    for path in files:
        text = path.read_text()
        try:
            tree = ast.parse(text)
        except SyntaxError:            # Snakemake files: read their import lines
            names |= set(re.findall(r"(?m)^\s*(?:from|import)\s+(\w+)", text))
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def test_every_declared_dependency_is_used():
    used = imported_top_levels()
    unused = []
    for name in pins(PYPROJECT["dependencies"]):
        module = IMPORT_NAMES.get(name, name.replace("-", "_"))
        if module not in used and name not in NOT_IMPORTED:
            unused.append(name)
    assert not unused, f"declared in pyproject.toml but never imported: {unused}"
    assert "to_markdown" in "".join(p.read_text() for p in (ROOT / "rwbench").rglob("*.py"))   # tabulate's reason
