"""Summary-page sections for the robustness matrix, the error analysis and energy.

Kept apart from :mod:`scaa.report.html` (which calls these) so each stays small:
- a cells x conditions heatmap of eval EER (ΔEER vs clean with its paired CI on hover);
- per cell and eval set, the most confident misses / false alarms, each linked to its
  overlay page (rendered on demand by the ``overlay_clip`` rule; the link says how);
- eval EER against energy per 1,000 detections (CodeCarbon).
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from scaa.report.html_common import esc as _esc, num as _num
from scaa.plan.grid import RUN_AXES  # the matrix names cells by these seven axes

TEMPLATE = "plotly_white"


def _keys(df: pd.DataFrame) -> list[tuple]:
    return list(zip(*(df[a].astype(str) for a in (*RUN_AXES, "eval_dataset"))))


def with_cell_labels(rob: pd.DataFrame, t: pd.DataFrame) -> pd.DataFrame:
    """Robustness rows with the summary table's short cell ``label``."""
    labels = dict(zip(_keys(t), t["label"]))
    rob = rob.copy()
    rob["label"] = [labels.get(k, "/".join(k[:-1])) for k in _keys(rob)]
    return rob


def condition_order(rob: pd.DataFrame) -> list[str]:
    conds = list(dict.fromkeys(rob["condition"].astype(str)))
    return ["clean"] + sorted(c for c in conds if c != "clean")


def robustness_heatmap(rob: pd.DataFrame) -> go.Figure | None:
    """Cells (rows, best clean EER first) x conditions; EER % in the square, ΔEER on hover."""
    if not len(rob):
        return None
    conds = condition_order(rob)
    clean = rob[rob["condition"] == "clean"].set_index("label")["eer"].astype(float)
    cells = list(clean.sort_values(kind="stable").index) + \
        [c for c in dict.fromkeys(rob["label"]) if c not in clean.index]
    z, text, hover = [], [], []
    for cell in cells:
        zr, tr, hr = [], [], []
        for cond in conds:
            r = rob[(rob["label"] == cell) & (rob["condition"] == cond)]
            row = r.iloc[0] if len(r) else None
            e = _num(row["eer"]) if row is not None else None
            if row is None or row.get("status") != "ok" or e is None:
                why = "" if row is None else str(row.get("reason") or row.get("status"))
                zr.append(np.nan), tr.append("skip" if row is not None else ""), hr.append(f"skipped: {why}")
                continue
            d, dlo, dhi = (_num(row.get(k)) for k in ("d_eer", "d_eer_lo", "d_eer_hi"))
            lo, hi = _num(row.get("eer_lo")), _num(row.get("eer_hi"))
            zr.append(100 * e)
            tr.append(f"{100 * e:.1f}" if cond == "clean" or d is None else f"{100 * e:.1f}<br>{100 * d:+.1f}")
            ci = f" [{100 * lo:.1f}, {100 * hi:.1f}]" if lo is not None and hi is not None else ""
            dci = (f"<br>ΔEER vs clean {100 * d:+.2f} pp [{100 * dlo:.2f}, {100 * dhi:.2f}]"
                   if d is not None and dlo is not None and cond != "clean" else "")
            hr.append(f"EER {100 * e:.2f} %{ci}{dci}")
        z.append(zr), text.append(tr), hover.append(hr)
    zf = np.asarray(z, float)
    top = max(50.0, float(np.nanmax(zf)) if np.isfinite(zf).any() else 50.0)
    fig = go.Figure(go.Heatmap(z=zf, x=conds, y=cells, text=text, texttemplate="%{text}", customdata=hover,
                               colorscale="RdYlGn_r", zmin=0, zmax=top, colorbar=dict(title="EER %"),
                               hovertemplate="%{y}<br>%{x}: %{customdata}<extra></extra>"))
    fig.update_layout(template=TEMPLATE, height=170 + 30 * len(cells), margin=dict(l=10, r=10, t=30, b=40),
                      xaxis=dict(side="top", type="category"))
    fig.update_yaxes(autorange="reversed", automargin=True, type="category")
    return fig


def robustness_section(t: pd.DataFrame, rob: pd.DataFrame | None, figure_div) -> str:
    cap = ('<p class="caption">Every cell scored on each eval set after a channel condition was applied to '
           "its eval audio (codecs, telephone band, noise, reverberation …; <code>evaluation.conditions</code>). "
           "The square shows the EER in % and, below it, ΔEER against the same cell on clean audio in "
           "percentage points (paired bootstrap on the same clips; hover for both CIs). Rows are sorted by "
           "clean EER. Training and dev never see a condition unless a view asks for it. "
           "The full table is <code>robustness.csv</code>.</p>")
    if rob is None or not len(rob):
        return cap + ('<p class="note">No conditions configured (<code>evaluation.conditions</code>), '
                      "so only clean audio was scored.</p>")
    rob = with_cell_labels(rob, t)
    out = [cap]
    skipped = rob[rob["status"] != "ok"]
    if len(skipped):
        out.append(f'<p class="note">{len(skipped)} cell × condition result(s) were skipped (recorded, '
                   "not fatal): " + "; ".join(sorted({_esc(r) for r in skipped["reason"].astype(str)}))[:2000]
                   + "</p>")
    for ds, g in rob.groupby("eval_dataset", sort=False):
        out.append(f"<h3>eval: {_esc(ds)}</h3>")
        fig = robustness_heatmap(g)
        out.append(figure_div(fig, f"fig-robustness-{_esc(ds)}") if fig is not None
                   else '<p class="note">No results.</p>')
    return "\n".join(out)


# ---------------------------------------------------------------- errors
def overlay_link(overlay: str, html_path: str | None) -> tuple[str, str]:
    """(href relative to the summary page, the command that renders the overlay)."""
    base = os.path.dirname(html_path) if html_path else "results/ablations"
    return os.path.relpath(overlay, base or "."), f"snakemake --cores 1 {overlay}"


def errors_section(t: pd.DataFrame, errors: pd.DataFrame | None, html_path: str | None = None,
                   per_cell: int = 6) -> str:
    cap = ('<p class="caption">Per cell and eval set, the clips it got most confidently wrong: misses '
           "(spoofs with the lowest calibrated P(spoof)) and false alarms (bona fide clips with the highest), "
           "under clean audio and each condition; threshold and calibration from dev. Each clip links to its "
           "overlay (log-mel spectrogram, P(spoof) per window, band occlusion), which the "
           "<code>overlay_clip</code> rule renders on demand: run the command in the link's tooltip first "
           "(shown below each table). Full lists: <code>{run_dir}/errors/{eval set}/errors.csv</code>; "
           "per-attack and per-speaker EER: <code>groups.csv</code> beside it.</p>")
    if errors is None or not len(errors):
        return cap + '<p class="note">No error lists (the robustness_cell rule has not run, or no clip was wrong).</p>'
    out = [cap]
    order = {k: i for i, k in enumerate(t.sort_values(["eval_dataset", "eer"]).apply(
        lambda r: (r["eval_dataset"], "/".join(str(r[a]) for a in RUN_AXES)), axis=1))}
    groups = sorted(errors.groupby(["eval_dataset", "cell"], sort=False),
                    key=lambda kv: order.get(kv[0], len(order)))
    for (ds, cell), g in groups:
        g = g.sort_values(["margin"], ascending=False).head(per_cell)
        rows = []
        cmd = ""
        for _, r in g.iterrows():
            href, cmd = overlay_link(str(r["overlay"]), html_path)
            rows.append(
                f'<tr><td class="t"><a href="{_esc(href)}" title="{_esc(cmd)}">{_esc(r["utt_id"])}</a></td>'
                f'<td class="t">{_esc(r["kind"])}</td><td class="t">{_esc(r["condition"])}</td>'
                f'<td class="t">{_esc(r["attack"])}</td><td class="t">{_esc(r["speaker"])}</td>'
                f'<td>{float(r["score"]):.3f}</td><td>{float(r["p_spoof"]):.3f}</td></tr>')
        n_miss, n_fa = int((g["kind"] == "miss").sum()), int((g["kind"] == "false_alarm").sum())
        out.append(f"<details><summary><code>{_esc(cell)}</code> on {_esc(ds)}: top {len(g)} "
                   f"({n_miss} misses, {n_fa} false alarms)</summary>"
                   '<table><thead><tr><th class="t">clip (overlay)</th><th class="t">error</th>'
                   '<th class="t">condition</th><th class="t">attack</th><th class="t">speaker</th><th>score</th>'
                   "<th>P(spoof)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
                   f'<p class="caption">Render an overlay: <code>{_esc(cmd)}</code> (that clip\'s path).</p>'
                   "</details>")
    return "\n".join(out)


# ---------------------------------------------------------------- energy
def energy_figure(t: pd.DataFrame) -> go.Figure | None:
    col = "energy_kwh_per_1k_detections"
    if col not in t:
        return None
    d = t.dropna(subset=[col, "eer"])
    if not len(d):
        return None
    fig = go.Figure()
    for ds, g in d.groupby("eval_dataset", sort=False):
        y = g["eer"].to_numpy(float) * 100
        lo, hi = g["eer_lo"].to_numpy(float) * 100, g["eer_hi"].to_numpy(float) * 100
        x = g[col].to_numpy(float) * 1000  # Wh
        fig.add_trace(go.Scatter(
            x=x.tolist(), y=y.tolist(), mode="markers", name=str(ds), text=list(g["label"]), marker=dict(size=11),
            error_y=dict(type="data", symmetric=False, array=np.nan_to_num(hi - y).tolist(),
                         arrayminus=np.nan_to_num(y - lo).tolist()),
            hovertemplate="%{text}<br>%{x:.3g} Wh per 1,000 detections<br>EER %{y:.2f} %<extra>" + str(ds)
                          + "</extra>"))
    fig.update_layout(template=TEMPLATE, height=420, margin=dict(l=10, r=10, t=30, b=40),
                      xaxis=dict(title="energy per 1,000 detections (Wh, log scale; feature extraction + scoring)",
                                 type="log"),
                      yaxis=dict(title="eval EER (%)"), legend_title_text="eval dataset")
    return fig


def energy_section(t: pd.DataFrame, figure_div) -> str:
    methods = sorted({str(m) for m in t.get("energy_method", pd.Series(dtype=str)).dropna()})
    cap = ('<p class="caption">Eval EER (bar: 95% CI) against the energy of 1,000 detections: extracting the '
           "eval clips' features plus scoring them with the cell, per clip, times 1,000 (CodeCarbon, offline; "
           "columns <code>energy_*</code> and <code>co2_*</code> of summary.csv also give each cell's training "
           "energy). Down and to the left is better. Method: " + (_esc("; ".join(methods)) or "–") + ".</p>")
    fig = energy_figure(t)
    if fig is None:
        return cap + '<p class="note">Energy unavailable for every cell (see <code>energy_method</code>).</p>'
    return cap + figure_div(fig, "fig-energy")
