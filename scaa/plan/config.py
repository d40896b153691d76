"""Config checks beyond the JSON Schema, run once when the workflow starts.

The schema rejects unknown keys; this module catches what only the registry can tell:
every name the grid uses is defined, every component variant binds to its registered
type's parameters (checked without building encoders or loading weights; views, losses
and heads are built, which is cheap), dataset roots exist, and the reference cell is a
cell of the grid. Every problem is listed at once, each naming its key.
"""
from __future__ import annotations

from pathlib import Path

from scaa.plan import training_sets
from scaa.plan.grid import AXES, NO_RESYNTH, axes, expand, matching_cells, view_names
from scaa.heads.base import Head
from scaa.registry import (CONDITIONS, DATASETS, ENCODERS, HEADS, LOSSES, RESYNTH, VIEWS, RegistryError, non_finite,
                           param_problems)

VARIANT_TABLES = (("datasets", DATASETS), ("encoders", ENCODERS), ("views", VIEWS), ("losses", LOSSES),
                  ("heads", HEADS))
# component tables checked like the variants (bound to the type, parameter types) but not built here
OTHER_TABLES = (("resynthesizers", RESYNTH), ("evaluation.conditions", CONDITIONS))
NOT_PARAMETERS = {"resynthesizers": ("family", "keywords")}  # spec keys the workflow reads, not the factory
CELL_SET_HEAD_PARAMS = {"random_state": "seed", "loss": "loss"}  # head parameters each cell sets
BUILT_AT_START = ("views", "losses", "heads")  # cheap to build: value errors surface too


class ConfigError(ValueError):
    pass


def check_schema(config: dict, schema_path: str | Path) -> None:
    """Every schema violation at once, each named by its dotted key (``features.shard``)."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = sorted((err.schema.get("properties") or {}))
            extra = sorted(set(err.instance) - set(allowed))
            for key in extra:
                key_path = f"{where}.{key}" if err.absolute_path else key
                problems.append(f"{key_path}: unknown key" + (f" (allowed here: {', '.join(allowed)})" if allowed
                                                               else ""))
        else:
            problems.append(f"{where}: {err.message}")
    # JSON Schema's numeric bounds let NaN through (every comparison with it is false)
    problems += [p for key, value in (config or {}).items() for p in non_finite(value, str(key))] \
        if isinstance(config, dict) else []
    if problems:
        raise ConfigError(f"config does not match {schema_path}:\n  - " + "\n  - ".join(problems))


def check(config: dict) -> None:
    problems = _names(config) + _components(config)
    if not problems:
        problems = _reference(config)
    if problems:
        raise ConfigError("config problems:\n  - " + "\n  - ".join(problems))


def _names(config: dict) -> list[str]:
    problems = []
    ax = axes(config)
    problems += training_sets.problems(config, ax["train_dataset"])
    for ds in config.get("eval_datasets", []):
        if ds not in config["datasets"]:
            problems.append(f"dataset {ds!r} is used but not defined under datasets:")
    for axis, table in (("encoder", "encoders"), ("loss", "losses"), ("head", "heads")):
        for name in ax[axis]:
            if name not in (config.get(table) or {}):
                problems.append(f"ablation.{axis} names {name!r}, which is not defined under {table}:")
    for vs in ax["view"]:
        try:
            for v in view_names(config, vs):
                if v != "none" and v not in (config.get("views") or {}):
                    problems.append(f"view set {vs!r} names view {v!r}, which is not defined under views:")
        except KeyError as err:
            problems.append(str(err).strip('"'))
    for study, spec in ((config.get("tune") or {}).get("studies") or {}).items():
        for key, table in (("dataset", "datasets"), ("encoder", "encoders"), ("loss", "losses")):
            if key in spec and spec[key] not in (config.get(table) or {}):
                problems.append(f"tune.studies.{study}.{key} names {spec[key]!r}, which is not defined under {table}:")
    return problems


def _components(config: dict) -> list[str]:
    problems = []
    for table, registry in VARIANT_TABLES:
        for name, spec in (config.get(table) or {}).items():
            where = f"{table}.{name}"
            try:
                factory = registry.check(spec, where)
                typed = param_problems(factory, {k: v for k, v in spec.items() if k != "type"}, where)
                if typed:  # a wrong type would build something else (a string iterated as a list)
                    problems += typed
                    continue
                if table in BUILT_AT_START and not getattr(factory, "built_by_workflow", False):
                    built = registry.build(spec)
                    if table == "heads" and isinstance(built, Head):
                        built.check_params()  # heads validate their hyper-parameters in fit, not __init__
            except RegistryError as err:
                problems.append(str(err))
            except (TypeError, ValueError) as err:
                problems.append(f"{where}: {err}")
            else:
                if table == "datasets":
                    problems += _dataset_root(where, spec, factory)
                if table == "heads":
                    problems += [f"{where}.{key}: set by the grid (ablation.{axis}), not in a head variant"
                                 for key, axis in CELL_SET_HEAD_PARAMS.items() if key in spec]
    for table, registry in OTHER_TABLES:
        block = _get(config, tuple(table.split(".")))
        for name, spec in (block if isinstance(block, dict) else {}).items():
            where = f"{table}.{name}"
            skip = NOT_PARAMETERS.get(table, ())
            spec = {k: v for k, v in spec.items() if k not in skip} if isinstance(spec, dict) else spec
            try:
                factory = registry.check(spec, where)
            except RegistryError as err:
                problems.append(str(err))
                continue
            problems += param_problems(factory, {k: v for k, v in spec.items() if k != "type"}, where)
    for study, spec in ((config.get("tune") or {}).get("studies") or {}).items():
        fixed = (spec or {}).get("fixed") if isinstance(spec, dict) else None
        if isinstance(fixed, dict):  # mlp parameters held fixed in every trial
            problems += param_problems(HEADS.get("mlp"), fixed, f"tune.studies.{study}.fixed")
    return problems


def _dataset_root(where: str, spec: dict, factory) -> list[str]:
    """A dataset's root must exist, unless the workflow builds it (the demo corpus)."""
    if getattr(factory, "built_by_workflow", False):
        return []
    root = Path(str(spec.get("root", ""))).expanduser()
    return [] if root.exists() else [f"{where}.root: {root} does not exist"]


def _reference(config: dict) -> list[str]:
    ref = (config.get("evaluation") or {}).get("reference")
    if not ref:
        return []
    ref = {"resynth": NO_RESYNTH, **ref}  # without a resynth set: the cell trained on the corpus alone
    cells, skipped = expand(config)
    names = {c.name for c in cells}
    matches = matching_cells(config, ref, cells)
    missing = [a for a in AXES if a not in ref]
    if missing or len(matches) != 1:
        why = {c.name: reason for c, reason in skipped}
        wanted = "/".join(str(ref.get(a, "*")) for a in AXES if not (a == "resynth" and ref[a] == NO_RESYNTH))
        if wanted in why:
            return [f"evaluation.reference {wanted} is a cell the grid cannot run ({why[wanted]})"]
        return [f"evaluation.reference {wanted} is not a cell of the grid"
                + (f" (it lacks {', '.join(missing)})" if missing else "")
                + (f"; {len(matches)} cells match it" if len(matches) > 1 else "")
                + f" ({len(names)} cells, e.g. {sorted(names)[0] if names else 'none'})"]
    return []


# -------------------------------------------------------------- what a --configfile changed
def _leaves(tree, prefix=(), depth=2):
    """Dotted key paths down to ``depth`` levels (deeper values count as one leaf)."""
    if not isinstance(tree, dict) or len(prefix) >= depth:
        yield prefix
        return
    for key, value in tree.items():
        yield from _leaves(value, (*prefix, str(key)), depth)


def _get(tree, path):
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return _MISSING
        tree = tree[key]
    return tree


_MISSING = object()


def merge_report(default: dict, overrides: list[tuple[str, dict]], default_name: str) -> list[str]:
    """One line per --configfile: which keys of the default config it replaced, which it
    added, and which default keys survive inside the blocks it changed (a merge, not a
    replacement: e.g. the default's heads stay defined beside the file's)."""
    lines = []
    for name, tree in overrides:
        replaced, added, kept = [], [], []
        for path in _leaves(tree):
            before = _get(default, path)
            if before is _MISSING:
                added.append(".".join(path))
            elif before != _get(tree, path):
                replaced.append(".".join(path))
        for top, block in (tree or {}).items():
            if isinstance(block, dict) and isinstance(default.get(top), dict):
                kept += [f"{top}.{k}" for k in default[top] if k not in block]
        parts = [f"replaced {len(replaced)} key(s): {', '.join(replaced) or '-'}",
                 f"added {len(added)}: {', '.join(added) or '-'}"]
        if kept:
            parts.append(f"kept from {default_name} inside blocks it sets: {', '.join(kept)}")
        lines.append(f"config: {name} over {default_name}: " + "; ".join(parts))
    return lines
