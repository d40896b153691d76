"""The config reference is complete: every key of config/schema.yaml has a description, so
the generated config/README.md has a meaning for each row."""
from pathlib import Path

import yaml

from scaa.plan.config_docs import render

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"


def undescribed(schema: dict) -> list[str]:
    """Dotted paths of properties (at any depth, $defs included) without a description."""
    defs = schema.get("$defs") or {}
    missing: list[str] = []

    def described(node: dict) -> bool:
        if str(node.get("description", "")).strip():
            return True
        ref = node.get("$ref", "")
        return ref.startswith("#/$defs/") and bool(str(defs[ref.split("/")[-1]].get("description", "")).strip())

    def walk(node, path: str) -> None:
        if not isinstance(node, dict):
            return
        for key, child in (node.get("properties") or {}).items():
            child_path = f"{path}.{key}" if path else key
            if isinstance(child, dict) and not described(child):
                missing.append(child_path)
            walk(child, child_path)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}.NAME")
        for part in node.get("allOf") or []:
            walk(part, path)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")

    walk(schema, "")
    for name, node in defs.items():
        walk(node, f"$defs.{name}")
    return missing


def test_every_schema_key_has_a_description():
    missing = undescribed(yaml.safe_load(SCHEMA.read_text()))
    assert not missing, "config/schema.yaml keys without a description:\n" + "\n".join(missing)


def test_the_check_finds_an_undescribed_key():
    schema = {"properties": {"a": {"type": "object", "description": "x",
                                   "properties": {"b": {"type": "integer"}}}},
              "$defs": {"d": {"type": "object", "properties": {"c": {"type": "string"}}}}}
    assert undescribed(schema) == ["a.b", "$defs.d.c"]


def test_every_row_of_the_reference_has_a_meaning():
    rows = [line for line in render(SCHEMA).splitlines() if line.startswith("| `")]
    empty = [row.split("|")[1].strip() for row in rows if not row.rstrip("| ").rsplit("|", 1)[-1].strip()]
    assert rows and not empty, f"rows without a meaning: {empty}"


def _merged(base: dict, over: dict) -> dict:
    """Snakemake's --configfile merge: nested dicts merge, everything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def test_every_shipped_config_validates():
    """config/config.yaml, and every other config/*.yaml merged over it as --configfile does."""
    from scaa.plan.config import check_schema

    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for path in sorted((REPO / "config").glob("*.yaml")):
        if path.name != "schema.yaml":
            check_schema(_merged(base, yaml.safe_load(path.read_text()) or {}), SCHEMA)
