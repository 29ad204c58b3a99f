"""Rewrite rwbench's imports and dotted names after modules or names move (run once per move; kept as the record).

Two tables drive it: MODULES maps an old dotted module to its new one (a file move), NAMES maps (old module, name) to
the module that now defines the name (a symbol move). Every `from M import a, b` statement in the tree's Python files
(function-level ones included) is re-grouped by the new home of each name, `from rwbench import m` statements follow
their modules, and dotted strings (`rwbench.old.thing` in code, Snakemake files and docs, runner paths in the sampler
table, `python -m rwbench.old`) are rewritten with the module table. Files are moved with `git mv`.

    python scripts/relayout.py split      # inverse.py -> conditional / measure / schedules (symbol moves)
    python scripts/relayout.py layout     # the one-folder-per-layer layout (file moves)
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT_GLOBS = ("rwbench/**/*.py", "tests/**/*.py", "scripts/*.py", "workflow/**/*.smk", "Snakefile", "docs/**/*.md",
              "README.md", "CONTRIBUTING.md", "config/*.yaml", "config/README.md", "workflow/**/*.yaml",
              "workflow/**/*.rst", "profiles/**/*.yaml", ".ci/run", "pyproject.toml", "environment.yml")

SPLIT_NAMES = {("rwbench.inverse", n): "rwbench.tasks.measure" for n in ("task_operator", "measure_targets", "check_problem")}
SPLIT_NAMES.update({("rwbench.inverse", n): "rwbench.core.schedules"
                    for n in ("check_ladder", "uniform_timesteps", "quad_timesteps", "timestep_sigmas")})
SPLIT_NAMES.update({("rwbench.inverse", n): "rwbench.core.conditional"
                    for n in ("eta_on_unit_scale", "likelihood_gradient", "step_cap", "conditional_steps",
                              "ConditionalSetup", "conditional_random_walk", "CAPS", "check_eta")})
SPLIT_NAMES[("rwbench.tasks.operators", "check_eta")] = "rwbench.core.conditional"
SPLIT_DOTTED = {f"{old}.{name}": f"{new}.{name}" for (old, name), new in SPLIT_NAMES.items()}

LAYOUT = {
    # plan/: torch-free planning, the only part the Snakefile imports
    "rwbench.plan.samplers": "rwbench.plan.samplers", "rwbench.plan.grid": "rwbench.plan.grid",
    "rwbench.plan.config": "rwbench.plan.config", "rwbench.plan.packs": "rwbench.plan.packs",
    "rwbench.plan.inputs": "rwbench.plan.inputs", "rwbench.plan.daps_settings": "rwbench.plan.daps_settings",
    "rwbench.plan.figures": "rwbench.plan.figures",
    # core/: the paper's walk and its schedules
    "rwbench.core.walk": "rwbench.core.walk", "rwbench.core.presets": "rwbench.core.presets",
    "rwbench.core.schedules": "rwbench.core.schedules", "rwbench.core.rng": "rwbench.core.rng",
    "rwbench.core.divergence": "rwbench.core.divergence", "rwbench.core.conditional": "rwbench.core.conditional",
    # tasks/: operators and measurements (the vocabulary is rwbench/tasks/__init__.py)
    "rwbench.tasks.operators": "rwbench.tasks.operators", "rwbench.tasks.measure": "rwbench.tasks.measure",
    # models/: the denoiser protocol, adapters, oracle, registry, embedded and pretrained loaders
    "rwbench.models.denoisers": "rwbench.models.denoisers", "rwbench.models.registry": "rwbench.models.registry",
    "rwbench.models.embedded": "rwbench.models.embedded", "rwbench.models.oracle": "rwbench.models.oracle",
    "rwbench.models.oracle_posterior": "rwbench.models.oracle_posterior", "rwbench.models.pretrained": "rwbench.models.pretrained",
    "rwbench.models.checkpoints": "rwbench.models.checkpoints",
    "rwbench.models.preconditioning": "rwbench.models.preconditioning",
    # run/: one run from spec to shards on disk
    "rwbench.run.runners": "rwbench.run.runners", "rwbench.run.sample": "rwbench.run.sample",
    "rwbench.run.rundir": "rwbench.run.rundir", "rwbench.run.provenance": "rwbench.run.provenance",
    "rwbench.run.devices": "rwbench.run.devices",
    # metrics/: with the statistics they need
    "rwbench.metrics.distances": "rwbench.metrics.distances", "rwbench.metrics.intervals": "rwbench.metrics.intervals",
    "rwbench.metrics.uncertainty": "rwbench.metrics.uncertainty",
    "rwbench.metrics.posterior_quality": "rwbench.metrics.posterior_quality",
    # analysis/
    "rwbench.analysis.compare": "rwbench.analysis.compare",
    # tools/: one-off tools and benchmarks
    "rwbench.tools.bench": "rwbench.tools.bench", "rwbench.tools.tune": "rwbench.tools.tune",
    "rwbench.tools.equivalence": "rwbench.tools.equivalence", "rwbench.tools.oneshot": "rwbench.tools.oneshot",
    "rwbench.tools.schedule_table": "rwbench.tools.schedule_table", "rwbench.tools.prepare": "rwbench.tools.prepare",
    "rwbench.tools.config_readme": "rwbench.tools.config_readme",
}
PACKAGES = {
    "plan": "Planning, torch-free: the sampler table, the config (schema, defaults, validation), the grid of runs, packs,\n"
            "inputs and the figure table. The only layer the Snakefile imports.",
    "core": "The paper's core: the random walk (eqs. 11 and 22), its Table II presets, noise ladders and step and\n"
            "temperature rules, the conditional walk, named random streams and divergence checks. No model imports.",
    "models": "Denoisers D(x, sigma): the protocol and adapters (VP, VE, IADB), the exact Gaussian-mixture oracle and its\n"
              "posterior, the model registry, the embedded models the DAG trains and the pretrained loaders.",
    "run": "One run from its spec to shards on disk: sampler dispatch (the sampler table's runners), shards, the run\n"
           "folder layout, provenance and device pinning.",
    "analysis": "Comparisons between runs: paired differences, intervals and decisions (docs/statistics.md).",
    "tools": "One-off tools and benchmarks: prepare, tune, template-vs-native equivalence, the schedules table, one-shot\n"
             "generate / score / export, the config README writer and `python -m rwbench.tools.bench`.",
}


def files() -> list[Path]:
    seen = []
    for pattern in TEXT_GLOBS:
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file() and "__pycache__" not in path.parts and path not in seen:
                seen.append(path)
    return seen


def module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def new_module(module: str, modules: dict) -> str:
    """A module's new dotted name (a package move carries its submodules)."""
    for old in sorted(modules, key=len, reverse=True):
        if module == old or module.startswith(old + "."):
            return modules[old] + module[len(old):]
    return module


def rewrite_imports(text: str, modules: dict, names: dict, all_modules: set) -> str:
    """Re-group `from M import ...` statements (any indentation) by the new home of each imported name."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    edits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level or not (node.module or "").startswith("rwbench"):
            continue
        groups: dict[str, list[str]] = {}
        for alias in node.names:
            full = f"{node.module}.{alias.name}"
            if full in all_modules or full in modules:          # `from rwbench import grid`: a module
                target = new_module(full, modules)
                parent, _, leaf = target.rpartition(".")
                item = leaf if leaf == alias.name and not alias.asname else f"{leaf} as {alias.asname or alias.name}"
            else:
                parent = names.get((node.module, alias.name), new_module(node.module, modules))
                item = alias.name if not alias.asname else f"{alias.name} as {alias.asname}"
            groups.setdefault(parent, []).append(item)
        if list(groups) == [node.module] and all(
                (a.name if not a.asname else f"{a.name} as {a.asname}") == i
                for a, i in zip(node.names, groups[node.module])):
            continue
        start, end = node.lineno - 1, node.end_lineno
        indent = re.match(r"\s*", lines[start]).group(0)
        tail = lines[end - 1].rstrip("\n")
        comment = tail[tail.index("#"):] if "#" in tail and ")" not in tail[tail.index("#"):] else ""
        new = []
        for parent, items in groups.items():
            line = f"{indent}from {parent} import {', '.join(items)}"
            if comment and not new:
                line += "  " + comment
            if len(line) > 118:
                body = f",\n{indent}    ".join(items)
                line = f"{indent}from {parent} import (\n{indent}    {body},\n{indent})"
            new.append(line + "\n")
        edits.append((start, end, new))
    for start, end, new in sorted(edits, reverse=True):
        lines[start:end] = new
    return "".join(lines)


def rewrite_dotted(text: str, dotted: dict) -> str:
    """`rwbench.old[.x]` -> `rwbench.new[.x]` for every dotted name (longest first), also inside strings and docs."""
    if not dotted:
        return text
    pattern = re.compile(r"(?<![\w.])(" + "|".join(re.escape(k) for k in sorted(dotted, key=len, reverse=True))
                         + r")(?![\w])")
    return pattern.sub(lambda m: dotted[m.group(1)], text)


def rewrite_paths(text: str, modules: dict) -> str:
    """`rwbench/old.py` and `rwbench/old/` paths in docs and comments."""
    for old, new in sorted(modules.items(), key=lambda kv: len(kv[0]), reverse=True):
        o, n = old.replace(".", "/"), new.replace(".", "/")
        text = re.sub(rf"(?<![\w/]){re.escape(o)}(\.py|/)", lambda m: n + m.group(1), text)
    return text


def apply(modules: dict, names: dict, dotted: dict) -> None:
    all_modules = {module_of(p) for p in ROOT.glob("rwbench/**/*.py")}
    for path in files():
        text = path.read_text()
        new = text
        if path.suffix == ".py":
            new = rewrite_imports(new, modules, names, all_modules)
        new = rewrite_dotted(new, dotted)
        new = rewrite_paths(new, modules)
        if new != text:
            path.write_text(new)


def git_mv(modules: dict) -> None:
    for package, doc in PACKAGES.items():
        init = ROOT / "rwbench" / package / "__init__.py"
        if not init.exists():
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text(f'"""{doc}"""\n')
            subprocess.run(["git", "add", str(init)], check=True, cwd=ROOT)
    for old, new in modules.items():
        src = ROOT / (old.replace(".", "/") + ".py")
        if not src.exists():
            src = ROOT / old.replace(".", "/")          # a package
        dst = ROOT / (new.replace(".", "/") + (".py" if src.suffix == ".py" else ""))
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "mv", str(src), str(dst)], check=True, cwd=ROOT)


def main(argv: list[str]) -> int:
    if argv[:1] == ["split"]:
        apply({}, SPLIT_NAMES, SPLIT_DOTTED)
    elif argv[:1] == ["layout"]:
        dotted = dict(LAYOUT)
        apply(LAYOUT, {}, dotted)                      # rewrite first (ast needs the old tree), then move
        git_mv(LAYOUT)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
