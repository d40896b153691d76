"""Render ``config/schema.yaml`` as the config reference (``config/README.md``).

The schema is the one place each key is described; this page is generated from it
(``python -m scaa.plan.config_docs > config/README.md``) and a test checks the two agree.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
HEADER = """# Configuration reference

Generated from `config/schema.yaml` by `python -m scaa.plan.config_docs > config/README.md`
(a test fails when the two disagree). Every run validates its config against the schema:
an unknown key at any level is an error naming it. Component variants (`datasets`,
`encoders`, `views`, `losses`, `heads`, ...) take the parameters of their registered type
(`scaa list` names the types; each class docstring lists its parameters); they are
checked against the type's constructor when the workflow starts.

| key | type | default | meaning |
|---|---|---|---|
"""


def _resolve(node: dict, schema: dict) -> dict:
    ref = node.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        target = dict(schema["$defs"][ref.split("/")[-1]])
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _type(node: dict) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    t = node.get("type", "")
    if isinstance(t, list):
        return " \\| ".join(map(str, t))
    if t == "array" and isinstance(node.get("items"), dict) and "enum" in node["items"]:
        return "list of " + ", ".join(f"`{v}`" for v in node["items"]["enum"])
    if t == "array" and isinstance(node.get("items"), dict) and node["items"].get("type"):
        return f"list of {node['items']['type']}"
    return str(t or "")


def _default(node: dict) -> str:
    if "default" not in node:
        return ""
    return f"`{yaml.safe_dump(node['default'], default_flow_style=True).strip().removesuffix('...').strip()}`"


def _rows(node: dict, schema: dict, path: str, out: list[str]) -> None:
    node = _resolve(node, schema)
    if "allOf" in node:
        merged: dict = {}
        for part in node["allOf"]:
            part = _resolve(part, schema)
            merged.update({k: v for k, v in part.items() if k not in ("properties", "additionalProperties")})
            merged.setdefault("properties", {}).update(part.get("properties") or {})
        node = {**node, **merged}
    desc = " ".join(str(node.get("description", "")).split())
    if path:
        out.append(f"| `{path}` | {_type(node)} | {_default(node)} | {desc} |")
    for key, child in (node.get("properties") or {}).items():
        _rows(child, schema, f"{path}.{key}" if path else key, out)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        extra = _resolve(extra, schema)
        if extra.get("properties") or extra.get("description"):
            _rows(extra, schema, f"{path}.NAME" if path else "NAME", out)


def render(schema_path: str | Path = SCHEMA) -> str:
    schema = yaml.safe_load(Path(schema_path).read_text())
    rows: list[str] = []
    _rows(schema, schema, "", rows)
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
