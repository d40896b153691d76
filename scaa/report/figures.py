"""Plotly figures for the ablation summary page.

Each builder takes the tidy summary table (one row per cell x eval dataset) and, where
needed, the per-cell ``metrics/{eval_dataset}.json`` dicts, and returns a Figure (or
None when there is nothing to draw, so the page can say so instead of showing an
empty chart). Colours follow the cell, so one cell looks the same in every chart.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots
from scipy.stats import norm

from scaa.plan.grid import AXES

PALETTE = qualitative.Plotly + qualitative.D3 + qualitative.Dark24 + qualitative.Light24
FACTOR_COLOURS = dict(zip(AXES, qualitative.Set1))
TEMPLATE = "plotly_white"
DET_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99)
DET_CLIP = 5e-4


# ---------------------------------------------------------------- cells, labels, colours
def varying_axes(table: pd.DataFrame) -> list[str]:
    """Axes with more than one value in the table: the only ones worth naming in a legend."""
    return [a for a in AXES if a in table and table[a].astype(str).nunique() > 1]


def cell_label(row, axes: list[str]) -> str:
    """Short cell name from the axes that vary (all axes when none do)."""
    names = axes or [a for a in AXES if a in row]
    return " · ".join(f"seed{row[a]}" if a == "seed" else str(row[a]) for a in names)


def with_labels(table: pd.DataFrame) -> pd.DataFrame:
    """Copy of the table with ``label`` (short cell name) and ``colour`` columns."""
    t = table.copy()
    axes = varying_axes(t)
    t["label"] = [cell_label(r, axes) for _, r in t.iterrows()]
    labels = sorted(t["label"].unique())
    colours = {lab: PALETTE[i % len(PALETTE)] for i, lab in enumerate(labels)}
    t["colour"] = t["label"].map(colours)
    return t


def reference_mask(table: pd.DataFrame, reference: dict | None) -> pd.Series:
    """Rows of the reference cell: from the config's reference, else the table's flag."""
    if reference:
        from scaa.report.table import match_cell

        return match_cell(table, reference)
    if "is_reference" in table:
        return table["is_reference"].map(lambda v: bool(v) if v == v and v is not None else False)
    return pd.Series(False, index=table.index)


# ---------------------------------------------------------------- factor effects
def single_factor_rows(table: pd.DataFrame, ref_mask: pd.Series) -> pd.DataFrame:
    """Rows that differ from the reference cell (same eval dataset) in exactly one axis."""
    out = []
    for ds, group in table.groupby("eval_dataset", sort=False):
        refs = group[ref_mask[group.index]]
        if not len(refs):
            continue
        ref = refs.iloc[0]
        for i, row in group.iterrows():
            diff = [a for a in AXES if a in group and str(row[a]) != str(ref[a])]
            if len(diff) != 1:
                continue
            a = diff[0]
            out.append({"row": i, "eval_dataset": ds, "factor": a, "level": str(row[a]),
                        "reference_level": str(ref[a]),
                        **{k: row.get(k, np.nan) for k in ("d_eer", "d_eer_lo", "d_eer_hi", "d_eer_sign_flip")}})
    cols = ["row", "eval_dataset", "factor", "level", "reference_level", "d_eer", "d_eer_lo", "d_eer_hi",
            "d_eer_sign_flip"]
    return pd.DataFrame(out, columns=cols)


def factor_effect_figure(rows: pd.DataFrame) -> go.Figure | None:
    """Paired ΔEER (percentage points, cell minus reference) with its CI, grouped by factor."""
    rows = rows.dropna(subset=["d_eer"])
    if not len(rows):
        return None
    order = {a: i for i, a in enumerate(AXES)}
    rows = rows.assign(_o=rows["factor"].map(order)).sort_values(["_o", "level"])
    rows = rows.assign(y=[f"{f}: {lv} (vs {rl})" for f, lv, rl in
                          zip(rows["factor"], rows["level"], rows["reference_level"])])
    fig = go.Figure()
    for factor, g in rows.groupby("factor", sort=False):
        x = g["d_eer"].to_numpy(float) * 100
        lo, hi = g["d_eer_lo"].to_numpy(float) * 100, g["d_eer_hi"].to_numpy(float) * 100
        flip = g["d_eer_sign_flip"].to_numpy(float)
        fig.add_trace(go.Scatter(
            x=x.tolist(), y=list(g["y"]), mode="markers", name=factor,
            marker=dict(size=10, color=FACTOR_COLOURS.get(factor)),
            error_x=dict(type="data", symmetric=False, array=np.nan_to_num(hi - x).tolist(),
                         arrayminus=np.nan_to_num(x - lo).tolist(), thickness=2, width=6),
            customdata=np.stack([lo, hi, flip], axis=1).tolist(),
            hovertemplate="%{y}<br>ΔEER %{x:.2f} pp [%{customdata[0]:.2f}, %{customdata[1]:.2f}]"
                          "<br>sign-flip share %{customdata[2]:.3f}<extra></extra>"))
    fig.add_vline(x=0, line=dict(color="#444", dash="dash"))
    fig.update_layout(template=TEMPLATE, height=140 + 34 * len(rows), margin=dict(l=10, r=10, t=30, b=40),
                      xaxis_title="ΔEER vs reference (percentage points; < 0 = lower EER = better)",
                      legend_title_text="factor")
    fig.update_yaxes(categoryorder="array", categoryarray=list(rows["y"])[::-1], automargin=True)
    return fig


# ---------------------------------------------------------------- ROC / DET
def _probit(rate) -> np.ndarray:
    return norm.ppf(np.clip(np.asarray(rate, dtype=float), DET_CLIP, 1 - DET_CLIP))


def roc_det_figure(rows: pd.DataFrame, results: dict) -> go.Figure | None:
    """ROC (linear axes) beside DET (probit axes), one trace per cell; ``results`` maps row index -> metrics."""
    drawn, lowest = [], 1.0
    fig = make_subplots(rows=1, cols=2, subplot_titles=("ROC", "DET (normal-deviate axes)"),
                        horizontal_spacing=0.1)
    for i, row in rows.iterrows():
        res = results.get(i) or {}
        roc, det = res.get("roc"), res.get("det")
        if not roc and not det:
            continue
        drawn.append(i)
        style = dict(legendgroup=row["label"], line=dict(color=row["colour"], width=2))
        if roc:
            fig.add_trace(go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines", name=row["label"], **style,
                                     hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}"), row=1, col=1)
        if det:
            far = np.asarray(det["far"], float)
            frr = np.asarray(det["frr"], float)
            pos = np.concatenate([far[far > 0], frr[frr > 0]])
            lowest = min(lowest, float(pos.min()) if pos.size else 1.0)
            fig.add_trace(go.Scatter(x=_probit(far), y=_probit(frr), mode="lines", name=row["label"],
                                     showlegend=not roc, **style, customdata=np.stack([far, frr], axis=1),
                                     hovertemplate="FAR %{customdata[0]:.2%}<br>FRR %{customdata[1]:.2%}"),
                          row=1, col=2)
    if not drawn:
        return None
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="#bbb", dash="dot"),
                             showlegend=False, hoverinfo="skip"), row=1, col=1)
    lo = max(DET_CLIP, lowest * 0.8)
    ticks = [t for t in DET_TICKS if lo <= t <= 0.99]
    rng = [float(norm.ppf(lo)), float(norm.ppf(0.99))]
    fig.add_trace(go.Scatter(x=rng, y=rng, mode="lines", line=dict(color="#bbb", dash="dot"),
                             name="FAR = FRR (EER line)", showlegend=False, hoverinfo="skip"), row=1, col=2)
    probit_axis = dict(tickvals=[float(norm.ppf(t)) for t in ticks], ticktext=[f"{t:.3g}" for t in
                                                                             (100 * np.array(ticks))],
                       range=rng)
    fig.update_xaxes(title_text="false positive rate (bona fide flagged)", range=[0, 1], row=1, col=1)
    fig.update_yaxes(title_text="true positive rate (spoof caught)", range=[0, 1], row=1, col=1)
    fig.update_xaxes(title_text="FAR: spoof accepted (%)", **probit_axis, row=1, col=2)
    fig.update_yaxes(title_text="FRR: bona fide rejected (%)", **probit_axis, row=1, col=2)
    fig.update_layout(template=TEMPLATE, height=460, margin=dict(l=10, r=10, t=40, b=40))
    return fig


# ---------------------------------------------------------------- reliability
def reliability_figure(rows: pd.DataFrame, results: dict) -> go.Figure | None:
    """Observed spoof rate against mean calibrated P(spoof) per bin; ECE in the legend."""
    fig = go.Figure()
    for i, row in rows.iterrows():
        rel = (results.get(i) or {}).get("reliability")
        if not rel:
            continue
        conf = np.asarray([np.nan if v is None else v for v in rel["confidence"]], float)
        acc = np.asarray([np.nan if v is None else v for v in rel["accuracy"]], float)
        count = np.asarray(rel["count"], float)
        keep = (count > 0) & np.isfinite(conf) & np.isfinite(acc)
        ece = ((results[i].get("metrics") or {}).get("ece") or {}).get("value")
        name = f"{row['label']} (ECE {ece:.3f})" if ece is not None else f"{row['label']} (ECE n/a)"
        fig.add_trace(go.Scatter(x=conf[keep], y=acc[keep], mode="lines+markers", name=name,
                                 line=dict(color=row["colour"]), customdata=count[keep],
                                 hovertemplate="mean P(spoof) %{x:.2f}<br>spoof rate %{y:.2f}"
                                               "<br>%{customdata:.0f} clips<extra></extra>"))
    if not fig.data:
        return None
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                             line=dict(color="#888", dash="dash")))
    fig.update_layout(template=TEMPLATE, height=440, margin=dict(l=10, r=10, t=30, b=40),
                      xaxis=dict(title="mean calibrated P(spoof) in bin", range=[-0.02, 1.02]),
                      yaxis=dict(title="observed spoof share in bin", range=[-0.02, 1.02]))
    return fig


# ---------------------------------------------------------------- per-attack EER
def attack_heatmap(rows: pd.DataFrame, results: dict) -> go.Figure | None:
    """Cells x attacks, EER (%) printed in each square; the pooled EER is the first column."""
    per = {i: (results.get(i) or {}).get("per_attack_eer") or {} for i in rows.index}
    attacks = sorted({a for d in per.values() for a in d})
    keep = [i for i in rows.index if per[i]]
    if not attacks or not keep:
        return None
    cols = ["pooled"] + attacks
    z, text = [], []
    for i in keep:
        vals = [rows.at[i, "eer"] if "eer" in rows else np.nan]
        vals += [(per[i].get(a) or {}).get("value") for a in attacks]
        vals = [np.nan if v is None or (isinstance(v, float) and math.isnan(v)) else 100 * float(v) for v in vals]
        z.append(vals)
        text.append(["" if math.isnan(v) else f"{v:.1f}" for v in vals])
    z = np.asarray(z, float)
    top = max(50.0, float(np.nanmax(z)) if np.isfinite(z).any() else 50.0)
    fig = go.Figure(go.Heatmap(
        z=z, x=cols, y=list(rows.loc[keep, "label"]), text=text, texttemplate="%{text}",
        colorscale="RdYlGn_r", zmin=0, zmax=top, colorbar=dict(title="EER %"),
        hovertemplate="%{y}<br>%{x}: EER %{z:.2f} %<extra></extra>"))
    fig.update_layout(template=TEMPLATE, height=160 + 30 * len(keep), margin=dict(l=10, r=10, t=30, b=40),
                      xaxis=dict(side="top", type="category"))
    fig.update_yaxes(autorange="reversed", automargin=True, type="category")
    return fig


# ---------------------------------------------------------------- cost vs error
LATENCY_COLUMNS = ("latency_p50_ms", "latency_ms_p50")


def latency_column(bench: pd.DataFrame) -> str | None:
    return next((c for c in LATENCY_COLUMNS if c in bench), None)


def join_benchmark(table: pd.DataFrame, bench: pd.DataFrame) -> pd.DataFrame:
    """Left-join benchmark columns onto the table on the cell axes (compared as strings)."""
    keys = [a for a in AXES if a in table and a in bench] or [c for c in ("run_dir",) if c in table and c in bench]
    if not keys:
        raise ValueError(f"benchmark frame shares neither the cell axes {AXES} nor run_dir with the table")
    b = bench.copy()
    extra = [c for c in b.columns if c not in keys and c not in table.columns]
    for k in keys:
        b[k] = b[k].astype(str)
    left = table.copy()
    left["_keys"] = list(zip(*(left[k].astype(str) for k in keys)))
    b["_keys"] = list(zip(*(b[k] for k in keys)))
    b = b.drop_duplicates("_keys", keep="last").set_index("_keys")[extra]
    return left.join(b, on="_keys").drop(columns="_keys")


def latency_figure(table: pd.DataFrame) -> go.Figure | None:
    """EER (with CI) against single-clip p50 latency, one trace per eval dataset."""
    lat = latency_column(table)
    if lat is None:
        return None
    t = table.dropna(subset=[lat, "eer"])
    if not len(t):
        return None
    fig = go.Figure()
    for ds, g in t.groupby("eval_dataset", sort=False):
        y = g["eer"].to_numpy(float) * 100
        lo, hi = g["eer_lo"].to_numpy(float) * 100, g["eer_hi"].to_numpy(float) * 100
        fig.add_trace(go.Scatter(
            x=g[lat].astype(float).tolist(), y=y.tolist(), mode="markers", name=str(ds), text=list(g["label"]),
            marker=dict(size=11),
            error_y=dict(type="data", symmetric=False, array=np.nan_to_num(hi - y).tolist(),
                         arrayminus=np.nan_to_num(y - lo).tolist()),
            hovertemplate="%{text}<br>p50 %{x:.2f} ms<br>EER %{y:.2f} %<extra>" + str(ds) + "</extra>"))
    fig.update_layout(template=TEMPLATE, height=420, margin=dict(l=10, r=10, t=30, b=40),
                      xaxis=dict(title="single-clip latency p50 (ms, log scale; hover a point for its cell)",
                                 type="log", dtick="D2"),
                      yaxis=dict(title="eval EER (%)"), legend_title_text="eval dataset")
    return fig
