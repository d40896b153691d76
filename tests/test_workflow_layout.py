"""The workflow's shape a maintainer relies on: rules only wire files, one script per rule,
one home per fact (run-directory template, sample rate, thread cap, cell axes)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = sorted((ROOT / "rules").glob("*.smk"))


def _rules() -> dict[str, str]:
    """rule name -> its body text, over every rules/*.smk."""
    out = {}
    for path in RULES:
        text = path.read_text()
        starts = [(m.start(), m.group(2)) for m in re.finditer(r"^(rule|checkpoint) (\w+):", text, re.M)]
        for (start, name), (end, _) in zip(starts, starts[1:] + [(len(text), None)]):
            out[name] = text[start:end]
    return out


def test_each_rule_has_its_own_script_and_no_inline_logic():
    scripts: dict[str, str] = {}
    for name, body in _rules().items():
        assert not re.search(r"^\s+run:", body, re.M), f"rule {name} has inline run: logic"
        for script in re.findall(r'"\.\./workflow/scripts/([\w.]+)"', body):
            assert script not in scripts, f"{script} serves rules {scripts[script]} and {name}"
            scripts[script] = name
    on_disk = {p.name for p in (ROOT / "workflow" / "scripts").glob("*.py")}
    assert on_disk == set(scripts), f"scripts without a rule: {on_disk - set(scripts)}"


def test_scoring_and_paired_bootstrap_belong_to_the_evaluate_stage():
    text = (ROOT / "rules" / "evaluate.smk").read_text()
    assert "rule score_dataset:" in text and "rule evaluate_cell:" in text
    assert "unpack(reference_scores)" in text
    assert "paired_comparison" not in (ROOT / "scaa" / "report" / "summary.py").read_text()


def test_summary_reads_only_declared_inputs():
    """dev EER comes from each cell's metrics, not from dev_scores.parquet (not an input)."""
    for module in ("scaa/report/table.py", "scaa/report/summary.py"):
        assert "dev_scores.parquet" not in (ROOT / module).read_text(), module
    summary = _rules()["summary"]
    for declared in ("all_metrics()", 'all_run_files("config.yaml")', 'all_fusion_files("fusion.json")'):
        assert declared in summary


def test_one_home_per_fact():
    offenders = []
    for path in sorted((ROOT / "scaa").rglob("*.py")):
        text = path.read_text()
        rel = path.relative_to(ROOT).as_posix()
        if rel != "scaa/dsp/audio.py" and re.search(r"\b16_?000\b(?! *<=)", text.replace("bit_rate: int = 16000", "")):
            offenders.append(f"{rel}: a sample rate other than scaa.dsp.audio.SAMPLE_RATE")
        if rel != "scaa/plan/grid.py" and ("{freeze}/seed" in text or "\"results/runs/" in text):
            offenders.append(f"{rel}: the run-directory template outside scaa.plan.grid")
        if rel != "scaa/threads.py" and ("threadpool_limits(" in text or "OMP_NUM_THREADS" in text):
            offenders.append(f"{rel}: a thread cap outside scaa.threads")
        if rel != "scaa/plan/grid.py" and re.search(r'\("train_dataset", "encoder", "view"', text):
            offenders.append(f"{rel}: the cell axes outside scaa.plan.grid")
        if re.search(r"^\s*from scaa(\.\w+)* import \w+ as [A-Z]\b", text, re.M):
            offenders.append(f"{rel}: a single-letter module alias")
    for path in RULES:
        if "results/runs/{train_dataset}" in path.read_text():
            offenders.append(f"{path.name}: spells the run directory instead of using RUN")
    assert not offenders, "\n".join(offenders)
