"""Config checks beyond the JSON Schema: every name the grid uses must be defined."""
from __future__ import annotations

from scaa.grid import axes, view_names


class ConfigError(ValueError):
    pass


def check(config: dict) -> None:
    problems = []
    ax = axes(config)
    for ds in set(ax["train_dataset"]) | set(config.get("eval_datasets", [])):
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
    if problems:
        raise ConfigError("config problems:\n  - " + "\n  - ".join(problems))
