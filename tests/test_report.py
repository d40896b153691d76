"""The ablation summary page and model-card tables, on small synthetic run directories.

Every run dir holds real ``scaa.workflow.evaluate.evaluate`` output computed from synthetic scores,
so the page is built from the same files the workflow writes.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from plotly.offline import get_plotlyjs

from scaa.workflow.evaluate import evaluate_files
from scaa.plan.grid import AXES, Cell

N_BOOT = 60
ATTACKS = ("A07", "A08", "A09")
REF = dict(train_dataset="demo", encoder="spectral", view="none", loss="ce", head="logreg", freeze="frozen", seed=0)
# (changes vs the reference, separation per attack): two single-factor cells, one two-factor cell
CELLS = [
    ({}, (1.0, 2.0, 0.5)),
    ({"loss": "scl"}, (1.6, 2.4, 1.0)),
    ({"seed": 1}, (1.0, 2.1, 0.4)),
    ({"encoder": "wav2vec2", "loss": "scl"}, (2.5, 3.0, 2.0)),
]
EVAL = ("demo", "itw")


def _frame(split: str, seps, seed: int, n_bf: int = 40, n_per_attack: int = 30) -> pd.DataFrame:
    """Scores for one split: bona fide ~ N(0,1), attack k ~ N(seps[k], 1); shared utt_ids across cells."""
    rng = np.random.default_rng(seed)
    rows = [(f"{split}_bf{i}", 0, "-", f"spk{i % 5}", rng.normal()) for i in range(n_bf)]
    for a, sep in zip(ATTACKS, seps):
        rows += [(f"{split}_{a}_{i}", 1, a, f"spk{i % 5}", rng.normal(sep)) for i in range(n_per_attack)]
    df = pd.DataFrame(rows, columns=["utt_id", "label", "attack", "speaker", "score"])
    return df.assign(split=split)


def write_metrics(root: Path, cells: list[dict], reference: dict) -> None:
    """What the evaluate rule writes per cell and eval set: metrics + the paired bootstrap
    against ``reference``'s scores (given as the cell whose run dir is the reference)."""
    ref_run = root / Cell(**reference).run_dir
    for spec in cells:
        run = root / Cell(**spec).run_dir
        for ds in EVAL:
            evaluate_files(str(run / "dev_scores.parquet"), str(run / "scores" / f"{ds}.parquet"),
                           str(run / "metrics" / f"{ds}.json"), EVALUATION, 0,
                           reference_path=str(ref_run / "scores" / f"{ds}.parquet"))


def make_runs(root: Path) -> tuple[list[dict], list[str], list[str]]:
    """Write run dirs (scores, dev scores, metrics, config) and skip CSVs under root; return cells and skips."""
    cells = []
    for k, (change, seps) in enumerate(CELLS):
        spec = {**REF, **change}
        run = root / Cell(**spec).run_dir
        (run / "scores").mkdir(parents=True)
        (run / "metrics").mkdir()
        dev = _frame("dev", seps, seed=100 + k)
        dev.to_parquet(run / "dev_scores.parquet")
        for j, ds in enumerate(EVAL):
            test = _frame("eval", [s * (1 - 0.4 * j) for s in seps], seed=200 + 10 * k + j)
            test.to_parquet(run / "scores" / f"{ds}.parquet")
        info = {"train_clips": 100, "train_seconds": 1.5, "parameters": {"total": 16 + k, "trainable": 16}}
        (run / "config.yaml").write_text(yaml.safe_dump({"cell": spec, "training_info": info}))
        cells.append(spec)
    write_metrics(root, cells, REF)
    man = root / "results" / "manifest"
    man.mkdir(parents=True)
    pd.DataFrame({"utt_id": ["x1", "x2", "x3"], "path": ["a", "b", "c"], "split": ["train"] * 3,
                  "reason": ["unreadable", "unreadable", "too_long"],
                  "detail": ["Error: bad header: at byte 4", "eof", "700.0 s > 600 s"]}
                 ).to_csv(man / "demo.rejects.csv", index=False)
    pd.DataFrame(columns=["utt_id", "path", "split", "reason", "detail"]).to_csv(man / "itw.rejects.csv", index=False)
    feat = root / "results" / "features" / "demo" / "spectral" / "none" / "frozen"
    feat.mkdir(parents=True)
    pd.DataFrame({"utt_id": ["y1", "y2"], "path": ["d", "e"], "split": ["dev", "dev"],
                  "reason": ["silent", "silent"], "detail": ["", ""]}).to_csv(feat / "shard1-of-2.skips.csv",
                                                                             index=False)
    rejects = [str(man / "demo.rejects.csv"), str(man / "itw.rejects.csv")]
    return cells, rejects, [str(feat / "shard1-of-2.skips.csv")]


SKIPPED = [{**REF, "freeze": "top1", "reason": "handcrafted encoder has no layers to fine-tune"}]
EVALUATION = {"n_boot": N_BOOT, "calibration": "platt", "group_by_speaker": False, "reference": REF}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Run summary.build once (chdir to a tmp root, as the workflow runs from its root)."""
    root = tmp_path_factory.mktemp("report")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    cells, rejects, skips = make_runs(root)
    from scaa.report.summary import build

    table = build(cells, SKIPPED, list(EVAL), rejects, skips, EVALUATION, 0,
                  "results/ablations/summary.csv", "results/ablations/summary.html")
    page = (root / "results/ablations/summary.html").read_text()
    yield root, table, page
    mp.undo()


def _div_script(page: str, div_id: str) -> str:
    """The newPlot script that belongs to one figure div."""
    start = page.index(f'id="{div_id}"')
    return page[start:page.index("</script>", start)]


def test_page_is_self_contained(built):
    _, _, page = built
    bundle_head = get_plotlyjs()[:200]
    assert page.count(bundle_head) == 1                  # plotly.js inlined exactly once
    assert page.count("Plotly.newPlot(") >= 5            # ...and used by several figures
    external_script = re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    external_link = re.search(r"<link[^>]*href\s*=\s*[\"']https?:", page, re.I)
    assert external_script is None and external_link is None
    outside_bundle = page.replace(get_plotlyjs(), "")   # the bundle itself names URLs it never fetches here
    cdn = "cdn.plot.ly" in outside_bundle or "http://" in outside_bundle or "https://" in outside_bundle
    assert not cdn


def test_results_table_rows_and_reference(built):
    _, table, page = built
    m = re.search(r'<table class="sortable" id="results-table">(.*?)</table>', page, re.S)
    assert m, "results table missing"
    body = m.group(1).split("<tbody>")[1]
    assert body.count("<tr") == len(table) == len(CELLS) * len(EVAL)
    assert body.count('<tr class=ref>') == len(EVAL)
    assert "★" in body
    for head in ("EER % [95% CI]", "dev EER %", "ROC-AUC", "AP", "ECE", "minDCF", "actDCF", "Cllr",
                 "ΔEER pp [95% CI]", "sign flip"):
        assert f">{head}</th>" in m.group(1)
    # numbers in the table come from the metrics files (the EER of the first row, as a %)
    r0 = table.iloc[0]
    res = json.loads((Path(r0["run_dir"]) / "metrics" / f"{r0['eval_dataset']}.json").read_text())
    assert f"{100 * res['metrics']['eer']['value']:.2f}" in body
    assert "addEventListener('click'" in page          # sortable


def test_figure_divs_present(built):
    _, _, page = built
    for ds in EVAL:
        for prefix in ("rocdet", "reliability", "attacks"):
            assert f'id="fig-{prefix}-{ds}"' in page, (prefix, ds)
    assert "ECE 0." in _div_script(page, "fig-reliability-demo")
    for a in ATTACKS:
        assert a in _div_script(page, "fig-attacks-itw")
    assert "run the benchmark rule" in page            # no benchmark frame given


def test_factor_chart_holds_exactly_the_single_factor_cells(built):
    _, table, page = built
    assert "d_eer" in table, "summary.build produced no paired ΔEER columns"
    for ds in EVAL:
        script = _div_script(page, f"fig-factor-{ds}")
        labels = set(re.findall(r'"(\w+: [\w.]+ \(vs [\w.]+\))"', script))
        assert labels == {"loss: scl (vs ce)", "seed: 1 (vs 0)"}
        assert "wav2vec2" not in script                 # two axes changed: not a single-factor effect
        # the ΔEER drawn is the table's paired value (pp)
        row = table[(table["eval_dataset"] == ds) & (table["loss"] == "scl") & (table["encoder"] == "spectral")]
        x = json.loads(re.search(r'"name":"loss".*?"x":(\[[^\]]*\])', script, re.S).group(1))
        assert x == pytest.approx([100 * float(row["d_eer"].iloc[0])])


def test_skipped_cells_and_clips(built):
    _, _, page = built
    assert "handcrafted encoder has no layers to fine-tune" in page
    clips = re.search(r'id="skipped-clips">(.*?)</table>', page, re.S).group(1)
    assert ">unreadable<" in clips and ">too_long<" in clips and ">silent<" in clips
    # details are kept whole, colons included, beside the reason they explain
    assert "Error: bad header: at byte 4 | eof" in clips and "700.0 s &gt; 600 s" in clips
    assert "total, all stages" in clips and ">5<" in clips        # 3 manifest + 2 features
    assert "fitted on its dev split only" in page
    assert f"<dd>{N_BOOT}</dd>" in page


def test_no_single_factor_cells_is_said(tmp_path, built):
    from scaa.report.html import write_html

    _, table, _ = built
    keep = table[(table["loss"] == "ce") & (table["seed"] == 0)].copy()   # reference only
    out = tmp_path / "p.html"
    write_html(keep, pd.DataFrame(), pd.DataFrame(), EVALUATION, str(out))
    page = out.read_text()
    assert "no cell differs from the reference in exactly one axis" in page
    assert 'id="fig-factor-' not in page
    assert "Every cell in the grid ran" in page and "No clip was skipped" in page


def test_benchmark_join_and_latency_chart(tmp_path, built):
    from scaa.report.html import write_html

    _, table, _ = built
    cells = table[list(AXES)].drop_duplicates()
    bench = cells.assign(latency_p50_ms=np.arange(len(cells)) * 2.0 + 1.0, latency_p95_ms=9.0, rtf=0.01,
                         peak_rss_mb=300.0)
    bench["seed"] = bench["seed"].astype(str)              # CSV round trips may change dtypes
    out = tmp_path / "b.html"
    write_html(table, pd.DataFrame(), pd.DataFrame(), EVALUATION, str(out), benchmark=bench)
    page = out.read_text()
    script = _div_script(page, "fig-latency")
    assert "run the benchmark rule" not in page
    assert ">p50 ms</th>" in page
    x = sorted(v for tr in re.findall(r'"x":(\[[^\]]*\])', script) for v in json.loads(tr))
    assert x == sorted(list(bench["latency_p50_ms"]) * len(EVAL))


def test_missing_metrics_file_is_listed_not_fatal(tmp_path, built):
    from scaa.report.html import write_html

    _, table, _ = built
    t = table.copy()
    t.loc[t.index[0], "run_dir"] = str(tmp_path / "nowhere")
    out = tmp_path / "m.html"
    write_html(t, pd.DataFrame(), pd.DataFrame(), EVALUATION, str(out))
    assert "Missing metrics files" in out.read_text()


def test_model_card_tables(built):
    root, table, _ = built
    proc = subprocess.run([sys.executable, "-m", "scaa.report.model_card", "results/ablations/summary.csv"],
                          cwd=root, capture_output=True, text=True, check=True)
    md = proc.stdout
    assert md.count("| ") > 10 and "|---" in md
    best = table.sort_values("dev_eer").iloc[0]
    assert f"{100 * best['dev_eer']:.2f}" in md
    for a in ATTACKS:
        assert f"| {a} |" in md
    res = json.loads((Path(root) / best["run_dir"] / "metrics" / "itw.json").read_text())
    assert f"{100 * res['per_attack_eer']['A08']['value']:.2f}" in md
    assert "unreadable" in md and "silent" in md
    assert "handcrafted encoder has no layers" in md


def test_seed_independent_cell_is_listed_and_stands_in_as_reference(tmp_path, built):
    import shutil

    from scaa.report.summary import build

    root, table, _ = built
    cells = table[list(AXES)].drop_duplicates().to_dict("records")
    once = Cell(**{**REF, "loss": "scl"})
    ref = {**REF, "loss": "scl", "seed": 1}  # only seed 0 ran: it stands for seed 1
    shutil.copytree(Path(root) / "results", tmp_path / "results")
    write_metrics(tmp_path, cells, {**ref, "seed": 0})  # the evaluate rules of a grid with this reference
    mp = pytest.MonkeyPatch()
    mp.chdir(tmp_path)
    try:
        t = build(cells, [], list(EVAL), [], [], {**EVALUATION, "reference": ref}, 0,
                  str(tmp_path / "s.csv"), str(tmp_path / "s.html"), seed_groups={once.run_dir: [0, 1]})
    finally:
        mp.undo()
    row = (t["run_dir"] == once.run_dir)
    assert (t.loc[row, "seeds"] == "0,1").all() and (t.loc[~row, "seeds"] == t.loc[~row, "seed"].astype(str)).all()
    assert t.loc[row, "is_reference"].all() and not t.loc[~row, "is_reference"].any()
    assert (t.loc[row, "d_eer"] == 0).all()  # the reference against itself
    page = (tmp_path / "s.html").read_text()
    assert "seed-independent: trained once, stands for seeds 0,1" in page
    assert "demo/spectral/none/scl/logreg/frozen" in page
