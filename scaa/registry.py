"""Name -> component registries (timm style): ``@LOSSES.register("supcon")`` then
``LOSSES.build({"type": "supcon", "temperature": 0.1})``.

Third-party components arrive through Python entry points (group ``scaa.<kind>``)
or through a ``plugins:`` list of importable modules in the workflow config.
"""
from __future__ import annotations

import fnmatch
import importlib
import inspect
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Iterator, Mapping

# Where each built-in lives. A lookup by name imports only that module, so a job that
# scores with a logreg head never imports torch, and one that extracts spectral
# features never imports scikit-learn: every workflow job is its own process, and these
# imports cost seconds. tests/test_lazy_registry.py checks this table against what the
# modules register.
BUILTINS: dict[str, dict[str, str]] = {
    "datasets": {
        "asvspoof2019_la": "scaa.datasets.asvspoof", "asvspoof2021": "scaa.datasets.asvspoof",
        "demo": "scaa.datasets", "fakeavceleb": "scaa.datasets.simple", "folder": "scaa.datasets.simple",
        "in_the_wild": "scaa.datasets.simple",
    },
    "encoders": {
        "spectral": "scaa.encoders.spectral", "distillmos": "scaa.encoders.pretrained_wheels",
        "resemblyzer": "scaa.encoders.pretrained_wheels", "hubert": "scaa.encoders.ssl",
        "wav2vec2": "scaa.encoders.ssl", "wavlm": "scaa.encoders.ssl", "whisper": "scaa.encoders.whisper",
        "aasist": "scaa.encoders.aasist",
    },
    "views": {
        **{n: "scaa.views" for n in ("bandmask", "chain", "codec", "highpass", "lowpass", "noise", "none",
                                     "rawboost")},
        "condition": "scaa.conditions",
    },
    "losses": {n: "scaa.losses" for n in ("ce", "ntxent", "oc_supcon", "ocsoftmax", "spectral_contrastive",
                                           "supcon")},
    "heads": {n: f"scaa.heads.{n}" for n in ("attn", "gmm", "lcnn", "logreg", "mlp", "score", "svm", "tuned",
                                                              "xattn")},
    "resynth": {n: "scaa.resynth" for n in ("codec2", "griffin_lim", "lpc", "mp3", "opus", "world")},
    "conditions": {n: "scaa.conditions" for n in ("clean", "codec", "gain", "noise", "packet_loss", "reverb",
                                                   "telephone")},
}
BUILTIN_MODULES = tuple(sorted({m for table in BUILTINS.values() for m in table.values()}))


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
        self._builtin = BUILTINS.get(kind, {})  # name -> module, imported on first lookup

    def register(self, name: str, description: str | None = None):
        """Decorator: register a class or function under ``name``."""

        def decorate(factory):
            if name in self._entries and self._entries[name].factory is not factory:
                raise RegistryError(f"{self.kind}: {name!r} is already registered "
                                    f"by {self._entries[name].factory.__module__}")
            home = self._builtin.get(name)
            if home is not None and getattr(factory, "__module__", None) != home:
                raise RegistryError(f"{self.kind}: {name!r} is already registered by {home}")
            doc = description or _first_line(inspect.getdoc(factory))
            self._entries[name] = Entry(name, factory, doc)
            return factory

        return decorate

    def _import_builtin(self, name: str) -> None:
        if name not in self._entries and name in self._builtin:
            importlib.import_module(self._builtin[name])

    def get(self, name: str) -> Callable[..., Any]:
        self._import_builtin(name)
        if name not in self._entries:
            load_entry_points()
        if name not in self._entries:
            broken = "".join(f"; entry point {ep} failed to load: {err}"
                             for ep, err in _entry_point_errors.items() if ep.startswith(f"{self.entry_point_group}:"))
            raise RegistryError(
                f"unknown {self.kind} {name!r}; registered: {', '.join(sorted(self._entries))}{broken}")
        return self._entries[name].factory

    def build(self, spec: Mapping[str, Any] | str, **extra: Any) -> Any:
        """Build from ``{"type": name, **params}`` (or just a name).

        The parameters are bound to the factory's signature first, so a spec the factory
        does not take is a :class:`RegistryError`; an error raised while the component
        builds itself (a ``TypeError`` included) reaches the caller unchanged."""
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, Mapping) or "type" not in spec:
            raise RegistryError(f"{self.kind} spec has no 'type': {spec!r}")
        params = {k: v for k, v in spec.items() if k != "type"}
        params.update(extra)
        factory = self.check({**params, "type": spec["type"]}, where=f"cannot build {self.kind} {spec['type']!r}")
        return factory(**params)

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

    def names(self, pattern: str | list[str] | None = None, exclude: str | list[str] | None = None) -> list[str]:
        """Registered names, sorted; like timm's ``list_models``, ``pattern`` keeps the names
        matching any of the given shell-style wildcards (``"wav*"``, ``["*lm", "hubert"]``)
        and ``exclude`` drops those matching any of its own."""
        load_builtins()
        load_entry_points()
        out = sorted(self._entries)
        if pattern is not None:
            keep = [pattern] if isinstance(pattern, str) else list(pattern)
            out = [n for n in out if any(fnmatch.fnmatchcase(n, p) for p in keep)]
        if exclude is not None:
            drop = [exclude] if isinstance(exclude, str) else list(exclude)
            out = [n for n in out if not any(fnmatch.fnmatchcase(n, p) for p in drop)]
        return out

    def describe(self) -> dict[str, str]:
        return {n: self._entries[n].description for n in self.names()}

    def __contains__(self, name: str) -> bool:
        """Built-ins, config plugins already imported and installed entry points alike."""
        if name in self._entries or name in self._builtin:
            return True
        load_entry_points()
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
CONDITIONS = Registry("conditions")  # channel conditions of eval audio (scaa.conditions)
ALL = {r.kind: r for r in (DATASETS, ENCODERS, VIEWS, LOSSES, HEADS, RESYNTH, CONDITIONS)}

_builtins_loaded = False
_entry_points_loaded = False
_entry_point_errors: dict[str, str] = {}  # "group:name" -> why it did not load


def _snapshot() -> dict[str, dict[str, Entry]]:
    return {kind: dict(reg._entries) for kind, reg in ALL.items()}


def _restore(tables: dict[str, dict[str, Entry]]) -> None:
    """Put every registry back as it was: a plugin that failed half-way leaves no entries.
    Built-ins it imported on the way stay (their modules are imported once per process)."""
    for kind, entries in tables.items():
        reg = ALL[kind]
        builtins = {n: e for n, e in reg._entries.items()
                    if getattr(e.factory, "__module__", None) == reg._builtin.get(n)}
        reg._entries.clear()
        reg._entries.update({**builtins, **entries})


def load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def load_entry_points() -> None:
    """Import every installed ``scaa.<kind>`` entry point once.

    An entry point that fails to import is rolled back (whatever it registered before
    failing is removed), reported as a warning and named in the "unknown name" error,
    so one broken third-party package does not take the built-ins down with it."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for registry in ALL.values():
        for ep in metadata.entry_points(group=registry.entry_point_group):
            before = _snapshot()
            try:
                ep.load()
            except Exception as err:  # noqa: BLE001 - third-party code: any failure is its own
                _restore(before)
                key = f"{registry.entry_point_group}:{getattr(ep, 'name', ep)}"
                _entry_point_errors[key] = f"{type(err).__name__}: {err}"
                warnings.warn(f"scaa: entry point {key} failed to load and was skipped "
                              f"({type(err).__name__}: {err})", RuntimeWarning, stacklevel=2)


def load_plugins(modules: list[str] | None) -> None:
    """Import the config's ``plugins:`` modules so their components register.

    A module that fails to import leaves every registry as it was before it started
    (its partial registrations are removed) and raises :class:`RegistryError`."""
    for module in modules or []:
        before = _snapshot()
        try:
            importlib.import_module(module)
        except Exception as err:  # noqa: BLE001 - the plugin's own error, reported with its name
            _restore(before)
            raise RegistryError(f"plugin module {module!r} could not be imported: "
                                f"{type(err).__name__}: {err}") from err
