"""MkDocs hooks: pages kept outside docs/ become part of the site without a hand copy.

- ``config/README.md`` (generated from ``config/schema.yaml`` by
  ``python -m scaa.plan.config_docs > config/README.md``) is the page ``reference/config.md``, and
  ``MODEL_CARD.md`` the page ``model-card.md``; both are read from their own files at every
  build.
- A line ``<!-- readme: ## TITLE -->`` in a page is replaced by the README section whose
  heading is ``TITLE`` (the heading and everything up to the next heading of the same or a
  higher level), so text the README keeps is written once. The section's heading takes the
  level the marker's ``#`` give it, and its subheadings follow. Its links are rewritten for
  the page: ``docs/x.md`` becomes a link to the site's ``x.md``, and the files included
  above become their pages.
"""
from __future__ import annotations

import posixpath
import re
from pathlib import Path

INCLUDED = {"reference/config.md": "config/README.md", "model-card.md": "MODEL_CARD.md"}
MARKER = re.compile(r"^<!-- readme: (?P<hashes>#+) (?P<title>.+?) -->$", re.MULTILINE)
LINK = re.compile(r"\]\((?P<target>[^)\s#]+)(?P<anchor>#[^)]*)?\)")


def _root(config) -> Path:
    return Path(config.config_file_path).resolve().parent


def on_files(files, config):
    from mkdocs.structure.files import File  # here, so tests can read this module without MkDocs

    root = _root(config)
    for uri, source in INCLUDED.items():
        files.append(File.generated(config, uri, abs_src_path=str(root / source)))
    return files


def _headings(lines: list[str]):
    """(index, level, title) of every Markdown heading outside fenced code."""
    fenced = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#+ ", line):
            hashes = len(line) - len(line.lstrip("#"))
            yield i, hashes, line[hashes:].strip()


def readme_section(text: str, title: str, level: int | None = None) -> str:
    """The README section headed ``title``, heading included, its top heading moved to
    ``level`` (default: where it is) and its subheadings with it; KeyError when absent."""
    lines = text.splitlines()
    heads = list(_headings(lines))
    found = [(i, n) for i, n, t in heads if t == title]
    if not found:
        raise KeyError(f"README.md has no section headed {title!r}")
    start, top = found[0]
    end = next((i for i, n, _ in heads if i > start and n <= top), len(lines))
    section = lines[start:end]
    shift = 0 if level is None else level - top
    if shift:
        inner = {i - start for i, _, _ in heads if start <= i < end}
        section = [("#" * shift + line if shift > 0 else line[-shift:]) if k in inner else line
                   for k, line in enumerate(section)]
    return "\n".join(section).rstrip() + "\n"


def _relink(text: str, page_uri: str) -> str:
    """Rewrite README-relative links (from the repository root) for a page at ``page_uri``."""
    page_dir = posixpath.dirname(page_uri)
    pages = {source: uri for uri, source in INCLUDED.items()}

    def fix(match):
        target, anchor = match["target"], match["anchor"] or ""
        if "://" in target:
            return match[0]
        if target.startswith("docs/"):
            uri = target[len("docs/"):]
        elif target in pages:
            uri = pages[target]
        else:
            return match[0]
        return f"]({posixpath.relpath(uri, page_dir or '.')}{anchor})"

    return LINK.sub(fix, text)


def on_page_markdown(markdown, page, config, files):
    if "<!-- readme:" not in markdown:
        return markdown
    for line in markdown.splitlines():
        if line.startswith("<!-- readme:") and not MARKER.fullmatch(line):
            raise ValueError(f"{page.file.src_uri}: malformed include {line!r}: want <!-- readme: ## TITLE -->")
    readme = (_root(config) / "README.md").read_text(encoding="utf-8")
    return MARKER.sub(lambda m: _relink(readme_section(readme, m["title"], len(m["hashes"])),
                                        page.file.src_uri), markdown)
