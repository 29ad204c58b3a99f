"""The layout is the architecture (docs/architecture.md): every import in rwbench/ (function-level ones included) goes
down the layer order or stays in its layer, and no two modules import each other, directly or around a circle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rwbench"

# the layer order, lowest first: a module may import its own layer and those before it. Modules are matched by the
# longest prefix; the package root and its shared modules come first, the CLI last.
LAYERS = [
    ("base", ("rwbench", "rwbench.errors", "rwbench.io", "rwbench.progress", "rwbench.tasks")),
    ("plan", ("rwbench.plan",)),
    ("core", ("rwbench.core", "rwbench.data")),
    ("tasks", ("rwbench.tasks.operators", "rwbench.tasks.measure")),
    ("nets", ("rwbench.nets",)),
    ("models", ("rwbench.models",)),
    ("baselines", ("rwbench.baselines",)),
    ("run", ("rwbench.run",)),
    ("metrics", ("rwbench.metrics",)),
    ("scalespace", ("rwbench.scalespace",)),
    ("analysis", ("rwbench.analysis",)),
    ("figures", ("rwbench.figures",)),
    ("training", ("rwbench.training",)),
    ("tools", ("rwbench.tools",)),
    ("commands", ("rwbench.commands",)),
    ("cli", ("rwbench.cli", "rwbench.__main__")),
]
TORCH_FREE = ("plan",)      # plus rwbench.tasks (the vocabulary): what the Snakefile may import


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> int:
    best, index = "", None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, index = prefix, i
    assert index is not None, f"{module}: in no layer; add its folder to LAYERS and docs/architecture.md"
    return index


# The one exception to the order: the package root re-exports the library API (rwbench.tools.api) lazily, from its
# module __getattr__ (PEP 562), so `rwbench.sample` works while `import rwbench` imports nothing below it. Those
# imports run on first attribute access, never when a module of rwbench is imported, so they are not edges.
LAZY_API = "rwbench.tools.api"


def _lazy_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside a module-level `def __getattr__`."""
    return {id(n) for f in getattr(tree, "body", []) if isinstance(f, ast.FunctionDef) and f.name == "__getattr__"
            for n in ast.walk(f)}


def imports(module: str, lazy: bool = False) -> set[str]:
    """rwbench modules `module` imports anywhere in its file (a `from pkg import name` counts as pkg.name when that is
    a module, else as pkg); the package root's lazy re-exports are left out (lazy=True: only those)."""
    path = MODULES[module]
    out = set()
    tree = ast.parse(path.read_text())
    inside = _lazy_nodes(tree) if module == "rwbench" else set()
    for node in ast.walk(tree):
        if (id(node) in inside) != lazy:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "rwbench")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "rwbench":
            assert not node.level, f"{module}: use absolute imports"
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in MODULES else node.module)
    out.discard(module)
    return out


GRAPH = {m: imports(m) for m in MODULES}


def test_every_module_has_a_layer_and_imports_only_down():
    bad = []
    for module, targets in sorted(GRAPH.items()):
        mine = layer_of(module)
        for target in sorted(targets):
            if target not in MODULES:
                bad.append(f"{module} imports {target}, which does not exist")
            elif layer_of(target) > mine:
                bad.append(f"{module} ({LAYERS[mine][0]}) imports {target} ({LAYERS[layer_of(target)][0]})")
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_no_import_circles():
    # a package's __init__ is imported with any of its modules; edges into it are real, edges out of it too
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt in GRAPH and not state.get(nxt):
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if not state.get(module):
            visit(module, [])
    assert not cycles, "import circles:\n" + "\n".join(cycles)


def test_nothing_imports_commands_and_plan_stays_torch_free():
    for module, targets in GRAPH.items():
        if not module.startswith(("rwbench.commands", "rwbench.cli", "rwbench.__main__")):
            assert not any(t.startswith("rwbench.commands") for t in targets), module
    for module in MODULES:
        if module.startswith("rwbench.plan") or module == "rwbench.tasks":
            text = MODULES[module].read_text()
            tree = ast.parse(text)
            names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
            assert not names & {"torch", "numpy", "pandas", "matplotlib"}, module


def test_the_root_holds_only_the_entry_points_and_shared_modules():
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert root == ["__init__.py", "__main__.py", "cli.py", "data.py", "errors.py", "io.py", "progress.py"], root


def test_the_roots_lazy_api_is_the_only_exception_and_keeps_import_rwbench_light():
    assert imports("rwbench", lazy=True) == {LAZY_API}
    api_names = ast.literal_eval(next(n.value for n in ast.parse(MODULES["rwbench"].read_text()).body
                                      if isinstance(n, ast.Assign) and n.targets[0].id == "API"))
    assert not {f"rwbench.{name}" for name in api_names} & set(MODULES), "an API name hides a subpackage"
    assert all(imports(m, lazy=True) == set() for m in MODULES if m != "rwbench")
    import subprocess
    import sys

    code = ("import sys, rwbench; print(sorted(m for m in ('torch', 'numpy', 'pandas') if m in sys.modules)); "
            "from rwbench.tools import api; print(sorted(set(rwbench.API) - set(api.__all__)))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(PACKAGE.parent), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0 and res.stdout.split("\n")[:2] == ["[]", "[]"], res.stdout + res.stderr


def test_the_layer_check_catches_an_upward_import_and_a_circle():
    """The checks above can fail: an invented upward edge and an invented circle are reported."""
    assert layer_of("rwbench.run.rundir") < layer_of("rwbench.metrics.registry")
    assert layer_of("rwbench.tasks") < layer_of("rwbench.plan.grid") < layer_of("rwbench.tasks.operators")
    GRAPH["rwbench.core.walk"].add("rwbench.core.presets")            # presets imports walk: a circle
    try:
        try:
            test_no_import_circles()
        except AssertionError as err:
            assert "rwbench.core.walk" in str(err)
        else:
            raise AssertionError("the circle check missed core.walk <-> core.presets")
    finally:
        GRAPH["rwbench.core.walk"].discard("rwbench.core.presets")


def test_the_layer_check_catches_a_planted_upward_import_and_reads_function_level_imports(tmp_path):
    """An invented upward edge (models -> run) is reported, and an import inside a function body counts."""
    GRAPH["rwbench.models.denoisers"].add("rwbench.run.rundir")
    try:
        try:
            test_every_module_has_a_layer_and_imports_only_down()
        except AssertionError as err:
            assert "rwbench.models.denoisers (models) imports rwbench.run.rundir (run)" in str(err)
        else:
            raise AssertionError("the layer check missed models -> run")
    finally:
        GRAPH["rwbench.models.denoisers"].discard("rwbench.run.rundir")
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from rwbench.run import rundir\n    import rwbench.figures.style\n")
    MODULES["rwbench.core.planted"] = planted
    try:
        assert imports("rwbench.core.planted") == {"rwbench.run.rundir", "rwbench.figures.style"}
    finally:
        del MODULES["rwbench.core.planted"]
