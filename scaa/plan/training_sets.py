"""Named training sets: unions of corpora a cell trains on, their selection (dev) set and balance.

A config may name, under ``training_sets``, a union of datasets::

    training_sets:
      world: [asvspoof2019_la, demo]                      # shorthand: train on both, select on both dev splits
      world_sel: {corpora: [asvspoof2019_la, demo],
                  dev: [asvspoof2019_la],                 # selection set: these corpora's dev splits only
                  balance: corpus}                        # each corpus weighs the same (default: clip)
      loco: {corpora: [a, b, c], leave_one_out: true}     # the three sets that leave one corpus out

and list the set's name in ``train_datasets`` like a dataset. A dev corpus that is not
among ``corpora`` is a dev-only corpus (its dev split selects, none of it trains).
Calibration, thresholds, epochs, fusion weights and "best cell" of such cells are all
chosen on the union of the selection set's dev splits. ``leave_one_out`` expands to one
set per corpus, ``<name>_without_<corpus>``, each trained on the others and compared on
the one left out (which must be an eval dataset).

A single dataset in ``train_datasets`` is not a training set: its cells keep their spec and
paths. A training set's cells carry ``training_set`` in their spec, so adding a corpus to
a set re-plans only the cells trained on that set.
"""
from __future__ import annotations

BALANCE = ("clip", "corpus")
LOO_JOIN = "_without_"


def _normalise(raw) -> dict:
    """The long form of one ``training_sets`` entry (the list shorthand included)."""
    spec = {"corpora": list(raw)} if isinstance(raw, (list, tuple)) else dict(raw or {})
    corpora = [str(c) for c in spec.get("corpora") or []]
    out = {"corpora": corpora, "dev": [str(c) for c in spec.get("dev") or corpora],
           "balance": str(spec.get("balance", "clip"))}
    if spec.get("leave_one_out"):
        out["leave_one_out"] = True
    return out


def declared(config: dict) -> dict[str, dict]:
    """Every training set of the config by name, leave-one-out sets expanded."""
    out = {}
    for name, raw in (config.get("training_sets") or {}).items():
        spec = _normalise(raw)
        if not spec.pop("leave_one_out", False):
            out[name] = spec
            continue
        for left in spec["corpora"]:
            rest = [c for c in spec["corpora"] if c != left]
            dev = [c for c in spec["dev"] if c != left]
            out[f"{name}{LOO_JOIN}{left}"] = {"corpora": rest, "dev": dev or rest, "balance": spec["balance"],
                                              "left_out": left}
    return out


def expand_names(config: dict, names: list[str]) -> list[str]:
    """``train_datasets`` with each leave-one-out set's name replaced by the sets it expands to."""
    sets = declared(config)
    raw = config.get("training_sets") or {}
    out = []
    for n in names:
        if n in raw and n not in sets:  # a leave_one_out entry
            out += [s for s in sets if s.startswith(f"{n}{LOO_JOIN}")]
        else:
            out.append(n)
    return out


def get(config: dict, name: str) -> dict | None:
    """The training set called ``name``, or None when ``name`` is a plain dataset."""
    return declared(config).get(name)


def corpora_of(config: dict, name: str) -> tuple[list[str], list[str]]:
    """(corpora the cells train on, corpora whose dev split selects) for a train dataset
    name; a plain dataset is both."""
    spec = get(config, name)
    return ([name], [name]) if spec is None else (spec["corpora"], spec["dev"])


def all_corpora(config: dict, names: list[str]) -> list[str]:
    """Every dataset that the training sets (or plain datasets) ``names`` read."""
    out: set[str] = set()
    for n in names:
        train, dev = corpora_of(config, n)
        out |= set(train) | set(dev)
    return sorted(out)


def problems(config: dict, train_names: list[str]) -> list[str]:
    """What is wrong with the training sets a config declares and uses."""
    found = []
    datasets = config.get("datasets") or {}
    evals = set(config.get("eval_datasets") or [])
    for name, raw in (config.get("training_sets") or {}).items():
        where = f"training_sets.{name}"
        if name in datasets:
            found.append(f"{where}: the name is also a dataset; give the set another name")
        if "+" in name or LOO_JOIN in name:
            found.append(f"{where}: the name may not contain '+' or '{LOO_JOIN}'")
        spec = _normalise(raw)
        if len(spec["corpora"]) < (3 if spec.get("leave_one_out") else 1):
            found.append(f"{where}: needs at least {3 if spec.get('leave_one_out') else 1} corpora")
        if len(set(spec["corpora"])) != len(spec["corpora"]):
            found.append(f"{where}.corpora names a corpus twice")
        if spec["balance"] not in BALANCE:
            found.append(f"{where}.balance: {spec['balance']!r} is not one of {', '.join(BALANCE)}")
        for c in spec["corpora"] + spec["dev"]:
            if c not in datasets:
                found.append(f"{where} names dataset {c!r}, which is not defined under datasets:")
        if spec.get("leave_one_out"):
            missing = [c for c in spec["corpora"] if c not in evals]
            if missing:
                found.append(f"{where}: leave_one_out scores each set on the corpus it leaves out; add "
                             f"{', '.join(missing)} to eval_datasets")
    sets = declared(config)
    for n in train_names:
        if n not in sets and n not in datasets:
            found.append(f"train_datasets names {n!r}, which is neither a dataset nor a training set")
    return found


def split_rule(dataset_spec: dict) -> str:
    """How a dataset's train/dev/eval splits come about, in words, for the summary."""
    fractions = (dataset_spec or {}).get("split_fractions")
    if not fractions:
        return f"its own splits ({dataset_spec.get('type')} adapter; a corpus without splits is all eval)"
    parts = ", ".join(f"{k} {v:g}" for k, v in fractions.items())
    return f"assigned by speaker from a seeded hash (seed {int(dataset_spec.get('seed', 0))}): {parts}"
