"""The README is the front door (at most 400 lines) and the rest lives on the MkDocs site
under docs/: the site builds with ``mkdocs build --strict``, every page in its nav exists and
is linked from the README, and every section moved out of the README is a heading on a page."""
import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 400

# README sections that moved to the site (their titles as they were in the README).
MOVED = [
    "The study on ASVspoof 2019 LA data",
    "Whisper: frozen features vs fine-tuning the top layers",
    "What the workflow does",
    "Configuration and the registry",
    "What a component declares",
    "Generalising to unseen attacks: vocoded spoofs, fusion, a cross-attention head",
    "What the recipes did on scaa-dev (focused study, 3 seeds)",
    "Components",
    "Metrics and statistics",
    "Robustness, error analysis and energy",
    "Using a trained model",
    "A model directory is data",
    "Serving: HTTP API, page, ONNX",
    "Costs and speed",
    "Long jobs: progress, parallel detection, CNN training, seed-independent cells",
    "Tuning head sizes with Optuna",
    "Running on a cluster",
    "The embedded demo corpus",
    "Installing elsewhere",
    "Dependencies and what each is for",
    "Where this differs from DESIGN.md",
]
LINK = re.compile(r"\]\((?P<target>[^)\s#]*)(?:#(?P<anchor>[^)\s]*))?\)")


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports MkDocs only inside its hook functions
    return module


def _headings(text: str) -> list[str]:
    return [title for _, _, title in _hooks()._headings(text.splitlines())]


def _slug(title: str) -> str:
    """The anchor MkDocs' toc (and GitHub) give a heading, for the plain titles used here."""
    text = re.sub(r"[^\w\s-]", "", title.lower())
    return re.sub(r"[\s]+", "-", text.strip())


def _nav_pages(nav) -> list[str]:
    pages = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def _config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def _page_source(uri: str) -> Path:
    """The file a site page is read from: docs/<uri>, or the repository file the hook includes."""
    included = _hooks().INCLUDED
    return ROOT / included[uri] if uri in included else DOCS / uri


def _readme_links() -> list[tuple[str, str]]:
    return [(m["target"], m["anchor"] or "") for m in LINK.finditer(README.read_text())
            if "://" not in m["target"]]


def test_readme_is_at_most_400_lines():
    n = len(README.read_text().splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; move detail to a page under docs/ (at most {MAX_README_LINES})"


def test_every_nav_page_exists_and_is_linked_from_the_readme():
    config = _config()
    assert config["site_dir"] == "site" and config["strict"] is True and config["theme"]["name"] == "material"
    pages = _nav_pages(config["nav"])
    assert len(pages) == len(set(pages)), "a page is in the nav twice"
    missing = [p for p in pages if not _page_source(p).is_file()]
    assert not missing, f"nav pages without a file: {missing}"
    linked = {target for target, _ in _readme_links()}
    included = _hooks().INCLUDED
    unlinked = [p for p in pages if (included.get(p) or f"docs/{p}") not in linked]
    assert not unlinked, f"nav pages the README does not link (docs/<page>, or the included file): {unlinked}"


def test_readme_links_resolve():
    """Every relative link in the README (docs/…md, config/README.md, …) names a file that
    exists, and an anchor into a Markdown file names one of its headings."""
    readme_anchors = {_slug(t) for t in _headings(README.read_text())}
    broken = []
    for target, anchor in _readme_links():
        path = ROOT / target if target else README
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md":
            anchors = readme_anchors if not target else {_slug(t) for t in _headings(path.read_text())}
            if anchor not in anchors:
                broken.append(f"{target}#{anchor}")
    assert not broken, f"README links that do not resolve: {broken}"
    assert any(t.startswith("docs/") and t.endswith(".md") for t, _ in _readme_links())


def test_moved_sections_are_headings_on_the_site_not_in_the_readme():
    site_headings = set()
    for page in _nav_pages(_config()["nav"]):
        source = _page_source(page)
        if source.is_file():
            site_headings.update(_headings(source.read_text()))
    readme_headings = set(_headings(README.read_text()))
    assert not [t for t in MOVED if t not in site_headings], \
        f"moved README sections with no heading on a nav page: {[t for t in MOVED if t not in site_headings]}"
    assert not [t for t in MOVED if t in readme_headings], \
        f"sections listed as moved are still README headings: {[t for t in MOVED if t in readme_headings]}"


def test_readme_includes_resolve():
    """Pages that show a README section (<!-- readme: ## TITLE -->) name one the README has."""
    hooks = _hooks()
    readme = README.read_text()
    markers = []
    for page in DOCS.rglob("*.md"):
        for line in page.read_text().splitlines():
            if line.startswith("<!-- readme:"):
                m = hooks.MARKER.fullmatch(line)
                assert m, f"{page}: malformed include {line!r}"
                section = hooks.readme_section(readme, m["title"], len(m["hashes"]))
                assert section.startswith(m["hashes"] + " " + m["title"] + "\n")
                markers.append(m["title"])
    assert "Set-up: two commands" in markers  # getting-started shows the README's set-up


def test_readme_section_moves_subheadings_with_the_section():
    hooks = _hooks()
    text = "# T\n\n## A\n\n```\n# not a heading\n```\n\n### B\n\nb\n\n## C\n"
    assert hooks.readme_section(text, "A", 1) == "# A\n\n```\n# not a heading\n```\n\n## B\n\nb\n"
    assert hooks.readme_section(text, "C") == "## C\n"
    with pytest.raises(KeyError):
        hooks.readme_section(text, "D")


def test_site_builds_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("mkdocs-material is not installed (the dev extra brings it); CI must build the site")
        pytest.skip("mkdocs-material is not installed (pip install -c constraints.txt -e '.[dev]')")
    site = tmp_path / "site"
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                          str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert out.returncode == 0, f"mkdocs build --strict failed:\n{out.stdout}\n{out.stderr}"
    assert (site / "index.html").is_file()
    # the generated config reference, the model card and the README's set-up are on the site
    assert "config/schema.yaml" in (site / "reference" / "config" / "index.html").read_text()
    assert "Model card" in (site / "model-card" / "index.html").read_text()
    assert "setup.sh" in (site / "getting-started" / "index.html").read_text()
    # data the pages refer to is copied, not made into pages
    assert (site / "results" / "demo" / "summary.csv").is_file()
    assert not (site / "hooks.py").exists()


def test_hooks_module_parses_without_mkdocs():
    tree = ast.parse((DOCS / "hooks.py").read_text())
    top_imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not any("mkdocs" in (getattr(n, "module", "") or "") or
                   any("mkdocs" in a.name for a in n.names) for n in top_imports)
