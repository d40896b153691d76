"""Expand the config's ``ablation`` block into cells, and say why a cell cannot run.

A cell is one combination train_dataset x encoder x view set x loss x head x freeze x seed
x resynthesis set (the vocoded training spoofs of :mod:`scaa.workflow.resynth`; ``none`` by default).
Each cell's *resolved spec* (``cell_spec``) holds only what that cell uses, so the
workflow can pass it as the job's params: adding a variant adds new cells and leaves
every existing cell's spec — and so its outputs — untouched.

Seeds multiply cells only where they change something: a frozen-encoder cell whose head
says it is seed-independent (``Head.seed_independent(params)``, e.g. logreg with a fixed
``cv_seed``) is trained once, as the smallest seed of ``ablation.seed``, and stands for
the others (``seed_groups`` lists them for the summary; ``representative`` maps any of
them to the cell that ran).
"""
from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass
from typing import Any

from scaa.plan import training_sets
from scaa.registry import ENCODERS, HEADS, LOSSES

AXES = ("train_dataset", "encoder", "view", "loss", "head", "freeze", "seed", "resynth")
"""The axes of the ablation grid, in the order cells and tables list them."""
RUN_AXES = AXES[:-1]
"""The axes a run directory's path names; ``resynth`` rides on ``train_dataset`` there
(``demo+classic``, see :attr:`Cell.train_key`), so tables name a cell by these seven."""
NO_RESYNTH = "none"
FREEZE_PATTERN = re.compile(r"frozen|top([1-9][0-9]?)")
"""``frozen``, or ``topK``: the encoder's top K layers (stages) trained with the head."""

RUNS_ROOT = "results/runs"
RUN_PATH = "{train_dataset}/{encoder}/{view}/{loss}/{head}/{freeze}/seed{seed}"
RUN_DIR = f"{RUNS_ROOT}/{RUN_PATH}"
"""A trained cell's directory, as a Snakemake wildcard pattern and a ``str.format``
template (``train_dataset`` is the train key); the rules and :attr:`Cell.run_dir` use it."""


def run_dir_of(axes: dict, root: str = RUNS_ROOT) -> str:
    """The run directory of a cell given by its :data:`RUN_AXES` values (``train_dataset``
    holding the train key), under ``root``."""
    return f"{root}/" + RUN_PATH.format(**{a: axes[a] for a in RUN_AXES})


@dataclass(frozen=True, order=True)
class Cell:
    train_dataset: str
    encoder: str
    view: str
    loss: str
    head: str
    freeze: str
    seed: int
    resynth: str = NO_RESYNTH

    @property
    def train_key(self) -> str:
        """The run directory's first level: the training set, plus ``+<resynth set>`` when
        vocoded spoofs are added (so cells without them keep their paths)."""
        return self.train_dataset if self.resynth == NO_RESYNTH else f"{self.train_dataset}+{self.resynth}"

    @property
    def run_dir(self) -> str:
        return run_dir_of({**asdict(self), "train_dataset": self.train_key})

    @property
    def name(self) -> str:
        return "/".join(str(v) for v in self.as_dict().values())

    def as_dict(self) -> dict:
        """The axes; ``resynth`` only when set, so specs of cells without it never change."""
        d = asdict(self)
        if d["resynth"] == NO_RESYNTH:
            d.pop("resynth")
        return d


def axes(config: dict) -> dict[str, list]:
    abl = config["ablation"]
    return {
        "train_dataset": training_sets.expand_names(config, list(config.get("train_datasets")
                                                                 or abl.get("train_dataset"))),
        "encoder": list(abl["encoder"]), "view": list(abl.get("view", ["none"])),
        "loss": list(abl["loss"]), "head": list(abl["head"]),
        "freeze": list(abl.get("freeze", ["frozen"])),
        "seed": [int(s) for s in abl.get("seed", [config.get("seed", 0)])],
        "resynth": list(abl.get("resynth", [NO_RESYNTH])),
    }


def all_cells(config: dict) -> list[Cell]:
    ax = axes(config)
    return [Cell(*combo) for combo in itertools.product(*(ax[a] for a in AXES))]


def expand(config: dict) -> tuple[list[Cell], list[tuple[Cell, str]]]:
    """Runnable cells (one per seed-independent group) and (cell, reason) for the ones
    that cannot run."""
    ok, skipped = [], []
    for cell in all_cells(config):
        reason = why_not(config, cell)
        (skipped.append((cell, reason)) if reason else ok.append(cell))
    return [c for c in ok if representative(config, c) == c], skipped


def seed_independent(config: dict, cell: Cell) -> bool:
    """True when the cell's result cannot depend on its seed: a frozen encoder (features
    do not use the cell seed) and a head that says so for its parameters."""
    if cell.freeze != "frozen":
        return False
    spec = config["heads"][cell.head]
    return bool(head_class(spec).seed_independent({k: v for k, v in spec.items() if k != "type"}))


def representative(config: dict, cell: Cell) -> Cell:
    """The cell that is trained for ``cell``: itself, or for a seed-independent cell the
    same cell with the smallest seed of the grid's seed axis."""
    if not seed_independent(config, cell):
        return cell
    seeds = axes(config)["seed"]
    return Cell(**{**cell.as_dict(), "seed": min(seeds)}) if cell.seed in seeds else cell


def seed_groups(config: dict) -> dict[str, list[int]]:
    """run_dir -> the seeds it stands for, for every runnable seed-independent cell of a
    grid with more than one seed (cells that stand only for themselves are left out)."""
    seeds = sorted(set(axes(config)["seed"]))
    if len(seeds) < 2:
        return {}
    return {c.run_dir: seeds for c in expand(config)[0] if seed_independent(config, c)}


def matching_cells(config: dict, axes_values: dict, cells: list[Cell] | None = None) -> list[Cell]:
    """The runnable cells (or those of ``cells``) whose axes equal ``axes_values``; naming no
    ``resynth`` means the cell trained without generated spoofs."""
    want = {"resynth": NO_RESYNTH, **axes_values}
    pool = expand(config)[0] if cells is None else cells
    return [c for c in pool if all(str(v) == str(asdict(c)[a]) for a, v in want.items() if a in AXES)]


def reference_cell(config: dict) -> Cell | None:
    """The cell ``evaluation.reference`` names, which every cell's paired bootstrap is
    compared with; None when there is none or it does not name exactly one runnable cell
    (:func:`scaa.plan.config.check` reports that at start-up)."""
    ref = (config.get("evaluation") or {}).get("reference")
    if not ref:
        return None
    found = matching_cells(config, ref)
    if not found and all(a in ref for a in RUN_AXES):  # a seed a seed-independent cell stands for
        named = representative(config, Cell(**{"resynth": NO_RESYNTH, **{a: ref[a] for a in AXES if a in ref}}))
        found = [c for c in expand(config)[0] if c == named]
    return found[0] if len(found) == 1 else None


def view_names(config: dict, view_set: str) -> list[str]:
    sets = config.get("view_sets") or {}
    if view_set in sets:
        return list(sets[view_set])
    if view_set in (config.get("views") or {}) or view_set == "none":
        return [view_set]
    raise KeyError(f"view set {view_set!r} is neither in view_sets nor in views")


def view_spec(config: dict, name: str) -> dict:
    if name == "none":
        return (config.get("views") or {}).get("none", {"type": "none"})
    return config["views"][name]


def _declared(registry, spec: dict, base: type, what: str) -> type:
    """The registered class of ``spec['type']``; it must derive from ``base``, whose
    class attributes are the capabilities the grid reads."""
    factory = registry.get(spec["type"])
    if not (isinstance(factory, type) and issubclass(factory, base)):
        raise TypeError(f"{what} {spec['type']!r} is registered as {factory!r}, not a subclass of "
                        f"{base.__module__}.{base.__qualname__}: the grid reads the capabilities that class declares")
    return factory


def encoder_class(spec: dict) -> type:
    from scaa.encoders.base import Encoder

    return _declared(ENCODERS, spec, Encoder, "encoder")


def head_class(spec: dict) -> type:
    from scaa.heads.base import Head

    return _declared(HEADS, spec, Head, "head")


def loss_class(spec: dict) -> type:
    from scaa.heads.losses import Loss

    return _declared(LOSSES, spec, Loss, "loss")


def encoder_output(spec: dict) -> str:
    """'pooled' or 'frames', without building the encoder (which may load a large model)."""
    return encoder_class(spec).output_for({k: v for k, v in spec.items() if k != "type"})


def why_not(config: dict, cell: Cell) -> str | None:
    axes_of_cell = asdict(cell)
    for rule in (config.get("ablation") or {}).get("exclude") or []:
        if all(str(axes_of_cell.get(k)) == str(v) for k, v in rule.items()):
            return "excluded by ablation.exclude: " + ", ".join(f"{k}={v}" for k, v in rule.items())
    enc = config["encoders"][cell.encoder]
    head_spec = config["heads"][cell.head]
    loss_spec = config["losses"][cell.loss]
    enc_cls, head_cls, loss_cls = encoder_class(enc), head_class(head_spec), loss_class(loss_spec)
    n_views = len(view_names(config, cell.view))
    freeze = FREEZE_PATTERN.fullmatch(cell.freeze)
    if not freeze:
        return f"unknown freezing strategy {cell.freeze!r} (frozen or topK)"
    if cell.freeze != "frozen":
        if not enc_cls.supports_top_k:
            return f"{cell.freeze}: encoder {cell.encoder} ({enc['type']}) has no transformer layers to fine-tune"
        if enc_cls.trainable_layers and int(freeze.group(1)) > enc_cls.trainable_layers:
            return (f"{cell.freeze}: encoder {cell.encoder} ({enc['type']}) has {enc_cls.trainable_layers} "
                    "trainable stages")
        if not head_cls.trains_top_layers:
            return (f"{cell.freeze}: head {cell.head} ({head_spec['type']}) cannot be trained with the encoder's "
                    "top layers (its class does not declare trains_top_layers)")
    else:
        out, needs = encoder_output(enc), head_cls.needs
        if out != needs:
            return f"head {cell.head} needs {needs} features but encoder {cell.encoder} gives {out}"
    accepts = head_cls.accepts_losses
    if accepts is not None and loss_spec["type"] not in accepts:
        return f"head {cell.head} ({head_spec['type']}) trains only with {', '.join(accepts)}, not {loss_spec['type']}"
    needs_views = int(loss_cls.needs_views)
    if needs_views > n_views:
        return f"loss {cell.loss} needs {needs_views} views but view set {cell.view} has {n_views}"
    if cell.resynth != NO_RESYNTH:
        if training_sets.get(config, cell.train_dataset) is not None:
            return (f"vocoded spoofs ({cell.resynth}) are generated per corpus; training set "
                    f"{cell.train_dataset} is a union of corpora")
        try:
            names = resynth_set_names(config, cell.resynth)
        except KeyError as err:
            return str(err.args[0])
        if not names:
            return f"resynthesis set {cell.resynth} is empty"
        if n_views > 1:
            return (f"vocoded spoofs ({cell.resynth}) are encoded without augmented views; "
                    f"view set {cell.view} has {n_views} views")
    return None


def cell_spec(config: dict, cell: Cell) -> dict[str, Any]:
    """Everything one cell's jobs need, and nothing else (it becomes Snakemake params).

    Plugins are not part of it: jobs import the config's ``plugins:`` themselves, so
    adding a plugin module does not change (and re-run) existing cells."""
    views = view_names(config, cell.view)
    spec = {
        "cell": cell.as_dict(),
        "encoder": config["encoders"][cell.encoder],
        "views": {v: view_spec(config, v) for v in views},
        "loss": config["losses"][cell.loss],
        "head": config["heads"][cell.head],
        "freeze": cell.freeze,
        "seed": cell.seed,
        "training": config.get("training", {}),
    }
    union = training_sets.get(config, cell.train_dataset)
    if union is not None:  # only then: cells trained on one dataset keep their spec
        spec["training_set"] = union
    if cell.resynth != NO_RESYNTH:  # only then: cells without vocoded spoofs keep their spec
        spec["resynth"] = {n: config["resynthesizers"][n] for n in resynth_set_names(config, cell.resynth)}
    return spec


def split_train_key(key: str) -> tuple[str, str]:
    """``asvspoof2019_la+classic`` -> ("asvspoof2019_la", "classic"); no '+' -> resynth none."""
    base, _, rs = key.partition("+")
    return base, rs or NO_RESYNTH


def cell_from_wildcards(w) -> Cell:
    base, rs = split_train_key(w.train_dataset)
    return Cell(base, w.encoder, w.view, w.loss, w.head, w.freeze, int(w.seed), rs)


def resynth_set_names(config: dict, resynth_set: str) -> list[str]:
    """Generator names of a resynthesis set (``resynth_sets``, or one generator by name)."""
    if resynth_set == "none":
        return []
    sets = config.get("resynth_sets") or {}
    if resynth_set in sets:
        return list(sets[resynth_set])
    if resynth_set in (config.get("resynthesizers") or {}):
        return [resynth_set]
    raise KeyError(f"resynthesis set {resynth_set!r} is neither in resynth_sets nor in resynthesizers")
