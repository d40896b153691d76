"""The ablation summary as one self-contained HTML page (works offline).

plotly.js is inlined once in <head>; every figure is a div plus a short Plotly.newPlot
call. The results table sorts on a header click (a few lines of vanilla JS). Per-cell
curves (ROC, DET, reliability, per-attack EER) come from each row's
``{run_dir}/metrics/{eval_dataset}.json``; a missing file is listed, not fatal.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd
from plotly.offline import get_plotlyjs

from scaa.plan.grid import AXES
from scaa.report import figures
from scaa.report.html_common import esc as _esc, figure_div, num as _num

REMINDER = ("Calibration and the decision threshold of every cell are fitted on its dev split only and "
            "applied unchanged to eval; no eval clip chooses anything.")

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1400px;
     padding:0 24px 60px;color:#222;line-height:1.45}
h1{margin:24px 0 4px} h2{margin-top:40px;border-bottom:2px solid #ddd;padding-bottom:4px} h3{margin:22px 0 6px}
p.caption{color:#555;margin:4px 0 10px;font-size:.93em;max-width:1000px}
p.note{background:#fff7e0;border-left:4px solid #e0a800;padding:8px 12px}
nav a{margin-right:14px} .meta{color:#666;font-size:.9em}
table{border-collapse:collapse;font-size:.82em;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 5px;text-align:right;white-space:nowrap}
th{background:#f3f5f8;position:sticky;top:0;white-space:normal;vertical-align:bottom}
td small{color:#666}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[data-dir=asc]::after{content:" \\25B2"} table.sortable th[data-dir=desc]::after{content:" \\25BC"}
td.t,th.t{text-align:left} tr.ref td{background:#e8f4ff;font-weight:600}
tr.total td{font-weight:700;background:#f6f6f6}
.wide{overflow-x:auto;max-height:80vh;overflow-y:auto}
dl.settings{display:grid;grid-template-columns:max-content auto;gap:4px 16px} dl.settings dt{font-weight:600}
"""

SORT_JS = """
(function(){
  function key(td){var v=td.getAttribute('data-v'); if(v===null||v==='')return null;
    var n=Number(v); return isNaN(n)?v.toLowerCase():n;}
  function cmp(x,y){if(typeof x==='number'&&typeof y==='number')return x-y;
    return String(x)<String(y)?-1:String(x)>String(y)?1:0;}
  document.querySelectorAll('table.sortable').forEach(function(t){
    var heads=t.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads,function(th,col){
      th.title=(th.title?th.title+' — ':'')+'click to sort';
      th.addEventListener('click',function(){
        var asc=th.getAttribute('data-dir')!=='asc', tb=t.tBodies[0];
        Array.prototype.forEach.call(heads,function(h){h.removeAttribute('data-dir');});
        th.setAttribute('data-dir',asc?'asc':'desc');
        var rows=Array.prototype.slice.call(tb.rows);
        rows.sort(function(a,b){var x=key(a.cells[col]),y=key(b.cells[col]);
          if(x===null&&y===null)return 0; if(x===null)return 1; if(y===null)return -1;
          return asc?cmp(x,y):cmp(y,x);});
        rows.forEach(function(r){tb.appendChild(r);});
      });
    });
  });
})();
"""

# header, kind, column(s), tooltip
METRIC_COLUMNS = [
    ("EER % [95% CI]", "pct_ci", "eer", "equal error rate on eval, bootstrap 95% CI"),
    ("dev EER %", "pct", "dev_eer", "EER on the cell's own dev split (what selection may use)"),
    ("ROC-AUC", "num", "roc_auc", "area under the ROC curve"),
    ("AP", "num", "average_precision", "average precision, spoof = positive"),
    ("ECE", "num", "ece", "expected calibration error of dev-calibrated P(spoof), 15 bins"),
    ("minDCF", "num", "min_dcf", "minimum normalised DCF (P_spoof 0.05, C_miss 1, C_fa 10)"),
    ("actDCF", "num", "act_dcf", "DCF at the dev-chosen calibrated threshold"),
    ("Cllr", "num", "cllr", "log-likelihood-ratio cost of calibrated scores"),
    ("ΔEER pp [95% CI]", "pp_ci", "d_eer", "paired bootstrap: this cell's EER minus the reference's"),
    ("sign flip", "num", "d_eer_sign_flip", "share of resamples where ΔEER has the other sign (small = robust)"),
]


# ---------------------------------------------------------------- small helpers
def _slug(s) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(s)).strip("-") or "x"


def _td(text: str, value=None, cls: str = "") -> str:
    v = "" if value is None else html.escape(str(value), quote=True)
    c = f' class="{cls}"' if cls else ""
    return f'<td{c} data-v="{v}">{text}</td>'


def _fmt_ci(v, lo, hi, scale: float, digits: int) -> str:
    if v is None:
        return "–"
    s = f"{v * scale:.{digits}f}"
    if lo is not None and hi is not None:
        s += f"<br><small>[{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]</small>"
    return s


def load_results(table: pd.DataFrame) -> tuple[dict, list[str]]:
    """metrics json per table row (by index), and the paths that were missing or unreadable."""
    results, missing = {}, []
    for i, row in table.iterrows():
        p = Path(str(row.get("run_dir", ""))) / "metrics" / f"{row['eval_dataset']}.json"
        try:
            results[i] = json.loads(p.read_text())
        except (OSError, ValueError) as err:
            results[i] = None
            missing.append(f"{p} ({type(err).__name__})")
    return results, missing


# ---------------------------------------------------------------- sections
def _eval_counts(row, res: dict | None) -> tuple[float | None, float | None]:
    """Eval clip counts from the table, else from the metrics json's ``n.test``."""
    nb, ns = _num(row.get("n_bonafide")), _num(row.get("n_spoof"))
    if (nb is None or ns is None) and res:
        test = (res.get("n") or {}).get("test") or {}
        nb, ns = _num(test.get("bonafide")), _num(test.get("spoof"))
    return nb, ns


def results_table(t: pd.DataFrame, ref: pd.Series, results: dict | None = None) -> str:
    axes = [a for a in AXES if a in t]
    lat = figures.latency_column(t)
    heads = [f'<th class="t">{a}</th>' for a in axes] + ['<th class="t">eval dataset</th>']
    heads += [f'<th title="{_esc(tip)}">{_esc(h)}</th>' for h, _, c, tip in METRIC_COLUMNS
              if c in t or c.startswith("d_")]
    heads += ['<th title="eval clips: bona fide / spoof">n bf / spoof</th>']
    if lat:
        heads += ['<th title="single-clip latency p50 (benchmark rule)">p50 ms</th>']
    body = []
    for i, row in t.iterrows():
        is_ref = bool(ref.get(i, False))
        cells = []
        for j, a in enumerate(axes):
            mark = "★ " if is_ref and j == 0 else ""
            cells.append(_td(mark + _esc(row[a]), row[a], "t"))
        cells.append(_td(_esc(row["eval_dataset"]), row["eval_dataset"], "t"))
        for _, kind, c, _tip in METRIC_COLUMNS:
            if c not in t and not c.startswith("d_"):
                continue
            v = _num(row.get(c))
            if is_ref and c.startswith("d_"):
                cells.append(_td("reference", None))
            elif kind == "pct_ci":
                cells.append(_td(_fmt_ci(v, _num(row.get(f"{c}_lo")), _num(row.get(f"{c}_hi")), 100, 2), v))
            elif kind == "pp_ci":
                cells.append(_td(_fmt_ci(v, _num(row.get(f"{c}_lo")), _num(row.get(f"{c}_hi")), 100, 2), v))
            elif kind == "pct":
                cells.append(_td("–" if v is None else f"{100 * v:.2f}", v))
            else:
                cells.append(_td("–" if v is None else f"{v:.3f}", v))
        nb, ns = _eval_counts(row, (results or {}).get(i))
        cells.append(_td("–" if nb is None else f"{nb:.0f} / {ns:.0f}" if ns is not None else f"{nb:.0f} / –",
                         None if nb is None or ns is None else nb + ns))
        if lat:
            v = _num(row.get(lat))
            cells.append(_td("–" if v is None else f"{v:.2f}", v))
        body.append(f'<tr{" class=ref" if is_ref else ""}>' + "".join(cells) + "</tr>")
    return ('<div class="wide"><table class="sortable" id="results-table"><thead><tr>' + "".join(heads)
            + "</tr></thead><tbody>" + "\n".join(body) + "</tbody></table></div>")


def factor_section(t: pd.DataFrame, ref: pd.Series) -> str:
    out = ['<p class="caption">Each point is one cell that differs from the reference cell in exactly one axis '
           "(encoder, view, loss, head, freeze, seed or training set). The point is its paired ΔEER "
           "(its EER minus the reference's on the same eval clips, in percentage points) and the bar its "
           "95% paired-bootstrap CI. Left of the dashed line = fewer errors than the reference; a bar that "
           "crosses zero means this data cannot tell the two apart. Seed rows show how much of any effect "
           "is noise.</p>"]
    if not ref.any():
        return "\n".join(out + ['<p class="note">No reference cell is in the table (set '
                                "<code>evaluation.reference</code> to a cell that ran), so there are no "
                                "paired comparisons.</p>"])
    rows = figures.single_factor_rows(t, ref)
    for ds in t["eval_dataset"].unique():
        r = rows[rows["eval_dataset"] == ds]
        out.append(f"<h3>eval: {_esc(ds)}</h3>")
        if not len(r):
            has_ref = bool(ref[t.index[t["eval_dataset"] == ds]].any())
            why = ("no cell differs from the reference in exactly one axis" if has_ref
                   else "the reference cell has no result on this dataset")
            out.append(f'<p class="note">No single-factor comparison on {_esc(ds)}: {why}.</p>')
            continue
        fig = figures.factor_effect_figure(r)
        if fig is None:
            out.append(f'<p class="note">{len(r)} single-factor cell(s) on {_esc(ds)}, but no paired ΔEER '
                       "in the table (the paired bootstrap did not run).</p>")
        else:
            out.append(figure_div(fig, f"fig-factor-{_slug(ds)}"))
    return "\n".join(out)


def per_dataset_figures(t: pd.DataFrame, results: dict, builder, prefix: str, empty: str) -> str:
    if not len(t) or "eval_dataset" not in t:
        return "<p class='note'>No results.</p>"
    out = []
    for ds, g in t.groupby("eval_dataset", sort=False):
        out.append(f"<h3>eval: {_esc(ds)}</h3>")
        fig = builder(g.sort_values("label", kind="stable"), results)
        out.append(figure_div(fig, f"fig-{prefix}-{_slug(ds)}") if fig is not None
                   else f'<p class="note">{_esc(empty)}</p>')
    return "\n".join(out)


def latency_section(t: pd.DataFrame, benchmark: pd.DataFrame | None) -> str:
    cap = ('<p class="caption">Eval EER (bar: 95% CI) against single-clip latency (p50, one thread, '
           "load excluded). Down and to the left is better; a cell is worth its cost only if no cell "
           "sits both lower and further left.</p>")
    if benchmark is None or not len(benchmark):
        return cap + ('<p class="note">No benchmark results yet: run the benchmark rule '
                      "(<code>snakemake benchmark_all</code>, which writes "
                      "<code>results/benchmark/summary.csv</code>) and rebuild this page.</p>")
    fig = figures.latency_figure(t)
    if fig is None:
        return cap + '<p class="note">The benchmark results match none of the cells in this table.</p>'
    return cap + figure_div(fig, "fig-latency")


def simple_table(df: pd.DataFrame, total_rows: list[list[str]] | None = None, table_id: str = "") -> str:
    heads = "".join(f'<th class="t">{_esc(c)}</th>' for c in df.columns)
    body = []
    for _, row in df.iterrows():
        body.append("<tr>" + "".join(_td(_esc(v), v, "t" if isinstance(v, str) else "") for v in row) + "</tr>")
    tail = "".join('<tr class="total">' + "".join(f'<td class="t">{_esc(v)}</td>' for v in r[:-1])
                   + f"<td>{_esc(r[-1])}</td></tr>"
                   for r in total_rows or [])
    tid = f' id="{table_id}"' if table_id else ""
    return (f'<div class="wide"><table class="sortable"{tid}><thead><tr>{heads}</tr></thead><tbody>'
            + "\n".join(body) + f"</tbody><tfoot>{tail}</tfoot></table></div>")


def skipped_cells_section(skipped_cells: pd.DataFrame) -> str:
    if skipped_cells is None or not len(skipped_cells):
        return "<p>Every cell in the grid ran.</p>"
    cols = [c for c in AXES if c in skipped_cells] + [c for c in skipped_cells if c not in AXES]
    return (f"<p>{len(skipped_cells)} cell(s) of the grid could not run; the reason is the grid's own "
            "check (<code>scaa.plan.grid.why_not</code>).</p>" + simple_table(skipped_cells[cols], table_id="skipped-cells"))


def seed_independent_section(table: pd.DataFrame) -> str:
    """Cells trained once for the whole seed axis, and the seeds each stands for."""
    if "seeds" not in table or not len(table):
        return ""
    once = table[table["seeds"].astype(str).str.contains(",")]
    once = once.drop_duplicates([c for c in AXES if c in once])
    if not len(once):
        return ""
    items = "".join(f"<li><code>{_esc('/'.join(str(r[a]) for a in AXES if a != 'seed'))}</code>: "
                    f"seed-independent: trained once, stands for seeds {_esc(r['seeds'])}</li>"
                    for _, r in once.iterrows())
    return (f"<p>{len(once)} cell(s) give the same model for every seed (their head says so, "
            "<code>Head.seed_independent</code>, or, for a fusion, every member is such a cell), so each "
            "was trained once, as the smallest seed, "
            f"and its row stands for every seed of the grid:</p><ul>{items}</ul>")


def skipped_clips_section(skipped_clips: pd.DataFrame) -> str:
    if skipped_clips is None or not len(skipped_clips) or "clips" not in skipped_clips:
        return "<p>No clip was skipped at any stage.</p>"
    df = skipped_clips.copy()
    df["clips"] = df["clips"].astype(int)
    for c in df.columns.drop("clips"):
        df[c] = df[c].fillna("").astype(str)
    width = len(df.columns)
    totals = []
    for (stage, ds), g in df.groupby(["stage", "dataset"], sort=True):
        totals.append([f"total {stage}", ds] + [""] * (width - 3) + [str(int(g["clips"].sum()))])
    totals.append(["total, all stages", ""] + [""] * (width - 3) + [str(int(df["clips"].sum()))])
    return ("<p>Clips left out, by stage (manifest: unreadable/invalid files; features: clips the encoder "
            "could not process), dataset, where (encoder/view) and reason. A clip skipped at the "
            "manifest stage never reaches the features stage.</p>"
            + simple_table(df, totals, table_id="skipped-clips"))


def settings_section(evaluation: dict, table: pd.DataFrame) -> str:
    ev = dict(evaluation or {})
    ref = ev.pop("reference", None)
    items = [("bootstrap resamples (n_boot)", ev.pop("n_boot", "default")),
             ("calibration", ev.pop("calibration", "default")),
             ("CI resampling grouped by speaker", ev.pop("group_by_speaker", False)),
             ("reference cell", "/".join(str(ref[a]) for a in AXES if a in ref) if ref else "none")]
    items += [(k, v) for k, v in ev.items()]
    items += [("rows in the table", len(table)),
              ("eval datasets", ", ".join(map(str, table["eval_dataset"].unique())) if len(table) else "–")]
    dl = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in items)
    return f'<dl class="settings">{dl}</dl><p><b>{_esc(REMINDER)}</b></p>'


# ---------------------------------------------------------------- page
SECTIONS = [("results", "Results table"), ("generalisation", "Train × test"), ("pooled", "Seed-pooled effects"), ("factors", "Factor effects"),
            ("roc-det", "ROC and DET"),
            ("reliability", "Calibration"), ("attacks", "EER per attack"), ("robustness", "Robustness"),
            ("errors", "Errors"), ("cost", "EER vs latency"), ("energy", "EER vs energy"),
            ("skipped", "Skipped cells and clips"), ("settings", "Evaluation settings")]


def overlap_note(overlap: pd.DataFrame | None) -> str:
    """A warning when vocoded training spoofs share a family with eval attacks."""
    if overlap is None or not len(overlap):
        return ""
    items = "; ".join(f"{_esc(r['eval_dataset'])} {_esc(r['attack'])} ({_esc(r['family'])}: "
                      f"generator {_esc(r['generators'])}, sets {_esc(r['resynth_sets'])})"
                      for _, r in overlap.iterrows())
    return ('<p class="note"><b>Vocoded training spoofs overlap eval attacks.</b> These eval attacks share a '
            "generator family with spoofs the study generates for training, so for cells with those sets "
            f"they are not unseen (column <code>unseen_overlap</code>): {items}.</p>")


def pooled_effects_section(effects: pd.DataFrame | None) -> str:
    cap = ('<p class="caption">Each row compares two levels of one factor over every (context, seed) that has '
           "both cells (context = the same values on all other axes). Effect = mean EER(level b) − EER(level a) "
           "in percentage points; its 95% CI comes from a bootstrap over eval clips <i>and</i> seeds. Seed SD "
           "is the standard deviation of one cell's EER across seeds (mean over the cells compared): an effect "
           "smaller than that is what one extra seed could undo. A CI that contains zero is labelled "
           f"<b>{_esc('not shown by this data')}</b>. Fusion cells are left out.</p>")
    if effects is None or not len(effects):
        return cap + '<p class="note">No factor has two levels that share a context and a seed.</p>'
    df = effects.copy()
    show = pd.DataFrame({
        "eval": df["eval_dataset"], "factor": df["factor"], "a": df["level_a"], "b": df["level_b"],
        # plain text: simple_table escapes its cells
        "effect pp [95% CI]": [("–" if _num(v) is None else f"{100 * v:.2f}"
                                + ("" if _num(lo) is None or _num(hi) is None else f" [{100 * lo:.2f}, {100 * hi:.2f}]"))
                               for v, lo, hi in zip(df["effect"], df["effect_lo"], df["effect_hi"])],
        "seed SD pp": [("–" if _num(v) is None else f"{100 * v:.2f}") for v in df["seed_sd"]],
        "SD of Δ over seeds pp": [("–" if _num(v) is None else f"{100 * v:.2f}") for v in df["diff_seed_sd"]],
        "verdict": df["verdict"], "seeds": df["n_seeds"], "contexts": df["n_contexts"],
        "note": df["note"].fillna("")})
    return cap + simple_table(show, table_id="pooled-effects")


def render(table: pd.DataFrame, skipped_cells: pd.DataFrame, skipped_clips: pd.DataFrame, evaluation: dict,
           benchmark: pd.DataFrame | None = None, title: str = "SCAA ablation summary",
           effects: pd.DataFrame | None = None, overlap: pd.DataFrame | None = None,
           robustness: pd.DataFrame | None = None, errors: pd.DataFrame | None = None,
           html_path: str | None = None, generalisation: pd.DataFrame | None = None,
           split_rules: dict | None = None) -> str:
    t = figures.with_labels(table) if len(table) else table.assign(label=[], colour=[])
    if benchmark is not None and len(benchmark) and len(t):
        t = figures.join_benchmark(t, benchmark)
    ref = figures.reference_mask(t, (evaluation or {}).get("reference"))
    if len(t):
        t.loc[ref[ref].index, "label"] = t.loc[ref[ref].index, "label"] + " ★ref"
    results, missing = load_results(t)
    s = []
    s.append(f"<h1>{_esc(title)}</h1><p class='meta'>{len(t)} rows "
             f"({t[list(figures.varying_axes(t)) or ['eval_dataset']].drop_duplicates().shape[0] if len(t) else 0}"
             f" distinct cells varying in {', '.join(figures.varying_axes(t)) or 'nothing'}). "
             f"{_esc(REMINDER)}</p>")
    s.append("<nav>" + "".join(f'<a href="#{k}">{_esc(v)}</a>' for k, v in SECTIONS) + "</nav>")
    if missing:
        s.append('<p class="note">Missing metrics files (curves for these rows are left out): '
                 + "; ".join(_esc(m) for m in missing) + "</p>")
    s.append('<h2 id="results">Results table</h2><p class="caption">One row per cell × eval dataset. '
             "EER in %, ΔEER in percentage points against the reference row (★, shaded); brackets are 95% "
             "bootstrap CIs. Lower EER, minDCF, actDCF, Cllr and ECE are better; higher ROC-AUC and AP are "
             "better. Click a header to sort; hover it for what the column means.</p>")
    s.append(overlap_note(overlap))
    s.append(results_table(t, ref, results) if len(t) else "<p class='note'>No cell produced results.</p>")
    from scaa.report import generalisation as general_html

    s.append('<h2 id="generalisation">Generalisation: training set × eval corpus</h2>')
    s.append(general_html.section(generalisation, split_rules))
    s.append('<h2 id="pooled">Seed-pooled factor effects</h2>')
    s.append(pooled_effects_section(effects))
    s.append('<h2 id="factors">Factor effects: what did each change do?</h2>')
    s.append(factor_section(t, ref) if len(t) else "<p class='note'>No results.</p>")
    s.append('<h2 id="roc-det">ROC and DET curves</h2><p class="caption">Left: ROC, higher and further left is '
             "better. Right: DET on normal-deviate (probit) axes, closer to the bottom-left corner is better; "
             "where a curve crosses the dotted diagonal is its EER. One line per cell; click a legend entry "
             "to hide it in both panels.</p>")
    s.append(per_dataset_figures(t, results, figures.roc_det_figure, "rocdet", "No ROC/DET points in the metrics."))
    s.append('<h2 id="reliability">Calibration (reliability diagrams)</h2><p class="caption">Calibrated '
             "P(spoof) (calibrator fitted on dev) binned into 15 equal-width bins: each point is a bin's "
             "mean predicted P(spoof) against the share of spoofs actually in it. On the dashed diagonal = "
             "well calibrated; below it = over-confident about spoof. ECE (legend) is the count-weighted gap."
             "</p>")
    s.append(per_dataset_figures(t, results, figures.reliability_figure, "reliability", "No reliability bins."))
    s.append('<h2 id="attacks">EER per attack</h2><p class="caption">Each spoof attack scored against all '
             "bona fide clips, EER in % printed in the square (green low, red high; 50 % is chance). "
             "The first column is the pooled EER. Attacks missing from training show whether a cell "
             "generalises.</p>")
    s.append(per_dataset_figures(t, results, figures.attack_heatmap, "attacks", "No per-attack EER in the metrics."))
    from scaa.report import robustness_html

    s.append('<h2 id="robustness">Robustness: EER under channel conditions</h2>')
    s.append(robustness_html.robustness_section(t, robustness, figure_div) if len(t) else "<p class='note'>No results.</p>")
    s.append('<h2 id="errors">Errors: the clips each cell got most confidently wrong</h2>')
    s.append(robustness_html.errors_section(t, errors, html_path) if len(t) else "<p class='note'>No results.</p>")
    s.append('<h2 id="cost">EER against latency</h2>')
    s.append(latency_section(t, benchmark) if len(t) else "<p class='note'>No results.</p>")
    s.append('<h2 id="energy">EER against energy</h2>')
    s.append(robustness_html.energy_section(t, figure_div) if len(t) else "<p class='note'>No results.</p>")
    s.append('<h2 id="skipped">Skipped cells and clips</h2><h3>Cells not run</h3>')
    s.append(skipped_cells_section(skipped_cells))
    s.append(seed_independent_section(table))
    s.append("<h3>Clips skipped</h3>")
    s.append(skipped_clips_section(skipped_clips))
    s.append('<h2 id="settings">Evaluation settings</h2>')
    s.append(settings_section(evaluation, t))
    head = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{CSS}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>")
    return head + "\n".join(s) + f"<script>{SORT_JS}</script></body></html>"


def write_html(table: pd.DataFrame, skipped_cells: pd.DataFrame, skipped_clips: pd.DataFrame,
               evaluation: dict, path: str, *, benchmark: pd.DataFrame | None = None,
               title: str = "SCAA ablation summary", effects: pd.DataFrame | None = None,
               overlap: pd.DataFrame | None = None, robustness: pd.DataFrame | None = None,
               errors: pd.DataFrame | None = None, generalisation: pd.DataFrame | None = None,
               split_rules: dict | None = None) -> None:
    """Write the page; ``benchmark`` (results/benchmark/summary.csv as a frame) adds the cost chart,
    ``robustness`` (robustness.csv) the conditions heatmap, ``errors`` (errors.csv files) the error lists,
    ``generalisation`` (scaa.report.generalisation.matrix) the train × test matrix."""
    page = render(table, skipped_cells, skipped_clips, evaluation, benchmark=benchmark, title=title,
                  effects=effects, overlap=overlap, robustness=robustness, errors=errors, html_path=path,
                  generalisation=generalisation, split_rules=split_rules)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(page, encoding="utf-8")
