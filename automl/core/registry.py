"""Entry-point discovery of model and data plugins.

Discovery has two phases. Phase one reads entry-point metadata only (name, import path,
providing distribution). Phase two imports each plugin's *spec* module and validates the value
found there. Spec modules are cheap by contract; the heavy code they name (``build``/``load``)
is imported only when a model is built. A plugin that fails either phase becomes a
``PluginFailure`` with its name, package and reason, and never stops the others: phase two
catches anything the plugin's code raises (``SystemExit`` from a ``sys.exit()`` at import
included; only Ctrl-C goes through), and validation covers what would otherwise fail later,
for every command: a config OmegaConf cannot store, a search space that does not fit it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from automl.core.errors import PluginError
from automl.core.plugin import DataPlugin, ModelPlugin

__all__ = [
    "AUTOLOAD_ENV",
    "BUILTIN_PACKAGE",
    "autoload_disabled",
    "MODEL_GROUP",
    "DATA_GROUP",
    "PluginInfo",
    "PluginFailure",
    "Registry",
    "discover",
    "discover_models",
    "discover_data",
    "lookalike_groups",
    "closest_group",
]

MODEL_GROUP = "automl.models"
DATA_GROUP = "automl.data"
AUTOLOAD_ENV = "AUTOML_DISABLE_PLUGIN_AUTOLOAD"
BUILTIN_PACKAGE = "automl"


def autoload_disabled() -> bool:
    """True when ``AUTOML_DISABLE_PLUGIN_AUTOLOAD`` is set (pytest's convention): only the
    built-ins and plugins named in ``plugins=[...]`` are loaded."""
    import os

    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in ("", "0", "false", "no")


P = TypeVar("P", ModelPlugin, DataPlugin)


@dataclass(frozen=True)
class PluginInfo(Generic[P]):
    """A plugin that loaded and validated, with where it came from."""

    name: str
    plugin: P
    value: str
    package: str
    version: str


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be used, and why (shown by ``python -m automl plugins``)."""

    name: str
    value: str
    package: str
    version: str
    reason: str

    def message(self) -> str:
        """One line: which plugin, from which package, failed how."""
        return (
            f"plugin '{self.name}' from package {self.package} {self.version} failed: {self.reason}"
        )


def _dist(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "<unknown>", "?"
    return dist.metadata["Name"] or "<unknown>", dist.version or "?"


@dataclass
class Registry(Generic[P]):
    """The plugins of one entry-point group: those that work and those that failed."""

    group: str
    kind: str
    plugins: dict[str, PluginInfo[P]] = field(default_factory=dict)
    failures: dict[str, PluginFailure] = field(default_factory=dict)
    skipped: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Plugins seen in metadata but not loaded (autoload disabled): name -> (package, version)."""

    def names(self) -> list[str]:
        """Names of the working plugins, sorted."""
        return sorted(self.plugins)

    def get(self, name: str) -> P:
        """The plugin called ``name``.

        Raises:
            PluginError: One line naming the failure reason, or the available names.
        """
        if name in self.plugins:
            return self.plugins[name].plugin
        if name in self.failures:
            raise PluginError(self.failures[name].message())
        if name in self.skipped:
            package, version = self.skipped[name]
            raise PluginError(
                f"{self.kind} '{name}' from package {package} {version} is not loaded because "
                f"{AUTOLOAD_ENV} is set; add plugins=[{name}] or unset {AUTOLOAD_ENV}"
            )
        raise PluginError(
            f"unknown {self.kind} '{name}'; available: {', '.join(self.names()) or '(none)'}. "
            "Run 'python -m automl plugins' to see every plugin and why any failed"
        )

    def info(self, name: str) -> PluginInfo[P]:
        """Provenance of a working plugin."""
        self.get(name)
        return self.plugins[name]


def _load_one(ep: EntryPoint, expected: type[P]) -> P:
    value = ep.load()
    if not isinstance(value, expected):
        raise PluginError(
            f"entry point {ep.value!r} is a {type(value).__name__}, not a {expected.__name__}"
        )
    if value.name != ep.name:
        raise PluginError(
            f"entry point is named '{ep.name}' but the plugin calls itself '{value.name}'; "
            "they must match"
        )
    value.validate()
    return value


def _failure_reason(exc: BaseException) -> str:
    """One line for a plugin's FAILED row, whatever the plugin raised."""
    if isinstance(exc, SystemExit):
        return (
            f"SystemExit({exc.code!r}) while loading: the plugin's module calls sys.exit() "
            "(or exit()) at import; it must only define the plugin"
        )
    try:
        text = str(exc).strip()
    except Exception:  # a broken __str__ must not break discovery either
        text = ""
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, PluginError):
        return first
    return f"{type(exc).__name__}: {first}".rstrip(": ")


def discover(
    group: str,
    expected: type[P],
    eps: Iterable[EntryPoint] | None = None,
    only: Collection[str] | None = None,
) -> Registry[P]:
    """Find, load and validate every plugin of an entry-point group.

    Args:
        group: Entry-point group, ``automl.models`` or ``automl.data``.
        expected: The plugin class the entry point must export.
        eps: Entry points to use instead of the installed ones (tests build them directly).
        only: When given, load only automl's built-ins and plugins whose name or package is
            listed; the others are recorded as skipped and none of their code is imported.

    Returns:
        A ``Registry`` with working plugins and named failures; never raises for one plugin.
    """
    kind = "model" if expected is ModelPlugin else "data set"
    found = list(entry_points(group=group) if eps is None else eps)
    registry: Registry[P] = Registry(group=group, kind=kind)

    # Phase one: metadata only. The same distribution can be seen twice (an editable and a
    # regular install on one path); that is not a conflict, two distributions are.
    by_name: dict[str, list[EntryPoint]] = {}
    for ep in found:
        same = by_name.setdefault(ep.name, [])
        if not any(_dist(other) == _dist(ep) and other.value == ep.value for other in same):
            same.append(ep)

    for name, candidates in sorted(by_name.items()):
        if only is not None:
            allowed = [
                ep
                for ep in candidates
                if _dist(ep)[0] == BUILTIN_PACKAGE or name in only or _dist(ep)[0] in only
            ]
            if not allowed:
                registry.skipped[name] = _dist(candidates[0])
                continue
            candidates = allowed
        if len(candidates) > 1:
            who = " and ".join(f"{p} {v} ({ep.value})" for ep in candidates for p, v in [_dist(ep)])
            package, version = _dist(candidates[0])
            registry.failures[name] = PluginFailure(
                name,
                candidates[0].value,
                package,
                version,
                f"the name '{name}' is provided by {who}; uninstall one of these packages",
            )
            continue
        ep = candidates[0]
        package, version = _dist(ep)
        # Phase two: import the spec module and validate the value.
        try:
            plugin = _load_one(ep, expected)
        except KeyboardInterrupt:
            raise  # the user's Ctrl-C, not the plugin's failure
        except BaseException as exc:  # third-party code: SystemExit included
            reason = _failure_reason(exc)
            registry.failures[name] = PluginFailure(name, ep.value, package, version, reason)
            continue
        registry.plugins[name] = PluginInfo(name, plugin, ep.value, package, version)
    return registry


def lookalike_groups() -> dict[str, list[tuple[str, str, str]]]:
    """Entry-point groups that look like automl's but are not (``automl.model``,
    ``automl_models``, ``automl.dataset``): nothing in them is loaded, so a misspelt group
    makes a plugin silently absent.

    Returns:
        Group -> its entry points as ``(name, package, version)``.
    """
    import difflib
    from importlib.metadata import distributions

    ours = (MODEL_GROUP, DATA_GROUP)
    found: dict[str, list[tuple[str, str, str]]] = {}
    for dist in distributions():
        for ep in dist.entry_points:
            group = ep.group
            if group in ours:
                continue
            plain = group.lower().replace("_", ".").replace("-", ".")
            if not (
                plain.startswith("automl")
                or difflib.get_close_matches(plain, ours, n=1, cutoff=0.8)
            ):
                continue
            who = (ep.name, dist.metadata["Name"] or "<unknown>", dist.version or "?")
            if who not in found.setdefault(group, []):
                found[group].append(who)
    return found


def closest_group(group: str) -> str:
    """The group of automl's that ``group`` most likely meant."""
    import difflib

    plain = group.lower().replace("_", ".").replace("-", ".")
    scores = {g: difflib.SequenceMatcher(None, plain, g).ratio() for g in (MODEL_GROUP, DATA_GROUP)}
    return max(scores, key=scores.__getitem__)


def discover_models(
    eps: Iterable[EntryPoint] | None = None, only: Collection[str] | None = None
) -> Registry[ModelPlugin]:
    """Discover the ``automl.models`` group (see ``discover`` for ``only``)."""
    return discover(MODEL_GROUP, ModelPlugin, eps, only)


def discover_data(
    eps: Iterable[EntryPoint] | None = None, only: Collection[str] | None = None
) -> Registry[DataPlugin]:
    """Discover the ``automl.data`` group (see ``discover`` for ``only``)."""
    return discover(DATA_GROUP, DataPlugin, eps, only)
