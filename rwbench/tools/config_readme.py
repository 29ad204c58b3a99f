"""config/README.md, written from the config schema's descriptions (workflow/schemas/config.schema.yaml).

`python -m rwbench.tools.config_readme` writes it; `--check` exits 1 when the file differs from what the schema gives
(tests/test_config_readme.py runs the same comparison). One section per top-level key, each with a table of its
options: name, type (with bounds, choices and patterns), default and description. Torch-free.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from rwbench.plan.config import SCHEMA_PATH, load_schema

README = SCHEMA_PATH.parents[2] / "config" / "README.md"
HEADER = ("<!-- Written by `python -m rwbench.tools.config_readme` from workflow/schemas/config.schema.yaml: edit the "
          "descriptions there, then run it again (tests/test_config_readme.py fails while this file is stale). -->")


def _text(value: str) -> str:
    """A description on one line, safe inside a Markdown table cell."""
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")


def _code(value: str) -> str:
    """Inline code inside a table cell (a `|` is escaped even there)."""
    return "`" + str(value).replace("|", "\\|") + "`"


def _literal(value) -> str:
    """A default as YAML flow text: null, true, [0.5], {}, results."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_literal(v)}" for k, v in value.items()) + "}"
    return str(value)


def _bounds(node: dict) -> list[str]:
    out = []
    for key, sign in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in node:
            out.append(f"{sign} {_literal(node[key])}")
    return out


def type_text(node: dict) -> str:
    """What an option accepts, in words: types with their bounds, choices, pattern, list constraints."""
    if "enum" in node:
        return "one of " + ", ".join(_code(_literal(v)) for v in node["enum"])
    kinds = node.get("type", "any")
    words = []
    for kind in [kinds] if isinstance(kinds, str) else kinds:
        if kind == "array":
            low, high = node.get("minItems"), node.get("maxItems")
            extra = ([f"exactly {low}"] if low is not None and low == high else
                     [f"at least {low}"] * (low is not None) + [f"at most {high}"] * (high is not None))
            extra += ["distinct"] if node.get("uniqueItems") else []
            words.append(f"list of {type_text(node.get('items') or {})}" + (f" ({', '.join(extra)})" if extra else ""))
        elif kind in ("integer", "number"):
            words.append(" ".join([kind, ", ".join(_bounds(node))]).strip())
        else:
            words.append("mapping" if kind == "object" else kind)
    text = " or ".join(words)
    if "pattern" in node:
        text += f" matching {_code(node['pattern'])}"
    return text


def _default(node: dict, required: bool) -> str:
    if required:
        return "**required**"
    return _code(_literal(node["default"])) if "default" in node else ""


def rows(node: dict, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(option, type, default, description) of each option under an object node; nested objects and list items
    are flattened into dotted names (task_params.inpaint.p, contrasts[].a)."""
    out = []
    required = set(node.get("required") or [])
    for name, sub in (node.get("properties") or {}).items():
        path = f"{prefix}{name}"
        out.append((path, type_text(sub), _default(sub, name in required), _text(sub.get("description", ""))))
        if sub.get("properties"):
            out += rows(sub, f"{path}.")
        items = sub.get("items")
        if isinstance(items, dict) and items.get("properties"):
            out += rows(items, f"{path}[].")
    return out


def _table(lines: list[tuple[str, str, str, str]]) -> list[str]:
    out = ["| option | type | default | description |", "| --- | --- | --- | --- |"]
    out += [f"| {_code(name)} | {kind} | {default} | {text} |" for name, kind, default, text in lines]
    return out


def _anchor(name: str) -> str:
    """GitHub's heading anchor of a heading that is `name` in backticks."""
    return re.sub(r"[^a-z0-9_ -]", "", name.lower()).replace(" ", "-")


def render(schema: dict) -> str:
    """The Markdown reference of a config schema."""
    top = schema["properties"]
    required = set(schema.get("required") or [])
    files = ", ".join(f"`{p.name}`" for p in sorted(README.parent.glob("*.yaml")))
    out = [HEADER, "", "# Configuration", "", _text(schema.get("description", "")), "",
           f"Config files here: {files}. The Snakefile reads `default.yaml` unless `snakemake --configfile "
           "config/<name>.yaml` names another (configs are alternatives, not layers); `embedded_config` names the "
           "file whose `embedded:` section configures `rwbench prepare` and `rwbench train`.", "",
           "Top-level keys: " + ", ".join(f"[`{k}`](#{_anchor(k)})" for k in top) + ".", ""]
    for key, node in top.items():
        out += [f"## `{key}`", ""]
        entry = node.get("additionalProperties")
        if isinstance(entry, dict) and entry.get("properties"):      # models, experiments: one entry per name
            names = (node.get("propertyNames") or {}).get("pattern")
            given = "required" if key in required else f"default {_code(_literal(node.get('default')))}"
            out += [_text(node.get("description", "")), "",
                    f"A mapping of names to entries ({given})." + (f" Names match {_code(names)}." if names else "")
                    + " Keys of each entry:", ""]
            out += _table(rows(entry))
        elif node.get("properties"):
            out += [_text(node.get("description", "")), ""] + _table(rows(node))
        else:
            out += _table([(key, type_text(node), _default(node, key in required), _text(node.get("description", "")))])
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rwbench.tools.config_readme", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the schema's text")
    parser.add_argument("--out", type=Path, default=README, help="the file (default: config/README.md)")
    args = parser.parse_args(argv)
    text = render(load_schema())
    if args.check:
        if not args.out.is_file() or args.out.read_text() != text:
            print(f"{args.out} is stale: run `python -m rwbench.tools.config_readme` to write it from the schema",
                  file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text)
    print(f"{args.out}: {len(text.splitlines())} lines from {SCHEMA_PATH.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
