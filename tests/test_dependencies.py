"""Every package the code imports is declared, and an optional one fails with the extra's name.

Declared means: in pyproject.toml (dependencies or an extra) or in requirements-wheels.txt
(the weight-carrying wheels installed --no-deps). Imports are read from the source (no
import is executed): ``import`` statements, plus literal names given to
``importlib.import_module``, ``pytest.importorskip`` and ``scaa.extras.require`` (a
``find_spec`` probe, e.g. for a package that must be absent, is not a dependency); the
rule files' Python (rules/*.smk, Snakefile) is read line by line.
"""
import ast
import functools
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from scaa import extras

REPO = Path(__file__).resolve().parents[1]
PY_DIRS = ("scaa", "workflow/scripts", "bench", "tests", "examples")
RULE_FILES = ("Snakefile", "rules/*.smk")
DYNAMIC_IMPORTERS = {"import_module", "importorskip", "require", "_require"}  # find_spec only probes
# import name -> distribution, for packages this machine may not have installed
KNOWN_DISTS = {"yaml": "pyyaml", "sklearn": "scikit-learn", "PIL": "pillow", "python_multipart": "python-multipart",
               "multipart": "python-multipart", "onnxruntime": "onnxruntime"}
# not distributions: the project itself and the interface module snakemake injects into scripts
NOT_PACKAGES = {"scaa", "snakemake_interface", "__future__"}
# files that import an extra-only package without calling extras.require for it, and why that is safe
GUARDED_ELSEWHERE = {
    ("scaa/serve/app.py", "fastapi"): "imported only by scaa.serve.main after it required the serve extra",
    ("scaa/serve/app.py", "starlette"): "imported only by scaa.serve.main after it required the serve extra",
    ("scaa/workflow/tune.py", "sqlalchemy"): "redact() falls back to the URL's scheme without it",
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_name(req: str) -> str:
    return canonical(re.split(r"[<>=!~\[; @]", req.strip(), maxsplit=1)[0])


def pyproject_requirements() -> dict[str, list[str]]:
    """'core' and each extra -> its requirement strings (self-references like scaa[tune] left out)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    groups = {"core": list(project.get("dependencies", []))}
    for extra, reqs in (project.get("optional-dependencies") or {}).items():
        groups[extra] = [r for r in reqs if _req_name(r) != "scaa"]
    return groups


def wheel_requirements() -> list[str]:
    path = REPO / "requirements-wheels.txt"
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def declared() -> set[str]:
    reqs = [r for group in pyproject_requirements().values() for r in group] + wheel_requirements()
    return {_req_name(r) for r in reqs}


def _is_local(path: Path, top: str) -> bool:
    """A sibling module or package (a test helper, a bench script) is the project's own code."""
    return (path.parent / f"{top}.py").exists() or (path.parent / top / "__init__.py").exists()


def _python_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in DYNAMIC_IMPORTERS:
                names.add(node.args[0].value)
    return names


def _rule_imports(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        m = re.match(r"\s*(?:from\s+([\w.]+)\s+import\b|import\s+([\w.]+))", line)
        if m:
            names.add(m.group(1) or m.group(2))
    return names


def imported_modules() -> dict[str, str]:
    """Top-level module -> first file importing it (relative imports, stdlib and local code left out)."""
    found: dict[str, str] = {}
    files = [(p, _python_imports) for d in PY_DIRS for p in sorted((REPO / d).rglob("*.py"))]
    files += [(p, _rule_imports) for pattern in RULE_FILES for p in sorted(REPO.glob(pattern))]
    for path, reader in files:
        for name in sorted(reader(path)):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top in NOT_PACKAGES or _is_local(path, top):
                continue
            found.setdefault(top, str(path.relative_to(REPO)))
    return found


@functools.cache
def _installed() -> dict[str, list[str]]:
    return metadata.packages_distributions()


@functools.cache
def distributions_of(module: str) -> frozenset[str]:
    owners = {canonical(d) for d in _installed().get(module, [])}
    return frozenset(owners or {canonical(KNOWN_DISTS.get(module, module))})


def test_scanner_sees_imports_of_every_kind(tmp_path):
    """The scan itself: statements, dynamic imports and rule-file lines are all read."""
    code = tmp_path / "code.py"
    code.write_text("import a.b\nfrom c import d\nimportlib.import_module('e.f')\npytest.importorskip('g')\n"
                    "require('h')\nfrom . import local\n")
    assert _python_imports(code) == {"a.b", "c", "e.f", "g", "h"}
    smk = tmp_path / "x.smk"
    smk.write_text("from i import j\nrule r:\n    run:\n        import k\n")
    assert _rule_imports(smk) == {"i", "k"}


def test_every_imported_package_is_declared():
    have = declared()
    undeclared = [f"{module} (imported in {where}; distribution {sorted(distributions_of(module))})"
                  for module, where in sorted(imported_modules().items())
                  if not distributions_of(module) & have]
    assert not undeclared, "imported but not declared in pyproject.toml / requirements-wheels.txt:\n" + \
        "\n".join(undeclared)


def test_an_undeclared_import_fails_the_check(tmp_path, monkeypatch):
    """The check is not vacuous: a module importing an unknown package is reported."""
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    (tmp_path / "scaa").mkdir()
    (tmp_path / "scaa" / "x.py").write_text("import numpy\nimport surely_not_declared_pkg\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "scaa"\ndependencies = ["numpy>=2,<3"]\n')
    with pytest.raises(AssertionError, match="surely_not_declared_pkg"):
        test_every_imported_package_is_declared()


def test_extras_table_matches_pyproject():
    groups = pyproject_requirements()
    for module, extra in extras.EXTRA_OF.items():
        assert extra in groups, f"scaa.extras names extra {extra!r}, which pyproject.toml lacks"
        names = {_req_name(r) for r in groups[extra]}
        assert distributions_of(module) & names, f"{module} is not in pyproject.toml's [{extra}] extra"
    all_extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["all"]
    user_extras = set(groups) - {"core", "dev", "all"}
    assert all_extra == [f"scaa[{','.join(sorted(user_extras, key=list(groups).index))}]"], \
        "the [all] extra must name every user-facing extra"


def test_code_importing_an_extra_names_it_when_missing():
    """In scaa/, an extra-only package is imported through extras.require (or guarded by a caller)."""
    groups = pyproject_requirements()
    core = {_req_name(r) for r in groups["core"]}
    extra_only = {d for name, reqs in groups.items() if name != "core" for d in map(_req_name, reqs)} - core
    problems = []
    for path in sorted((REPO / "scaa").rglob("*.py")):
        rel = str(path.relative_to(REPO))
        text = path.read_text()
        tops = {n.split(".")[0] for n in _python_imports(path)}
        for top in sorted(tops):
            if not distributions_of(top) & extra_only:
                continue
            if top not in extras.EXTRA_OF:
                problems.append(f"{rel}: {top} is extra-only but missing from scaa.extras.EXTRA_OF")
            elif f'require("{top}' not in text and (rel, top) not in GUARDED_ELSEWHERE:
                problems.append(f"{rel}: imports {top} without extras.require('{top}')")
    assert not problems, "\n".join(problems)


def test_require_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ModuleNotFoundError
    with pytest.raises(extras.MissingExtra, match=r"scaa\[tune\]"):
        extras.require("optuna")
    with pytest.raises(KeyError, match="not an optional dependency"):
        extras.require("numpy")


def test_tuning_without_optuna_names_the_tune_extra(monkeypatch, tmp_path):
    from scaa.workflow import tune

    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(extras.MissingExtra, match=r"'tune' extra"):
        tune.make_study("s", f"sqlite:///{tmp_path}/s.db")


def test_export_without_onnx_names_the_onnx_extra(monkeypatch, tmp_path, capsys):
    from scaa import cli

    monkeypatch.setitem(sys.modules, "onnx", None)
    assert cli.main(["export", str(tmp_path)]) == 2
    assert "scaa[onnx]" in capsys.readouterr().err


def test_serve_without_uvicorn_names_the_serve_extra(monkeypatch, tmp_path, capsys):
    from scaa import cli

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert cli.main(["serve", "--model", str(tmp_path), "--config", str(tmp_path / "none.yaml")]) == 2
    assert "scaa[serve]" in capsys.readouterr().err


def test_energy_without_codecarbon_records_the_energy_extra(monkeypatch, tmp_path):
    import json

    from scaa.workflow import energy

    monkeypatch.setitem(sys.modules, "codecarbon", None)
    out = tmp_path / "energy.json"
    with energy.track(out, task="t"):
        pass
    record = json.loads(out.read_text())
    assert record["status"] == "unavailable" and "scaa[energy]" in record["reason"]
