"""The package's import graph has no cycle, no module imports another's private name, and
every module's docstring opens with a one-line sentence saying its one job.

Everything is read from the source with ``ast``; no module is imported. The rules:

* An edge A -> B is any ``import scaa.b``, ``from scaa.b import x``, ``from scaa import b``
  or relative import (``from . import b``, ``from .b import x``) anywhere in A, function
  bodies included, except under ``if TYPE_CHECKING:`` (never run). ``from scaa.pkg import
  sub`` is an edge to the submodule ``scaa.pkg.sub`` only: Python runs ``scaa/pkg/__init__``
  first, but a package's ``__init__`` importing its own submodules is not a cycle at run
  time, so a submodule's import of its own package is not an edge.
* A private name is one with a single leading underscore (dunders like ``__version__`` are
  public). A module may not take one from another module, neither as ``from scaa.x import
  _y`` nor as ``x._y`` on an imported scaa module. A package ``__init__`` counts as its own
  module too: it may not re-export a submodule's private name. The one exception is a
  private *module* (``scaa/pkg/_impl.py``): the modules of the same package may import it
  (that is what its leading underscore means), but its own ``_names`` stay private to it.
* A docstring's first line is non-empty, ends with a period and is followed by a blank line
  (or nothing): the summary sentence fits on one line.
* Layers: the folders are the architecture, and imports go only downward (or within a
  layer), in the order of :data:`LAYERS`: the foundation (top-level modules: registry,
  metrics, calibration, ...), ``dsp``, the components (``encoders``, ``heads``,
  ``datasets``, ``demo_corpus``), ``plan``, ``inference``, ``workflow``, ``report``, and
  the interfaces (``serve``, ``commands``, ``cli``). Every subpackage has an ``__init__``
  whose docstring says its job in one line.
"""
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "scaa"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


MODULES = modules()
TREES = {name: ast.parse(path.read_text(), filename=str(path)) for name, path in MODULES.items()}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def resolve(name: str, node: ast.ImportFrom) -> str:
    """The absolute module a ``from X import ...`` in module ``name`` reads from."""
    if not node.level:
        return node.module or ""
    base = name.split(".") if is_package(name) else name.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def run_time_nodes(tree: ast.AST):
    """Every node that can run: ``if TYPE_CHECKING:`` bodies are left out (their else kept)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def deepest_module(dotted: str) -> str | None:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in MODULES:
            return ".".join(parts[:i])
    return None


def imports(name: str):
    """(target module, imported name or None, line) for each scaa import in module ``name``."""
    for node in run_time_nodes(TREES[name]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "scaa" or alias.name.startswith("scaa."):
                    target = deepest_module(alias.name)
                    if target:
                        yield target, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            source = resolve(name, node)
            if source != "scaa" and not source.startswith("scaa."):
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in MODULES:
                    yield sub, None, node.lineno
                elif source in MODULES:
                    yield source, alias.name, node.lineno


def edges(name: str) -> dict[str, int]:
    """Module ``name`` -> {module it imports: first line}, its own package(s) left out."""
    out: dict[str, int] = {}
    for target, _, line in imports(name):
        if target != name and not name.startswith(target + "."):
            out.setdefault(target, line)
    return out


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Each strongly connected component of more than one module (Tarjan), as one cycle path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the ~100 modules
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles = []
    for component in components:  # a shortest cycle through each member, each cycle once
        for start in sorted(component):
            cycle = cycle_path(graph, set(component), start)
            rotated = min(cycle[i:-1] + cycle[:i] + [cycle[i]] for i in range(len(cycle) - 1))
            if rotated not in cycles:
                cycles.append(rotated)
    return cycles


def cycle_path(graph: dict[str, dict[str, int]], component: set[str], start: str) -> list[str]:
    """A shortest cycle through ``start`` inside its strongly connected component, ``start`` repeated at the end."""
    parents = {start: None}
    queue = [start]
    while queue:  # breadth first, so the cycle reported is a shortest one through ``start``
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while parents[path[-1]] is not None:
                    path.append(parents[path[-1]])
                return [*reversed(path), start]
            if w in component and w not in parents:
                parents[w] = v
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")


def module_aliases(name: str) -> dict[str, str]:
    """Local name -> scaa module, for names bound to a module by an import in ``name``."""
    bound = {}
    for node in run_time_nodes(TREES[name]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES and alias.asname:
                    bound[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            source = resolve(name, node)
            for alias in node.names:
                if f"{source}.{alias.name}" in MODULES:
                    bound[alias.asname or alias.name] = f"{source}.{alias.name}"
    return bound


def dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def is_private(attr: str) -> bool:
    return attr.startswith("_") and not (attr.startswith("__") and attr.endswith("__"))


def private_module_allowed(importer: str, target: str) -> bool:
    """A private module (``scaa/pkg/_impl.py``) is importable by its own package's modules."""
    package = target.rpartition(".")[0]
    return importer == package or importer.rpartition(".")[0] == package


def private_imports(name: str) -> list[str]:
    found = []
    path = MODULES[name].relative_to(REPO)
    for target, imported, line in imports(name):
        if target == name:
            continue
        if imported is not None and is_private(imported):
            found.append(f"{path}:{line}: from {target} import {imported}")
        leaf = target.rpartition(".")[2]
        if imported is None and is_private(leaf) and not private_module_allowed(name, target):
            found.append(f"{path}:{line}: imports private module {target}")
    aliases = module_aliases(name)
    for node in run_time_nodes(TREES[name]):
        if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
            continue
        base = dotted(node.value)
        target = aliases.get(base) if base else None
        if target is None and base and base in MODULES:  # import scaa.x ... scaa.x._y
            target = base
        if target and target != name:
            found.append(f"{path}:{node.lineno}: {base}.{node.attr} (private name of {target})")
    return found


def docstring_problem(name: str) -> str | None:
    doc = ast.get_docstring(TREES[name], clean=True)
    if not doc:
        return "no module docstring"
    lines = doc.splitlines()
    first = lines[0].strip()
    if not first:
        return "docstring's first line is empty"
    if len(lines) > 1 and lines[1].strip():
        return f"summary runs past the first line: {first!r}"
    if not first.endswith("."):
        return f"first line is not a sentence ending with a period: {first!r}"
    return None


def test_the_walk_sees_the_whole_package():
    assert {"scaa", "scaa.cli", "scaa.inference.detector", "scaa.report.html", "scaa.heads.base"} <= set(MODULES)
    graph = {name: edges(name) for name in MODULES}
    assert "scaa.registry" in graph["scaa.cli"] or any("scaa.registry" in g for g in graph.values())
    assert sum(len(g) for g in graph.values()) > 100, "the import graph looks empty: the walk is broken"


def test_no_import_cycle():
    graph = {name: edges(name) for name in MODULES}
    cycles = find_cycles(graph)
    lines = []
    for cycle in cycles:
        hops = [f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])]
        lines.append(" -> ".join(hops + [cycle[-1]]))
    assert not cycles, "import cycles (each hop: importer and the line of its import):\n" + "\n".join(lines)


def test_no_private_name_imported_across_modules():
    found = sorted({line for name in MODULES for line in private_imports(name)},
                   key=lambda line: (line.split(":")[0], int(line.split(":")[1])))
    assert not found, "private names imported from another module (make them public or move them):\n" + "\n".join(found)


def test_every_module_docstring_opens_with_its_one_job():
    found = [f"{MODULES[name].relative_to(REPO)}: {problem}" for name in MODULES
             if (problem := docstring_problem(name))]
    assert not found, "module docstrings whose first line is not a one-line summary sentence:\n" + "\n".join(found)


def test_the_checks_catch_what_they_look_for():
    """The detectors themselves: a planted cycle, private import and bad docstring are found."""
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b": 1}, "b": {}}) == []
    assert is_private("_esc") and not is_private("__version__") and not is_private("esc")
    tree = ast.parse("from scaa.x import _y\n")
    node = tree.body[0]
    assert isinstance(node, ast.ImportFrom) and is_private(node.names[0].name)
    assert private_module_allowed("scaa.pkg.mod", "scaa.pkg._impl")
    assert private_module_allowed("scaa.pkg", "scaa.pkg._impl")
    assert not private_module_allowed("scaa.other", "scaa.pkg._impl")


# lowest first: a module may import modules of its own layer and of the layers below it
LAYERS = (
    ("foundation", ()),  # every top-level module not named below
    ("dsp", ("scaa.dsp",)),
    ("components", ("scaa.encoders", "scaa.heads", "scaa.datasets", "scaa.demo_corpus")),
    ("plan", ("scaa.plan",)),
    ("inference", ("scaa.inference",)),
    ("workflow", ("scaa.workflow",)),
    ("report", ("scaa.report",)),
    ("interfaces", ("scaa.serve", "scaa.commands", "scaa.cli")),
)
# modules kept only so that old imports still work (each one *is* the module it names)
ALIASES: dict[str, str] = {}


def layer_of(name: str) -> int:
    for rank, (_, packages) in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in packages):
            return rank
    return 0


def upward_imports() -> list[str]:
    found = []
    for name in MODULES:
        if name in ALIASES:
            continue
        for target, line in edges(name).items():
            if layer_of(target) > layer_of(name):
                found.append(f"{MODULES[name].relative_to(REPO)}:{line}: {name} ({LAYERS[layer_of(name)][0]}) imports "
                             f"{target} ({LAYERS[layer_of(target)][0]})")
    return sorted(found)


def test_imports_go_only_down_the_layers():
    found = upward_imports()
    assert not found, "imports from a higher layer (move the code down, or the importer up):\n" + "\n".join(found)


def test_every_subpackage_is_a_layer_or_inside_one_and_says_its_job():
    packages = sorted({p.parent for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts} - {PACKAGE})
    missing = [str(p.relative_to(REPO)) for p in packages if not (p / "__init__.py").is_file()]
    assert not missing, f"folders of modules without an __init__.py: {missing}"
    named = {p for _, packages in LAYERS for p in packages}
    for path in packages:
        name = module_name(path / "__init__.py")
        top = ".".join(name.split(".")[:2])
        assert top in named, f"{name} is in no layer of LAYERS"
        doc = ast.get_docstring(TREES[name], clean=True)
        assert doc and docstring_problem(name) is None, f"{name}: its __init__ needs a one-line docstring saying its job"
    for alias, real in ALIASES.items():
        assert real in MODULES and alias in MODULES


def test_the_layer_check_catches_an_upward_import():
    assert layer_of("scaa.metrics") == 0 and layer_of("scaa.dsp.audio") == 1
    assert layer_of("scaa.workflow.train") > layer_of("scaa.inference.detector") > layer_of("scaa.heads.mlp")
    assert layer_of("scaa.cli") == len(LAYERS) - 1
