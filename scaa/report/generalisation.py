"""The train × test matrix: each training set's dev-chosen best cell, scored on every eval corpus.

A row is a training set (a dataset, or a union from :mod:`scaa.plan.training_sets`); its cell is
the one with the lowest **dev** EER among the cells trained on it (ties broken by the cell's
name), so no eval clip picks what a row shows. Each column is an eval corpus; "in domain"
marks columns whose corpus the row trained on. Leave-one-out sets also get a row in a
second table: the EER on the corpus they left out.
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd

from scaa.plan.grid import AXES

COLUMNS = ["train_set", "trained_on", "selected_on", "balance", "left_out", "best_cell", "dev_eer",
           "eval_dataset", "in_domain", "eer", "eer_lo", "eer_hi", "n_cells"]


def set_info(train_names: list[str], declared: dict[str, dict]) -> dict[str, dict]:
    """train key -> {corpora, dev, balance, left_out} for every training dataset name; a plain
    dataset trains and selects on itself."""
    out = {}
    for name in train_names:
        spec = declared.get(name)
        out[name] = {"corpora": [name], "dev": [name], "balance": "clip", "left_out": ""} if spec is None else \
            {"corpora": list(spec["corpora"]), "dev": list(spec["dev"]), "balance": spec.get("balance", "clip"),
             "left_out": spec.get("left_out", "")}
    return out


def matrix(table: pd.DataFrame, sets: dict[str, dict]) -> pd.DataFrame:
    """One row per training set and eval corpus (tidy); empty when the summary has no rows
    of these training sets."""
    rows = []
    if not len(table) or "train_dataset" not in table:
        return pd.DataFrame(columns=COLUMNS)
    t = table.assign(_name=table.apply(lambda r: "/".join(str(r.get(a, "")) for a in AXES if a in table), axis=1))
    for name, info in sets.items():
        mine = t[t["train_dataset"].astype(str) == name]
        if not len(mine):
            continue
        per_cell = mine.groupby("_name", sort=True)["dev_eer"].first()
        finite = per_cell[np.isfinite(per_cell.astype(float))]
        if not len(finite):
            continue
        best = finite.sort_values(kind="mergesort").index[0]  # name order breaks ties (groupby sorted)
        for _, r in mine[mine["_name"] == best].iterrows():
            rows.append({"train_set": name, "trained_on": "+".join(info["corpora"]),
                         "selected_on": "+".join(info["dev"]), "balance": info["balance"],
                         "left_out": info.get("left_out", ""), "best_cell": best, "dev_eer": float(finite[best]),
                         "eval_dataset": r["eval_dataset"], "in_domain": r["eval_dataset"] in info["corpora"],
                         "eer": r["eer"], "eer_lo": r.get("eer_lo", np.nan), "eer_hi": r.get("eer_hi", np.nan),
                         "n_cells": int(len(per_cell))})
    return pd.DataFrame(rows, columns=COLUMNS)


def _pct(v) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "–"
    return "–" if not np.isfinite(v) else f"{100 * v:.1f}"


def _eer_cell(r) -> str:
    ci = f" <small>[{_pct(r['eer_lo'])}, {_pct(r['eer_hi'])}]</small>" if np.isfinite(float(r["eer_lo"])) else ""
    style = " style='background:#eef6ee'" if r["in_domain"] else ""
    return f"<td{style} data-v='{float(r['eer']):.6g}'>{_pct(r['eer'])}{ci}</td>"


def section(m: pd.DataFrame, split_rules: dict[str, str] | None = None) -> str:
    """The page's generalisation section: the matrix, the leave-one-out table, how splits arose."""
    esc = html.escape
    if m is None or not len(m):
        return "<p class='note'>No training set has a cell with a dev EER.</p>"
    evals = list(dict.fromkeys(m["eval_dataset"]))
    s = ["<p class='caption'>Rows: training sets; columns: eval corpora. Each row shows <b>one</b> cell, the one "
         "with the lowest EER on the row's selection (dev) set, scored on every eval corpus: EER in % with its "
         "95% bootstrap CI. Green: the row trained on that corpus (in domain); the others measure transfer. "
         "Selection never reads eval.</p>",
         "<div class='wide'><table class='sortable'><thead><tr><th class='t'>training set</th>"
         "<th class='t'>trained on</th><th class='t'>selected on (dev)</th><th class='t'>balance</th>"
         "<th>dev EER %</th>" + "".join(f"<th>{esc(e)}</th>" for e in evals)
         + "<th class='t'>best cell (of n)</th></tr></thead><tbody>"]
    for name, g in m.groupby("train_set", sort=False):
        first = g.iloc[0]
        by_eval = {r["eval_dataset"]: r for _, r in g.iterrows()}
        cells = "".join(_eer_cell(by_eval[e]) if e in by_eval else "<td>–</td>" for e in evals)
        s.append(f"<tr><td class='t'>{esc(name)}</td><td class='t'>{esc(first['trained_on'])}</td>"
                 f"<td class='t'>{esc(first['selected_on'])}</td><td class='t'>{esc(first['balance'])}</td>"
                 f"<td data-v='{first['dev_eer']:.6g}'>{_pct(first['dev_eer'])}</td>{cells}"
                 f"<td class='t'>{esc(first['best_cell'])} <small>(of {int(first['n_cells'])})</small></td></tr>")
    s.append("</tbody></table></div>")
    loo = m[(m["left_out"].astype(str) != "") & (m["eval_dataset"] == m["left_out"])]
    if len(loo):
        s.append("<h3>Leave one corpus out</h3><p class='caption'>Each set trains on every corpus but one and is "
                 "scored on the one it left out.</p><table><thead><tr><th class='t'>left out</th>"
                 "<th class='t'>trained on</th><th>EER % on the left-out corpus</th></tr></thead><tbody>")
        for _, r in loo.iterrows():
            s.append(f"<tr><td class='t'>{esc(r['left_out'])}</td><td class='t'>{esc(r['trained_on'])}</td>"
                     + _eer_cell({**r, "in_domain": False}) + "</tr>")
        s.append("</tbody></table>")
    if split_rules:
        s.append("<h3>Where each corpus' splits come from</h3><ul>"
                 + "".join(f"<li><b>{esc(ds)}</b>: {esc(rule)}</li>" for ds, rule in sorted(split_rules.items()))
                 + "</ul>")
    return "\n".join(s)
