"""The page in a real browser: Debian's chromium, headless, driven by Playwright, against
`scaa serve` started as a user would start it (uvicorn on 127.0.0.1, a free port)."""
import os
import shutil
from pathlib import Path

import httpx
import pandas as pd
import pytest
from conftest import running_server

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("SCAA_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(serve_run, tmp_path_factory):
    run_dir, manifest = serve_run
    log = tmp_path_factory.mktemp("server") / "server.log"
    with running_server(["--model", run_dir, "--config", tmp_path_factory.mktemp("cfg") / "none.yaml"], ROOT, log) as base:
        yield base, pd.read_parquet(manifest).path.tolist()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        missing = f"{CHROMIUM} not installed (scripts/setup.sh installs Debian's chromium)"
        if os.environ.get("CI"):  # CI installs it: a missing browser there is a failure, not a skip
            pytest.fail(missing)
        pytest.skip(missing)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=FLAGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"])
        yield b
        b.close()


def test_page_shows_the_api_result(server, browser, tmp_path):
    base, clips = server
    clip = clips[0]
    api = httpx.post(f"{base}/v1/detect", files={"file": (Path(clip).name, open(clip, "rb"))}, timeout=60).json()
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    external = []
    page.on("request", lambda req: None if req.url.startswith(base) or req.url.startswith("blob:")
            else external.append(req.url))
    page.goto(base + "/")
    sync_api.expect(page.locator("#model")).to_contain_text("dev EER")
    page.set_input_files("#file", clip)
    shown = page.locator("[data-testid=p-spoof]")
    sync_api.expect(shown).not_to_be_empty(timeout=60_000)
    assert float(shown.get_attribute("data-value")) == api["p_spoof"]
    assert shown.inner_text() == f"{api['p_spoof']:.4f}"
    assert page.locator("[data-testid=decision]").inner_text() == api["decision"]
    # the threshold the decision used, beside P(spoof): as a probability and as a score
    p_at = httpx.get(f"{base}/v1/model").json()["p_spoof_at_threshold"]
    beside = page.locator("[data-testid=p-threshold]").inner_text()
    assert f"P(spoof) {p_at:.4f}" in beside and f"score {api['threshold']:.3f}" in beside
    assert page.locator("#windows tbody tr").count() == len(api["windows"])
    page.wait_for_selector("#overlay[data-ready='1']", timeout=120_000)
    assert page.evaluate("document.getElementById('overlay').naturalWidth") > 500
    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("SCAA_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["SCAA_SCREENSHOT_DIR"]) / "serve_page.png")
    assert external == []  # every asset came from the app


def test_page_reports_a_bad_file(server, browser, tmp_path):
    base, _ = server
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"definitely not audio")
    page = browser.new_page()
    page.goto(base + "/")
    page.set_input_files("#file", str(bad))
    sync_api.expect(page.locator("#status")).to_contain_text("422", timeout=30_000)
    sync_api.expect(page.locator("#status")).to_contain_text("unreadable")


def test_record_from_the_microphone(server, browser):
    """Chromium's fake capture device stands in for a microphone: MediaRecorder -> webm/opus -> server."""
    base, _ = server
    page = browser.new_page()
    page.goto(base + "/")
    page.click("#record")
    sync_api.expect(page.locator("#record")).to_have_class("recording")
    page.wait_for_timeout(2000)
    page.click("#record")
    shown = page.locator("[data-testid=p-spoof]")
    sync_api.expect(shown).not_to_be_empty(timeout=60_000)
    assert 0 <= float(shown.get_attribute("data-value")) <= 1
    assert page.locator("#r-file").inner_text().startswith("recording.")


def test_api_docs_render_offline(server, browser):
    """/docs (Swagger UI) and /redoc list the operations with every asset from the app: any
    other request is refused, as it would fail on a machine with no network."""
    base, _ = server
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    external = []

    def only_the_app(route):
        url = route.request.url
        if url.startswith(base) or url.startswith(("blob:", "data:")):
            route.continue_()
        else:
            external.append(url)
            route.abort()

    page.route("**/*", only_the_app)
    page.goto(base + "/docs")
    operations = page.locator(".opblock-summary-path")
    sync_api.expect(operations).to_have_count(4, timeout=30_000)
    assert set(operations.all_inner_texts()) == {"/v1/detect", "/v1/overlay", "/v1/model", "/healthz"}
    sync_api.expect(page.locator(".info .title")).to_contain_text("SCAA detector")
    page.goto(base + "/redoc")
    sync_api.expect(page.get_by_text("Score one audio file").first).to_be_visible(timeout=30_000)
    sync_api.expect(page.get_by_text("/v1/overlay").first).to_be_attached()
    assert external == []
