"""Fusion cells of a config: which trained cells each configured fusion combines, at which seeds.

A fusion cell lives in ``results/fusions/<name>/seed<seed>/`` (:data:`FUSION_DIR`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

FUSION_DIR = "results/fusions/{fusion}/seed{seed}"  # a fusion cell's directory (Snakemake wildcards)


@dataclass(frozen=True)
class FusionCell:
    name: str
    seed: int
    members: tuple  # of scaa.plan.grid.Cell
    seeds: tuple = ()  # the seeds it stands for, when its members are the same cells at each

    @property
    def run_dir(self) -> str:
        return FUSION_DIR.format(fusion=self.name, seed=self.seed)

    def row(self) -> dict:
        """The summary's cell columns: encoder 'fusion', head = the fusion's name."""
        ds = sorted({m.train_dataset for m in self.members})
        rs = sorted({m.resynth for m in self.members})
        return {"train_dataset": "+".join(ds), "encoder": "fusion", "view": "-", "loss": "-", "head": self.name,
                "freeze": "-", "seed": self.seed, "resynth": "+".join(rs),
                "seeds": ",".join(str(s) for s in (self.seeds or (self.seed,)))}

    def spec(self, config: dict) -> dict:
        fz = config["fusions"][self.name]
        return {"name": self.name, "seed": self.seed, "prior": float(fz.get("prior", 0.5)),
                "l2": float(fz.get("l2", 1e-4)),
                "members": [{"run_dir": m.run_dir, "cell": {**m.as_dict(), "resynth": m.resynth}}
                            for m in self.members]}


def expand(config: dict, cells: list) -> tuple[list[FusionCell], list[dict]]:
    """Fusion cells of the config (one per seed whose members all ran) and the skipped ones.

    A member is a partial cell; it must match exactly one runnable cell at each seed
    (without ``seed`` it takes the fusion's seed; without ``resynth`` it means none). A
    seed-independent cell, trained once, matches every seed of the grid it stands for, so a
    fusion whose members are all seed-independent has the same members (and the same fit)
    at every seed: it is one cell, at its smallest seed, that stands for them all."""
    from scaa.plan.grid import NO_RESYNTH, seed_independent

    out, skipped = [], []
    seeds_all = [int(s) for s in (config.get("ablation") or {}).get("seed", [config.get("seed", 0)])]
    heads = config.get("heads") or {}

    def at_seed(cell, seed: int) -> bool:
        return int(cell.seed) == seed or (
            seed in seeds_all and cell.head in heads and seed_independent(config, cell))

    for name, fz in (config.get("fusions") or {}).items():
        for seed in [int(s) for s in fz.get("seeds", seeds_all)]:
            members, why = [], None
            for m in fz["members"]:
                want = {"resynth": NO_RESYNTH, **m}
                want_seed = int(want.pop("seed", seed))
                hits = [c for c in cells if all(str(getattr(c, k)) == str(v) for k, v in want.items())
                        and at_seed(c, want_seed)]
                if len(hits) != 1:
                    why = (f"member {m} matches {len(hits)} runnable cells at seed {seed}"
                           + (": " + ", ".join(h.name for h in hits[:4]) if hits else ""))
                    break
                members.append(hits[0])
            if why is None and len(set(members)) < len(members):
                why = "two members name the same cell"
            if why:
                skipped.append({"fusion": name, "seed": seed, "reason": why})
                continue
            twin = next((i for i, f in enumerate(out) if f.name == name and f.members == tuple(members)), None)
            if twin is None:
                out.append(FusionCell(name, seed, tuple(members), (seed,)))
            else:  # the same members as at an earlier seed: that cell stands for this seed too
                out[twin] = replace(out[twin], seeds=(*out[twin].seeds, seed))
    return out, skipped
