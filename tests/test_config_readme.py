"""config/README.md is written from the config schema (rwbench.tools.config_readme): it fails here when stale, every option
of the schema is in it, and the schema's nodes use only JSON Schema keywords (a YAML flow mapping cut at a comma
in a description shows up as a stray key)."""

from __future__ import annotations

import re
import subprocess
import sys

from rwbench.tools import config_readme
from rwbench.plan.config import load_schema

KEYWORDS = {"$schema", "description", "type", "additionalProperties", "properties", "default", "minimum", "maximum",
            "exclusiveMinimum", "exclusiveMaximum", "enum", "items", "minItems", "maxItems", "uniqueItems", "required",
            "pattern", "propertyNames"}


def test_config_readme_is_written_from_the_schema():
    text = config_readme.README.read_text()
    assert text == config_readme.render(load_schema()), (
        "config/README.md is stale: run `python -m rwbench.tools.config_readme` and commit the file")


def test_check_fails_on_a_stale_file(tmp_path):
    stale = tmp_path / "README.md"
    stale.write_text("old\n")
    assert config_readme.main(["--check", "--out", str(stale)]) == 1
    assert config_readme.main(["--out", str(stale)]) == 0 and config_readme.main(["--check", "--out", str(stale)]) == 0
    res = subprocess.run([sys.executable, "-m", "rwbench.tools.config_readme", "--check"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def schema_options(node, prefix=""):
    for name, sub in (node.get("properties") or {}).items():
        yield f"{prefix}{name}"
        yield from schema_options(sub, f"{prefix}{name}.")
        if isinstance(sub.get("items"), dict):
            yield from schema_options(sub["items"], f"{prefix}{name}[].")
    if isinstance(node.get("additionalProperties"), dict):
        yield from schema_options(node["additionalProperties"], "")


def test_every_option_has_a_row_and_every_row_four_cells():
    schema = load_schema()
    text = config_readme.render(schema)
    sections = re.split(r"(?m)^## ", text)[1:]
    assert [s.split("`")[1] for s in sections] == list(schema["properties"])
    for section in sections:
        key = section.split("`")[1]
        rows = [line for line in section.splitlines() if line.startswith("| `")]
        names = {line.split("`")[1] for line in rows}
        node = schema["properties"][key]
        wanted = set(schema_options(node)) or {key}
        assert names == wanted, (key, wanted ^ names)
        for line in rows:
            assert len(re.findall(r"(?<!\\)\|", line)) == 5, line        # 4 cells, every other | escaped
    experiments = next(s for s in sections if s.startswith("`experiments`"))
    assert "| `task_params.inpaint.p` | number >= 0, < 1 |" in experiments
    assert "| `models` | list of string matching `^[A-Za-z0-9][A-Za-z0-9_.-]*$` (at least 1) | **required** |" in experiments


def test_the_schema_uses_only_json_schema_keywords():
    def walk(node, path):
        for key, value in node.items():
            if key == "properties":
                for name, sub in value.items():
                    yield from walk(sub, f"{path}.{name}")
                continue
            if key not in KEYWORDS:
                yield f"{path}: {key!r}"
            if isinstance(value, dict) and key != "default":
                yield from walk(value, f"{path}.{key}")

    assert not list(walk(load_schema(), "schema"))
