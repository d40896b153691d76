"""The summary page renders in a real browser: headless Chromium screenshot, not blank.

Skipped (with the reason) when no Chromium binary is installed (Debian: ``apt-get install chromium``).
"""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from scaa.plan.grid import AXES

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def chromium_binary() -> str | None:
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


def chromium(page, profile, *args) -> subprocess.CompletedProcess:
    """Headless Chromium on a local file, no network, console messages on stderr."""
    cmd = [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", f"--user-data-dir={profile}", "--virtual-time-budget=8000",
           "--enable-logging=stderr", "--v=0", *args, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def screenshot(page, png, profile, width=1400, height=3000) -> subprocess.CompletedProcess:
    return chromium(page, profile, f"--screenshot={png}", f"--window-size={width},{height}")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """summary.build on synthetic runs, then the same table with a benchmark frame."""
    from test_report import EVAL, EVALUATION, SKIPPED, make_runs

    from scaa.report.html import write_html
    from scaa.report.summary import build

    root = tmp_path_factory.mktemp("shot")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    cells, rejects, skips = make_runs(root)
    table = build(cells, SKIPPED, list(EVAL), rejects, skips, EVALUATION, 0,
                  "results/ablations/summary.csv", "results/ablations/summary.html")
    bench = table[list(AXES)].drop_duplicates()
    bench = bench.assign(latency_p50_ms=np.linspace(1.0, 40.0, len(bench)), rtf=0.01, peak_rss_mb=250.0)
    out = root / "results/ablations/summary_bench.html"
    write_html(table, pd.DataFrame(SKIPPED), pd.read_csv("results/ablations/skipped_clips.csv"), EVALUATION,
               str(out), benchmark=bench)
    yield out
    mp.undo()


@pytest.mark.skipif(chromium_binary() is None, reason="no chromium binary found (Debian package: chromium)")
def test_summary_page_screenshot_is_not_blank(tmp_path, page):
    Image = pytest.importorskip("PIL.Image")
    png = tmp_path / "shot.png"
    proc = screenshot(page, png, tmp_path / "profile")
    assert png.exists(), f"no screenshot; chromium said: {proc.stderr[-2000:]}"
    img = Image.open(png).convert("RGB")
    assert img.size == (1400, 3000)
    pixels = np.asarray(img).reshape(-1, 3)
    colours = np.unique(pixels, axis=0).shape[0]
    non_white = float(np.mean(pixels.min(axis=1) < 245))
    # a blank or failed page is one or two colours; text alone gives greys; charts add many hues
    assert colours > 500, colours
    assert non_white > 0.05, non_white
    saturated = float(np.mean(pixels.max(axis=1).astype(int) - pixels.min(axis=1) > 80))
    assert saturated > 0.002, saturated                 # coloured curves / heatmap squares drawn


@pytest.mark.skipif(chromium_binary() is None, reason="no chromium binary found (Debian package: chromium)")
def test_table_sorts_on_click_and_page_has_no_js_errors(tmp_path, page):
    """Click the EER header in a real browser; rows come back in ascending EER; console is clean."""
    html = page.read_text()
    heads = re.findall(r"<th[^>]*>(.*?)</th>", re.search(r'id="results-table"><thead>(.*?)</thead>', html).group(1))
    col = heads.index("EER % [95% CI]")
    click = (f"<script>document.querySelectorAll('#results-table th')[{col}].click();"
             "console.log('SCAA-CLICKED');</script></body>")
    before = re.search(r'id="results-table">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    eers0 = [float(re.findall(r'data-v="([^"]*)"', row)[col]) for row in re.findall(r"<tr.*?</tr>", before, re.S)]
    assert eers0 != sorted(eers0)                       # so the click has something to do
    clicked = tmp_path / "click.html"
    clicked.write_text(html.replace("</body>", click))
    proc = chromium(clicked, tmp_path / "profile", "--dump-dom")
    assert "SCAA-CLICKED" in proc.stderr, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if "Uncaught" in ln or ":ERROR:CONSOLE" in ln]
    assert not errors, errors
    body = re.search(r'id="results-table">.*?<tbody>(.*?)</tbody>', proc.stdout, re.S).group(1)
    eers = [float(re.findall(r'data-v="([^"]*)"', row)[col]) for row in re.findall(r"<tr.*?</tr>", body, re.S)]
    assert sorted(eers) == eers == sorted(eers0)
