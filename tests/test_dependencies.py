"""Every package the code imports is declared: in pyproject.toml (dependencies or an extra)
or in requirements-wheels.txt (the weight-carrying wheels installed --no-deps)."""
import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CODE_DIRS = ("scaa", "workflow/scripts", "bench")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project.get("dependencies", []))
    for extra in (project.get("optional-dependencies") or {}).values():
        reqs += extra
    wheels = REPO / "requirements-wheels.txt"
    if wheels.is_file():
        reqs += [line for line in wheels.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return {_canonical(re.split(r"[<>=!~\[; ]", r.strip(), maxsplit=1)[0]) for r in reqs}


def imported_modules() -> dict[str, str]:
    """Top-level module -> first file importing it (relative imports and scaa itself left out)."""
    found: dict[str, str] = {}
    for folder in CODE_DIRS:
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if not (path.parent / f"{top}.py").exists():  # a sibling script is local code
                        found.setdefault(top, str(path.relative_to(REPO)))
    return found


def test_every_imported_package_is_declared():
    dists = metadata.packages_distributions()
    have = declared()
    undeclared = []
    for module, where in sorted(imported_modules().items()):
        if module in sys.stdlib_module_names or module in ("scaa", "snakemake_interface") or module == "__future__":
            continue
        owners = {_canonical(d) for d in dists.get(module, [])}
        if not owners:
            # not installed here (an optional import guarded at run time): it must still be declared
            owners = {_canonical(module)}
        if not owners & have:
            undeclared.append(f"{module} (imported in {where}; distribution {sorted(owners)})")
    assert not undeclared, "imported but not declared in pyproject.toml / requirements-wheels.txt:\n" + \
        "\n".join(undeclared)
