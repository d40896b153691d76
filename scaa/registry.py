"""Name -> component registries (timm style), built-ins and plugins alike.

``@LOSSES.register("supcon")`` then ``LOSSES.build({"type": "supcon", "temperature": 0.1})``.

Third-party components arrive through Python entry points (group ``scaa.<kind>``)
or through a ``plugins:`` list of importable modules in the workflow config.
"""
from __future__ import annotations

import fnmatch
import importlib
import inspect
import math
import numbers
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
        **{n: "scaa.datasets.public" for n in ("asvspoof5", "fakeorreal", "librisevoc", "mlaad", "wavefake")},
    },
    "encoders": {
        "spectral": "scaa.encoders.spectral", "distillmos": "scaa.encoders.pretrained_wheels",
        "resemblyzer": "scaa.encoders.pretrained_wheels", "hubert": "scaa.encoders.ssl",
        "wav2vec2": "scaa.encoders.ssl", "wavlm": "scaa.encoders.ssl", "whisper": "scaa.encoders.whisper",
        "aasist": "scaa.encoders.aasist",
    },
    "views": {
        **{n: "scaa.dsp.views" for n in ("bandmask", "chain", "codec", "highpass", "lowpass", "noise", "none",
                                     "rawboost")},
        "condition": "scaa.dsp.conditions",
    },
    "losses": {n: "scaa.heads.losses" for n in ("ce", "ntxent", "oc_supcon", "ocsoftmax", "spectral_contrastive",
                                           "supcon")},
    "heads": {n: f"scaa.heads.{n}" for n in ("attn", "gmm", "lcnn", "logreg", "mlp", "score", "svm", "tuned",
                                                              "xattn")},
    "resynth": {n: "scaa.dsp.vocoders" for n in ("codec2", "griffin_lim", "lpc", "mp3", "opus", "world")},
    "conditions": {n: "scaa.dsp.conditions" for n in ("clean", "codec", "gain", "noise", "packet_loss", "reverb",
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
            known = sorted(set(self._entries) | set(self._builtin))  # built-ins not imported yet included
            raise RegistryError(
                f"unknown {self.kind} {name!r}; registered: {', '.join(known) or '(none)'}{broken}")
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


# ------------------------------------------------ parameter types from the factory's signature
# What a parameter takes, read from its annotation (else from its default's type): these
# kinds are checked; anything else (str, dict, Any, a class) is left to the component.
_SEQ_NAMES = {"list", "tuple", "Sequence", "List", "Tuple", "MutableSequence", "Iterable", "Collection"}
_NUM_NAMES = {"float", "int", "Real", "Number", "Integral"}
_KIND_OF = {**{n: "seq" for n in _SEQ_NAMES}, **{n: "num" for n in _NUM_NAMES}, "bool": "bool", "str": "str",
            "None": "none", "NoneType": "none", "dict": "map", "Dict": "map", "Mapping": "map",
            "MutableMapping": "map"}
_WANTED = {"seq": "a list", "num": "a number", "bool": "true or false", "str": "a string", "map": "a mapping",
           "none": "null"}


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [p.strip() for p in [*parts, text[start:]] if p.strip()]


def _kinds(annotation) -> list[tuple[str, str | None]] | None:
    """(kind, element kind) alternatives of an annotation; None when it says nothing checkable
    (absent, ``Any``, a class of the component's own)."""
    if annotation is inspect.Parameter.empty:
        return None
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", None) \
        if isinstance(annotation, type) else str(annotation)
    text = str(text).replace("typing.", "").replace("collections.abc.", "")
    out = []
    for alt in _split_top(text, "|"):
        head, _, inner = alt.partition("[")
        inner = inner[:-1] if inner.endswith("]") else inner
        if head in ("Optional", "Union"):
            sub = _kinds(" | ".join(_split_top(inner, ",")) + (" | None" if head == "Optional" else ""))
            if sub is None:
                return None
            out += sub
            continue
        kind = _KIND_OF.get(head.strip())
        if kind is None:
            return None  # Any, or a type only the component knows: no check
        elem = None
        if kind == "seq" and inner:
            first = _split_top(inner, ",")[0]
            elem = _KIND_OF.get(first) if first in _KIND_OF and _KIND_OF[first] in ("num", "str", "bool") else None
        out.append((kind, elem))
    return out or None


def _kinds_of_default(default) -> list[tuple[str, str | None]] | None:
    """What an unannotated parameter takes, judged by its default: a bool takes bools; a
    number takes a number or a list of numbers (the views' and conditions' [lo, hi] ranges);
    a list or tuple takes a list (of numbers or strings when the default holds only those)."""
    if isinstance(default, bool):
        return [("bool", None)]
    if isinstance(default, numbers.Real):
        return [("num", None), ("seq", "num")]
    if isinstance(default, (list, tuple)):
        return [("seq", _element_kind(default))]
    return None


def _element_kind(values) -> str | None:
    if values and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        return "num"
    if values and all(isinstance(v, str) for v in values):
        return "str"
    return None


def _is(kind: str, value) -> bool:
    if kind == "num":
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "seq":
        return isinstance(value, (list, tuple))
    if kind == "str":
        return isinstance(value, str)
    if kind == "map":
        return isinstance(value, Mapping)
    return value is None


def _shown(value) -> str:
    """A value as an error message quotes it: ``the string '128'``, ``true``, ``nan``, ``a list``."""
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return f"a list {list(value)!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    return repr(value)


def non_finite(value, where: str) -> list[str]:
    """Every NaN or infinite number in ``value`` (nested lists and mappings too), by key path."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            finite = math.isfinite(value)
        except (TypeError, ValueError, OverflowError):
            finite = True
        return [] if finite else [f"{where}: expected a finite number, got {value!r}"]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in non_finite(v, f"{where}.{k}")]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in non_finite(v, f"{where}[{i}]")]
    return []


def param_problems(factory: Callable[..., Any], params: Mapping[str, Any], where: str) -> list[str]:
    """Each parameter of a spec checked against the factory's signature, one message per
    problem naming its key (``heads.mlp.hidden: expected a list, got the string '128'``).

    Generic, with no per-component table: a parameter annotated (or, unannotated, defaulting
    to) a list or tuple refuses a string, which would otherwise be iterated letter by letter;
    a number refuses anything that is not a number (a string, a bool); a bool takes only
    true/false; ``null`` is left to the component. Lists annotated ``Sequence[int]`` (or whose
    default holds only numbers or only strings) have their items checked too. NaN and
    infinities are refused everywhere, nested values included: no component parameter takes
    them (where ``null`` means "no limit", write null)."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        signature = None
    problems = []
    for key, value in params.items():
        at = f"{where}.{key}"
        param = signature.parameters.get(key) if signature is not None else None
        kinds = None
        if param is not None:
            kinds = _kinds(param.annotation)
            if kinds is None and param.annotation is inspect.Parameter.empty \
                    and param.default is not inspect.Parameter.empty:
                kinds = _kinds_of_default(param.default)
            if kinds is not None and param.default is not inspect.Parameter.empty \
                    and any(k == "seq" and e is None for k, e in kinds) and isinstance(param.default, (list, tuple)):
                kinds = [(k, _element_kind(param.default) if k == "seq" and e is None else e) for k, e in kinds]
        typed = kinds is not None and any(k in ("seq", "num", "bool") for k, _ in kinds)
        if typed and value is not None and not any(_is(k, value) for k, _ in kinds):
            wanted = " or ".join(dict.fromkeys(_WANTED[k] for k, _ in kinds if k != "none"))
            problems.append(f"{at}: expected {wanted}, got {_shown(value)}")
            continue
        if typed and isinstance(value, (list, tuple)):
            elems = {e for k, e in kinds if k == "seq"}
            if len(elems) == 1 and (elem := next(iter(elems))) is not None:
                bad = next(((i, v) for i, v in enumerate(value) if not _is(elem, v)), None)
                if bad is not None:
                    problems.append(f"{at}[{bad[0]}]: expected {_WANTED[elem]}, got {_shown(bad[1])}")
                    continue
        problems += non_finite(value, at)
    return problems


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
RESYNTH = Registry("resynth")  # vocoded training spoofs (scaa.workflow.resynth)
CONDITIONS = Registry("conditions")  # channel conditions of eval audio (scaa.dsp.conditions)
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


def module_list(modules, where: str = "plugins") -> list[str]:
    """A list of plugin module names; a single string is refused (iterating it would import
    one module per letter), as is anything else that is not a list of strings."""
    if modules is None:
        return []
    if isinstance(modules, (str, bytes)) or not isinstance(modules, (list, tuple)):
        raise RegistryError(f"{where}: expected a list of module names, got {_shown(modules)} "
                            f"(write [{modules}] for one module)" if isinstance(modules, str) else
                            f"{where}: expected a list of module names, got {_shown(modules)}")
    bad = [m for m in modules if not isinstance(m, str) or not m]
    if bad:
        raise RegistryError(f"{where}: module names must be non-empty strings, got {bad[0]!r}")
    return list(modules)


def load_plugins(modules: list[str] | None) -> None:
    """Import the config's ``plugins:`` modules so their components register.

    A module that fails to import leaves every registry as it was before it started
    (its partial registrations are removed) and raises :class:`RegistryError`; a string
    instead of a list is a :class:`RegistryError` too."""
    for module in module_list(modules):
        before = _snapshot()
        try:
            importlib.import_module(module)
        except Exception as err:  # noqa: BLE001 - the plugin's own error, reported with its name
            _restore(before)
            raise RegistryError(f"plugin module {module!r} could not be imported: "
                                f"{type(err).__name__}: {err}") from err
