"""Name -> component registries (timm style): ``@LOSSES.register("supcon")`` then
``LOSSES.build({"type": "supcon", "temperature": 0.1})``.

Third-party components arrive through Python entry points (group ``scaa.<kind>``)
or through a ``plugins:`` list of importable modules in the workflow config.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Iterator, Mapping

BUILTIN_MODULES = (
    "scaa.datasets",
    "scaa.encoders",
    "scaa.views",
    "scaa.losses",
    "scaa.heads",
    "scaa.resynth",
    "scaa.conditions",
)


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Any]
    description: str


class RegistryError(KeyError):
    """Unknown name or bad spec; the message lists what is available."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class Registry:
    """A named table of factories for one kind of component."""

    def __init__(self, kind: str):
        self.kind = kind
        self.entry_point_group = f"scaa.{kind}"
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, description: str | None = None):
        """Decorator: register a class or function under ``name``."""

        def decorate(factory):
            if name in self._entries and self._entries[name].factory is not factory:
                raise RegistryError(f"{self.kind}: {name!r} is already registered "
                                    f"by {self._entries[name].factory.__module__}")
            doc = description or _first_line(inspect.getdoc(factory))
            self._entries[name] = Entry(name, factory, doc)
            return factory

        return decorate

    def get(self, name: str) -> Callable[..., Any]:
        load_builtins()
        if name not in self._entries:
            load_entry_points()
        if name not in self._entries:
            raise RegistryError(
                f"unknown {self.kind} {name!r}; registered: {', '.join(sorted(self._entries))}")
        return self._entries[name].factory

    def build(self, spec: Mapping[str, Any] | str, **extra: Any) -> Any:
        """Build from ``{"type": name, **params}`` (or just a name)."""
        if isinstance(spec, str):
            spec = {"type": spec}
        if "type" not in spec:
            raise RegistryError(f"{self.kind} spec has no 'type': {dict(spec)!r}")
        params = {k: v for k, v in spec.items() if k != "type"}
        params.update(extra)
        factory = self.get(spec["type"])
        try:
            return factory(**params)
        except TypeError as err:
            raise RegistryError(f"cannot build {self.kind} {spec['type']!r} "
                                f"with {sorted(params)}: {err}") from err

    def check(self, spec: Mapping[str, Any], where: str = "") -> Callable[..., Any]:
        """Resolve ``spec['type']`` and bind its parameters to the factory's signature, without
        building anything (no weights are loaded); a parameter the factory does not take is an
        error naming it and listing those it does."""
        where = where or f"{self.kind} spec"
        if not isinstance(spec, Mapping) or "type" not in spec:
            raise RegistryError(f"{where}: needs a 'type'")
        try:
            factory = self.get(spec["type"])
        except RegistryError as err:
            raise RegistryError(f"{where}: {err}") from None
        params = {k: v for k, v in spec.items() if k != "type"}
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):  # a builtin without a signature: nothing to check
            return factory
        try:
            signature.bind(**params)
        except TypeError as err:
            takes = [n for n, p in signature.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            raise RegistryError(f"{where}: {spec['type']!r} {err}; its parameters are "
                                f"{', '.join(takes) or '(none)'}") from None
        return factory

    def names(self) -> list[str]:
        load_builtins()
        load_entry_points()
        return sorted(self._entries)

    def describe(self) -> dict[str, str]:
        return {n: self._entries[n].description for n in self.names()}

    def __contains__(self, name: str) -> bool:
        load_builtins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _first_line(doc: str | None) -> str:
    """The docstring's first paragraph on one line (wrapped sentences included)."""
    if not doc:
        return ""
    para = " ".join(doc.strip().split("\n\n")[0].split())
    return para if len(para) <= 120 else para[:117].rstrip() + "..."


DATASETS = Registry("datasets")
ENCODERS = Registry("encoders")
VIEWS = Registry("views")
LOSSES = Registry("losses")
HEADS = Registry("heads")
RESYNTH = Registry("resynth")  # vocoded training spoofs (scaa.resynth)
ALL = {r.kind: r for r in (DATASETS, ENCODERS, VIEWS, LOSSES, HEADS, RESYNTH)}
CONDITIONS = Registry("conditions")  # channel conditions of eval audio (scaa.conditions)
ALL = {r.kind: r for r in (DATASETS, ENCODERS, VIEWS, LOSSES, HEADS, CONDITIONS)}

_builtins_loaded = False
_entry_points_loaded = False


def load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def load_entry_points() -> None:
    """Import every installed ``scaa.<kind>`` entry point once."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for registry in ALL.values():
        for ep in metadata.entry_points(group=registry.entry_point_group):
            ep.load()


def load_plugins(modules: list[str] | None) -> None:
    """Import the config's ``plugins:`` modules so their components register."""
    load_builtins()
    for module in modules or []:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise RegistryError(f"plugin module {module!r} could not be imported: {err}") from err
