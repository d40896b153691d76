"""`snakemake --report` reads as a report: every report() output names a caption file that exists."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def report_calls() -> list[tuple[Path, str]]:
    calls = []
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        calls += [(smk, m.group(0)) for m in re.finditer(r"\breport\((?:[^()]|\([^()]*\))*\)", smk.read_text())]
    return calls


def test_every_report_output_has_a_caption_file():
    calls = report_calls()
    assert calls, "no report() outputs found"
    for smk, call in calls:
        m = re.search(r'caption\s*=\s*"([^"]+)"', call)
        assert m, f"{smk.name}: {call} has no caption="
        caption = (smk.parent / m.group(1)).resolve()
        assert caption.is_file() and caption.read_text().strip(), f"{smk.name}: caption {caption} missing or empty"


def test_the_workflow_has_a_description():
    m = re.search(r'^report:\s*"([^"]+)"', (ROOT / "Snakefile").read_text(), flags=re.M)
    assert m and (ROOT / m.group(1)).is_file()
