"""Compare groups of cells pooled over seeds: ``scaa compare summary.csv --pair NAME A B``.

A group is the cells of a summary table that match ``key=value`` filters (e.g.
``freeze=top1,loss=scl``). Two groups are paired seed by seed (only seeds both have); the
statistic is the mean eval EER over those seeds, and its difference A - B gets a paired
bootstrap CI: every resample draws the same eval clips (stratified by class) for every
cell of both groups, so clip-sampling noise is shared while seed-to-seed variation stays
in the point estimate. ``--cells`` prints each group's pooled and per-attack eval EER
(mean over its seeds, and the range over seeds). Eval labels and attacks come from the
dataset's manifest; scores are the cells' ``scores/{eval_dataset}.parquet``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from scaa import bootstrap, metrics
from scaa.plan.grid import RUN_AXES



def parse_filter(text: str) -> dict[str, str]:
    """'freeze=top1,loss=scl' -> {'freeze': 'top1', 'loss': 'scl'} (keys: the cell axes)."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key not in RUN_AXES:
            raise ValueError(f"filter part {part!r}: expected key=value with key in {', '.join(RUN_AXES)}")
        out[key] = value
    return out


def expand_seeds(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per seed a cell stands for: a seed-independent cell, trained once, is listed
    with its ``seeds`` ("0,1,2") and pairs with each of those seeds of another group."""
    if "seeds" not in rows.columns or rows.empty:
        return rows
    out = []
    for _, row in rows.iterrows():
        listed = [int(x) for x in str(row["seeds"]).split(",") if x.strip() not in ("", "nan")]
        for seed in listed or [int(row["seed"])]:
            out.append({**row.to_dict(), "seed": seed})
    return pd.DataFrame(out, columns=rows.columns)


def select(table: pd.DataFrame, flt: dict[str, str], eval_dataset: str) -> pd.DataFrame:
    rows = table[table["eval_dataset"].astype(str) == eval_dataset]
    for k, v in flt.items():
        rows = rows[rows[k].astype(str) == v]
    rows = expand_seeds(rows)
    if rows.duplicated("seed").any():
        raise ValueError(f"filter {flt} matches several cells per seed: add keys to tell them apart")
    return rows.set_index(rows["seed"].astype(int)).sort_index()


def _eval_frame(manifest: pd.DataFrame, run_dir: str, eval_dataset: str) -> pd.DataFrame:
    scores = pd.read_parquet(Path(run_dir) / "scores" / f"{eval_dataset}.parquet")
    scores = scores[scores["split"] == "eval"] if "split" in scores else scores
    cols = ["utt_id", "label", "attack"]
    return scores[["utt_id", "score"]].merge(manifest[cols], on="utt_id", validate="1:1")


def _aligned(manifest, run_dirs: list[str], eval_dataset: str):
    """Scores of several cells on the eval clips all of them scored: (S [cells, n], y, attack)."""
    frames = [_eval_frame(manifest, d, eval_dataset) for d in run_dirs]
    common = set(frames[0]["utt_id"])
    for f in frames[1:]:
        common &= set(f["utt_id"])
    ids = sorted(common)
    if not ids:
        raise ValueError("the cells share no scored eval clips")
    frames = [f.set_index("utt_id").loc[ids] for f in frames]
    S = np.stack([f["score"].to_numpy(np.float64) for f in frames])
    return S, frames[0]["label"].to_numpy().astype(int), frames[0]["attack"].astype(str).to_numpy()


def _mean_eer_stat(S: np.ndarray, y: np.ndarray) -> bootstrap.Stat:
    stats = [bootstrap.eer_stat(s, y) for s in S]
    return lambda W: np.mean([f(W) for f in stats], axis=0)


def pooled_pair(table, manifest, a: dict, b: dict, eval_dataset: str, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean eval EER of A and B over their shared seeds and the paired bootstrap CI of A - bootstrap."""
    ra, rb = select(table, a, eval_dataset), select(table, b, eval_dataset)
    seeds = sorted(set(ra.index) & set(rb.index))
    if not seeds:
        raise ValueError(f"no seed has both {a} ({sorted(ra.index)}) and {b} ({sorted(rb.index)})")
    dirs = [ra.loc[s, "run_dir"] for s in seeds] + [rb.loc[s, "run_dir"] for s in seeds]
    S, y, _ = _aligned(manifest, dirs, eval_dataset)
    k = len(seeds)
    res = bootstrap.paired_bootstrap({"eer": _mean_eer_stat(S[:k], y)}, {"eer": _mean_eer_stat(S[k:], y)}, y,
                             n_boot=n_boot, seed=seed)["eer"]
    return {"seeds": seeds, "n_clips": int(y.size), **res}


def group_eers(table, manifest, flt: dict, eval_dataset: str) -> dict:
    """Pooled and per-attack eval EER of each seed of a group (point estimates)."""
    rows = select(table, flt, eval_dataset)
    if not len(rows):
        raise ValueError(f"no cell matches {flt}")
    S, y, attack = _aligned(manifest, list(rows["run_dir"]), eval_dataset)
    out = {"seeds": list(rows.index), "pooled": [metrics.eer(s, y) for s in S]}
    for name in sorted(set(attack[y == 1])):
        sel = (y == 0) | (attack == name)
        out[name] = [metrics.eer(s[sel], y[sel]) for s in S]
    return out


def _pct(v) -> str:
    return f"{100 * v:.1f}"


def markdown_pairs(results: list[tuple[str, dict]]) -> str:
    lines = ["| comparison (A − B) | seeds | A mean eval EER % | B mean eval EER % | ΔEER points [95 % CI] |",
             "|---|---|---|---|---|"]
    for name, r in results:
        ci = "–" if r["ci_low"] is None else f"[{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}]"
        lines.append(f"| {name} | {', '.join(map(str, r['seeds']))} | {_pct(r['a'])} | {_pct(r['b'])} "
                     f"| {100 * r['diff']:+.1f} {ci} |")
    return "\n".join(lines)


def markdown_cells(results: list[tuple[str, dict]]) -> str:
    attacks = sorted({k for _, r in results for k in r if k not in ("seeds", "pooled")})
    lines = ["| cells | seeds | pooled eval EER % (range) | " + " | ".join(attacks) + " |",
             "|---|---|---|" + "---|" * len(attacks)]
    for name, r in results:
        pooled = r["pooled"]
        rng = f" ({_pct(min(pooled))}–{_pct(max(pooled))})" if len(pooled) > 1 else ""
        per = " | ".join(_pct(np.mean(r[a])) if a in r else "–" for a in attacks)
        lines.append(f"| {name} | {', '.join(map(str, r['seeds']))} | {_pct(np.mean(pooled))}{rng} | {per} |")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("summary", help="results/ablations/summary.csv")
    p.add_argument("--pair", nargs=3, action="append", default=[], metavar=("NAME", "A", "B"),
                   help="a comparison: its name and two filters such as freeze=top1,loss=scl")
    p.add_argument("--cells", nargs=2, action="append", default=[], metavar=("NAME", "FILTER"),
                   help="a group whose pooled and per-attack eval EER to list")
    p.add_argument("--eval-dataset", default=None, help="default: the summary's first eval dataset")
    p.add_argument("--manifest", default=None, help="default: results/manifest/{eval_dataset}.parquet")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")


def main(args) -> int:
    table = pd.read_csv(args.summary)
    ds = args.eval_dataset or str(table["eval_dataset"].iloc[0])
    manifest = pd.read_parquet(args.manifest or f"results/manifest/{ds}.parquet")
    manifest = manifest[manifest["split"] == "eval"]
    if args.cells:
        print(markdown_cells([(n, group_eers(table, manifest, parse_filter(f), ds)) for n, f in args.cells]))
        print()
    if args.pair:
        print(markdown_pairs([(n, pooled_pair(table, manifest, parse_filter(a), parse_filter(b), ds,
                                              args.n_boot, args.seed)) for n, a, b in args.pair]))
    if not (args.cells or args.pair):
        raise SystemExit("give at least one --pair or --cells")
    return 0
