"""Seed-pooled factor effects: what changing one axis does, over every seed both sides have.

For a factor (encoder, view, loss, head, freeze, resynth, train dataset) and two of its
levels a, b, a *unit* is a (context, seed) where the grid has both cells: same values on
every other axis, same seed. The effect is the mean over units of EER(b) − EER(a).

Its CI comes from a two-level bootstrap: each replicate resamples the eval clips
(stratified by class, the same resample for every cell, so differences stay paired) *and*
the seeds (with replacement; a drawn seed brings all its units). So the interval holds
both the clip noise and the seed-to-seed noise that single-seed comparisons hide. The
seed spread printed beside it is the standard deviation of a cell's EER across seeds
(averaged over the cells in the comparison). An effect whose CI contains zero is
"not shown by this data"; with fewer than 3 seeds the row says so.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from scaa import bootstrap, metrics
from scaa.plan.grid import AXES

CONTEXT = tuple(a for a in AXES if a != "seed")
FACTORS = CONTEXT[1:] + CONTEXT[:1]  # the training set last: its effect mixes corpus and protocol
NOT_SHOWN = "not shown by this data"
COLUMNS = ["eval_dataset", "factor", "level_a", "level_b", "effect", "effect_lo", "effect_hi", "verdict",
           "seed_sd", "diff_seed_sd", "n_seeds", "n_contexts", "n_units", "note"]


def _scores(run_dir: str, ds: str) -> pd.DataFrame:
    return pd.read_parquet(Path(run_dir) / "scores" / f"{ds}.parquet", columns=["utt_id", "label", "score"])


def _boot_eers(g: pd.DataFrame, ds: str, n_boot: int, seed: int) -> tuple[dict, dict]:
    """Point EER and [n_boot] bootstrap EERs per run_dir, on the clips every cell scored."""
    frames = {r: _scores(r, ds) for r in g["run_dir"].unique()}
    common = None
    for f in frames.values():
        ids = set(f["utt_id"])
        common = ids if common is None else common & ids
    order = sorted(common or [])
    first = frames[next(iter(frames))].set_index("utt_id").loc[order]
    y = first["label"].to_numpy().astype(int)
    stats = {r: bootstrap.eer_stat(f.set_index("utt_id").loc[order, "score"].to_numpy(np.float64), y)
             for r, f in frames.items()}
    point = {r: metrics.eer(f.set_index("utt_id").loc[order, "score"].to_numpy(np.float64), y) for r, f in frames.items()}
    boots = {r: np.empty(n_boot) for r in frames}
    done = 0
    for W in bootstrap.resample_weights(y, n_boot, seed):
        for r, st in stats.items():
            boots[r][done:done + W.shape[0]] = st(W)
        done += W.shape[0]
    return point, boots


def factor_effects(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05,
                   factors=FACTORS) -> pd.DataFrame:
    """One row per (eval dataset, factor, level pair) that has at least one unit."""
    if not len(table) or "run_dir" not in table:
        return pd.DataFrame(columns=COLUMNS)
    t = table[table["encoder"].astype(str) != "fusion"].copy()
    if "resynth" not in t:
        t["resynth"] = "none"
    t["resynth"] = t["resynth"].fillna("none")
    rows = []
    for ds, g in t.groupby("eval_dataset", sort=False):
        candidates = [f for f in factors if f in g and g[f].astype(str).nunique() > 1]
        if not candidates:
            continue
        point, boots = _boot_eers(g, ds, n_boot, seed)
        for factor in candidates:
            ctx_cols = [c for c in CONTEXT if c != factor and c in g]
            # "none" (no views / no generated spoofs) is the natural baseline: it comes first
            levels = sorted(g[factor].astype(str).unique(), key=lambda v: (v != "none", v))
            for a, b in itertools.combinations(levels, 2):
                rows.append(_one(g, ds, factor, a, b, ctx_cols, point, boots, n_boot, seed, alpha))
    out = pd.DataFrame([r for r in rows if r is not None], columns=COLUMNS)
    return out


def _one(g, ds, factor, a, b, ctx_cols, point, boots, n_boot, seed, alpha):
    units, spreads, diff_spreads, n_contexts = [], [], [], 0
    for _, cg in g.groupby(ctx_cols, sort=True, dropna=False):
        side = {lv: cg[cg[factor].astype(str) == lv].set_index("seed")["run_dir"] for lv in (a, b)}
        seeds = sorted(set(side[a].index) & set(side[b].index))
        if not seeds:
            continue
        for lv in (a, b):
            e = [point[side[lv][s]] for s in seeds]
            if len(e) > 1:
                spreads.append(float(np.std(e, ddof=1)))
        d = [point[side[b][s]] - point[side[a][s]] for s in seeds]
        if len(d) > 1:
            diff_spreads.append(float(np.std(d, ddof=1)))
        units += [(int(s), side[a][s], side[b][s]) for s in seeds]
        n_contexts += 1
    if not units:
        return None
    seed_ids = sorted({u[0] for u in units})
    D = np.stack([boots[rb] - boots[ra] for _, ra, rb in units])                     # [units, n_boot]
    effect = float(np.mean([point[rb] - point[ra] for _, ra, rb in units]))
    lo = hi = None
    if n_boot > 0:
        rng = np.random.default_rng([seed, 7919])
        draws = rng.integers(0, len(seed_ids), size=(n_boot, len(seed_ids)))
        counts = np.stack([np.bincount(d, minlength=len(seed_ids)) for d in draws])  # [n_boot, seeds]
        pos = {s: i for i, s in enumerate(seed_ids)}
        w = counts[:, [pos[u[0]] for u in units]].astype(np.float64)               # [n_boot, units]
        reps = (w * D.T).sum(1) / w.sum(1)
        reps = reps[np.isfinite(reps)]
        if reps.size:
            lo, hi = (float(v) for v in np.quantile(reps, [alpha / 2, 1 - alpha / 2]))
    if lo is None:
        verdict = NOT_SHOWN
    elif lo <= 0 <= hi:
        verdict = NOT_SHOWN
    else:
        verdict = f"{b} lowers EER" if hi < 0 else f"{b} raises EER"
    notes = []
    if len(seed_ids) < 3:
        notes.append(f"only {len(seed_ids)} seed(s): the seed part of the CI is unreliable")
    return {"eval_dataset": ds, "factor": factor, "level_a": a, "level_b": b, "effect": effect,
            "effect_lo": lo, "effect_hi": hi, "verdict": verdict,
            "seed_sd": float(np.mean(spreads)) if spreads else np.nan,
            "diff_seed_sd": float(np.mean(diff_spreads)) if diff_spreads else np.nan,
            "n_seeds": len(seed_ids), "n_contexts": n_contexts, "n_units": len(units), "note": "; ".join(notes)}
