"""Headline numbers of config/generalise_study.yaml, read from the summary files.

    python bench/generalise_study.py [results/ablations] > bench/results/generalise_study.md

Picks the best single cell and the best fusion by **dev** EER (a fusion's dev EER is
in-sample: it is compared with other fusions only), then reports their pooled and
per-attack eval EER (A08, A10 and the rest) with 95 % CIs, and paired bootstrap ΔEER
against the config's reference cell on the same eval clips. Then every system of the
study (a cell without its seed, or a fusion) pooled over its seeds, and its ΔEER against
the reference system over the seeds both have (``scaa compare``'s statistic: mean EER over
seeds, bootstrap over eval clips). Every number comes from the files the workflow wrote;
nothing is typed in.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from scaa.report import compare
from scaa.workflow.evaluate import paired_comparison

SYSTEM_KEYS = ("train_dataset", "encoder", "view", "loss", "head", "freeze", "resynth")


def pct(v, lo=None, hi=None) -> str:
    if v is None or v != v:
        return "–"
    s = f"{100 * v:.1f} %"
    return s + (f" [{100 * lo:.1f}, {100 * hi:.1f}]" if lo is not None and lo == lo else "")


def per_attack(run_dir: str, ds: str) -> dict:
    res = json.loads((Path(run_dir) / "metrics" / f"{ds}.json").read_text())
    return res.get("per_attack_eer", {})


def scores(run_dir: str, ds: str) -> pd.DataFrame:
    return pd.read_parquet(Path(run_dir) / "scores" / f"{ds}.parquet")


def main(folder: str = "results/ablations") -> None:
    t = pd.read_csv(Path(folder) / "summary.csv")
    effects = pd.read_csv(Path(folder) / "effects.csv")
    out = []
    for ds, g in t.groupby("eval_dataset"):
        cells, fus = g[g["encoder"] != "fusion"], g[g["encoder"] == "fusion"]
        ref = g[g.get("is_reference", False) == True]  # noqa: E712
        picks = [("best cell by dev EER", cells.sort_values(["dev_eer", "eer"]).iloc[0])]
        if len(fus):
            picks.append(("best fusion by dev EER (in-sample)", fus.sort_values(["dev_eer", "eer"]).iloc[0]))
        out.append(f"## eval: {ds}\n")
        out.append("| system | dev EER | eval EER [95 % CI] | A08 | A10 | other attacks | ΔEER vs reference [95 % CI] |")
        out.append("|---|---|---|---|---|---|---|")
        rows = picks + ([("reference", ref.iloc[0])] if len(ref) else [])
        for label, row in rows:
            att = per_attack(row["run_dir"], ds)
            other = ", ".join(f"{a} {pct(v['value'])}" for a, v in sorted(att.items()) if a not in ("A08", "A10"))
            d = "–"
            if len(ref) and row["run_dir"] != ref.iloc[0]["run_dir"]:
                pc = paired_comparison(scores(row["run_dir"], ds), scores(ref.iloc[0]["run_dir"], ds),
                                       metrics=("eer",), n_boot=1000, seed=0)["metrics"]["eer"]
                d = f"{100 * pc['diff']:+.1f} pp [{100 * pc['ci_low']:+.1f}, {100 * pc['ci_high']:+.1f}]"
            name = row["run_dir"].replace("results/", "")
            a08, a10 = att.get("A08", {}), att.get("A10", {})
            out.append(f"| {label}: `{name}` | {pct(row['dev_eer'])} | {pct(row['eer'], row['eer_lo'], row['eer_hi'])} "
                       f"| {pct(a08.get('value'), a08.get('ci_low'), a08.get('ci_high'))} "
                       f"| {pct(a10.get('value'), a10.get('ci_low'), a10.get('ci_high'))} | {other} | {d} |")
        e = effects[effects["eval_dataset"] == ds]
        if len(e):
            out.append("\nSeed-pooled effects (EER(b) − EER(a), bootstrap over clips and seeds):\n")
            out.append("| factor | a → b | effect [95 % CI] | seed SD | seeds | verdict |")
            out.append("|---|---|---|---|---|---|")
            for _, r in e.iterrows():
                out.append(f"| {r['factor']} | {r['level_a']} → {r['level_b']} | {100 * r['effect']:+.1f} pp "
                           f"[{100 * r['effect_lo']:+.1f}, {100 * r['effect_hi']:+.1f}] | {100 * r['seed_sd']:.1f} pp "
                           f"| {r['n_seeds']} | {r['verdict']} |")
        out.extend(systems_table(t, ds, ref.iloc[0] if len(ref) else None))
        out.append("")
    print("\n".join(out))


def systems_table(t: pd.DataFrame, ds: str, ref) -> list[str]:
    """Every system pooled over its seeds, sorted by mean eval EER, with ΔEER vs the reference."""
    manifest = pd.read_parquet(f"results/manifest/{ds}.parquet")
    g = t[t["eval_dataset"] == ds]
    keys = [k for k in SYSTEM_KEYS if k in g.columns]
    systems = g[keys].astype(str).drop_duplicates()
    ref_flt = None if ref is None else {k: str(ref[k]) for k in keys}
    rows = []
    for _, sys_row in systems.iterrows():
        flt = {k: sys_row[k] for k in keys}
        res = compare.group_eers(t, manifest, flt, ds)
        pair = None
        if ref_flt is not None and flt != ref_flt:
            pair = compare.pooled_pair(t, manifest, flt, ref_flt, ds, n_boot=1000, seed=0)
        rows.append((float(np.mean(res["pooled"])), flt, res, pair))
    rows.sort(key=lambda r: r[0])
    attacks = sorted({k for _, _, res, _ in rows for k in res if k not in ("seeds", "pooled")})
    lines = ["\nEvery system, pooled over its seeds (mean eval EER %, range over seeds; per attack: mean):\n",
             "| system | seeds | eval EER % (range) | " + " | ".join(attacks) + " | ΔEER vs reference, points [95 % CI] |",
             "|---|---|---|" + "---|" * len(attacks) + "---|"]
    for mean, flt, res, pair in rows:
        name = f"fusion `{flt['head']}`" if flt["encoder"] == "fusion" else \
            f"{flt['encoder']} / {flt['head']}" + ("" if flt.get("resynth", "none") == "none" else f" + {flt['resynth']}")
        pooled = res["pooled"]
        rng = f" ({100 * min(pooled):.1f}–{100 * max(pooled):.1f})" if len(pooled) > 1 else ""
        per = " | ".join(f"{100 * np.mean(res[a]):.1f}" if a in res else "–" for a in attacks)
        d = "reference" if pair is None else (
            f"{100 * pair['diff']:+.1f} [{100 * pair['ci_low']:+.1f}, {100 * pair['ci_high']:+.1f}] "
            f"(seeds {','.join(map(str, pair['seeds']))})")
        lines.append(f"| {name} | {','.join(map(str, res['seeds']))} | {100 * mean:.1f}{rng} | {per} | {d} |")
    return lines


if __name__ == "__main__":
    main(*sys.argv[1:])
