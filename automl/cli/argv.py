"""Command-line pieces outside Hydra: ``plugins`` listing and argument preparation."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from automl.core.errors import UserError
from automl.core.registry import Registry
from automl.study.families import AUTO, AUTO_DEFAULT_DATA

if TYPE_CHECKING:
    from omegaconf import DictConfig


__all__ = [
    "print_plugins",
    "print_help",
    "with_default_data",
    "selected_plugins",
    "check_choices",
    "check_overrides",
    "plugins_command",
]

# Config groups: `group=option` picks a config, it does not set a key.
_GROUPS = ("data", "model", "space", "sweep", "trainer", "recipe")


def _preset_names(group: str) -> list[str]:
    from importlib.resources import files

    folder = files("automl.conf").joinpath(group)
    return sorted(
        p.name.removesuffix(".yaml")
        for p in folder.iterdir()
        if p.name.endswith(".yaml") and not p.name.startswith("base_")
    )


def print_help(argv: Sequence[str], models: Registry, data: Registry) -> int:
    """``--help``: the groups and the composed config, in about a second.

    Hydra's own help deep-copies the whole config repository once per config group it lists
    (seconds with a dozen plugins); one compose is enough. ``--hydra-help`` still shows
    Hydra's options.
    """
    from importlib.resources import files

    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    texts = OmegaConf.create(files("automl.conf").joinpath("hydra/help/automl.yaml").read_text())
    overrides = [a for a in argv if not a.startswith(("-", "hydra.", "+hydra."))]
    with initialize_config_module("automl.conf", version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    groups = {
        "data": data.names(),
        "model": [*models.names(), AUTO],
        "recipe": _preset_names("recipe"),
        "sweep": _preset_names("sweep"),
        "trainer": _preset_names("trainer"),
    }
    from automl.cli.commands import commands_help

    out = [
        texts.header,
        "",
        "== Commands ==",
        *commands_help(),
        "  python -m automl --version",
        "",
        "== Configuration groups ==",
        "Compose your configuration from those groups (group=option)",
        "",
    ]
    out += [f"{group}: {', '.join(names)}" for group, names in groups.items()]
    out += ["", "== Config ==", "Override anything in the config (foo.bar=value)", ""]
    out += [OmegaConf.to_yaml(cfg), texts.footer]
    print("\n".join(out))
    return 0


def check_choices(argv: Sequence[str], models: Registry, data: Registry) -> None:
    """Fail early, in one line, when argv picks a plugin that is unknown or did not load.

    Hydra only knows the plugins that loaded, so it would answer "Could not find model/x"
    with its search path and without saying why; ``Registry.get`` names the package and the
    reason, or lists the available names.
    """
    for arg in argv:
        for prefix, registry in (("model=", models), ("data=", data)):
            if arg.startswith(prefix):
                name = arg.split("=", 1)[1]
                if prefix == "model=" and name == AUTO:
                    continue  # the search across model families (automl.study.families)
                if name not in registry.plugins:
                    registry.get(name)  # raises PluginError: the reason, or the valid names


def _keys(node: Any, prefix: str = "") -> list[str]:
    """Every dotted key of a composed config (inner nodes and leaves)."""
    from omegaconf import DictConfig

    out = []
    for key in node.keys():
        path = f"{prefix}{key}"
        out.append(path)
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            out.extend(_keys(child, path + "."))
    return out


def _has(node: object, parts: list[str]) -> tuple[bool, Any, int]:
    """Whether the dotted path exists; the deepest node reached and how many parts matched."""
    from omegaconf import DictConfig

    for i, part in enumerate(parts):
        if not isinstance(node, DictConfig) or part not in node:
            return False, node, i
        node = node._get_node(part)
    return True, node, len(parts)


def _space_message(key: str, value: str, cfg: DictConfig) -> str:
    name = key.removeprefix("space.")
    model = cfg.hydra.runtime.choices.get("model", "the model")
    searched = ", ".join(sorted(cfg.space.keys())) or "nothing"
    fields = _keys(cfg.model)
    if name not in fields:
        close = difflib.get_close_matches(name, fields, n=1)
        return (
            f"{key}={value}: model {model} has no setting '{name}'"
            + (f" (did you mean {close[0]}?)" if close else f"; its settings: {', '.join(fields)}")
            + f"; it searches {searched}"
        )
    return (
        f"{key}={value}: model {model} does not search '{name}'; it searches {searched}. "
        f"To fix {name} for every trial set model.{name}={value}; to search it too add "
        f"'+space.{name}={{type:choice,choices:[...]}}' (or {{type:float,low:...,high:...}})"
    )


def check_overrides(argv: Sequence[str]) -> None:
    """Fail early, in one line, when an override names a key the config does not have or a
    value its type refuses.

    Hydra answers a typo (``sweep.n_trails=5``) with exit 1 and the advice to add the key
    with ``+``, which would run with the typo ignored, and a wrong value (``sweep.n_trials=abc``,
    ``sweep.sampler=bayes``) with several lines. This composes the config once (as Hydra is
    about to) and, only when that fails, names the closest valid key, or the type or the
    choices the key takes; pinning a parameter the model does not search
    (``space.NAME=VALUE``) lists what it does search. Call it after ``register_configs`` and
    ``with_default_data``. (Keys added with ``+`` are checked against the schema by
    ``automl.study.keys``, once the config is composed.)

    Raises:
        UserError: Naming the key, the closest valid one (or the valid ones) and what to do.
    """
    from hydra import compose, initialize_config_module
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if any(a in ("-cn", "--config-name", "-cd", "--config-dir") for a in argv) or any(
        a.startswith(("--config-name=", "--config-dir=")) for a in argv
    ):
        return  # another primary config: Hydra checks it
    args = [a for a in argv if not a.startswith("-") and "=" in a and a.split("=", 1)[0]]
    args = [a for a in args if not a.startswith(("hydra.", "+hydra.", "++hydra.", "hydra/"))]
    if not args:
        return  # the shipped config composes
    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except HydraException:
        _check_constraint_quotes(args)
        return  # a syntax error: Hydra's own message says where
    plain = [
        o
        for o in overrides
        if o.is_force_add() is False
        and not o.is_add()
        and not o.is_delete()
        and o.key_or_group not in _GROUPS
        and "/" not in o.key_or_group
    ]
    if all(
        o.key_or_group in _GROUPS and o.key_or_group != "recipe" and not o.is_add()
        for o in overrides
    ):
        return  # group choices only (model=forest): check_choices named them; nothing to type
    with initialize_config_module("automl.conf", version_base="1.3"):
        try:
            compose("config", overrides=args)
            return
        except (HydraException, OmegaConfBaseException) as exc:
            failure: BaseException = exc  # find which override it was, below
        choices = [a for a in args if a not in {o.input_line for o in plain}]
        try:
            cfg = compose("config", overrides=choices, return_hydra_config=True)
        except (HydraException, OmegaConfBaseException):
            cfg = None  # a group choice or a recipe fails: its value may be named below
    if cfg is not None:
        _check_keys(plain, cfg)
    _check_value(failure, overrides, cfg)


def _check_keys(plain: Sequence[Any], cfg: DictConfig) -> None:
    """Raise for the first override whose key the composed config does not have."""
    from omegaconf import OmegaConf

    for o in plain:
        key, value = o.key_or_group, o.get_value_element_as_str()
        parts = key.split(".")
        found, parent, depth = _has(cfg, parts)
        if found:
            continue
        if parts[0] == "space" and depth == 1:
            raise UserError(_space_message(key, value, cfg))
        if 0 < depth == len(parts) - 1 and OmegaConf.get_type(parent) is dict:
            where = ".".join(parts[:depth])
            raise UserError(
                f"{key}={value}: {where} has no key '{parts[-1]}' yet; add it with +{key}={value}"
            )
        scope = ".".join(parts[:depth])
        siblings = [str(k) for k in parent.keys() if not str(k).startswith("hydra")]
        close = difflib.get_close_matches(parts[depth], siblings, n=1, cutoff=0.6)
        prefix = f"{scope}." if scope else ""
        if close:
            hint = f"did you mean {prefix}{close[0]}?"
        else:
            hint = f"valid keys{' under ' + scope if scope else ''}: {', '.join(siblings)}"
        raise UserError(f"{key}={value}: no such setting; {hint}")


_TYPE_WORDS = {
    "Integer": "a whole number",
    "Float": "a number",
    "Boolean": "true or false",
    "Bool": "true or false",
    "String": "a string",
}


def _validation_error(exc: BaseException | None) -> Any:
    """The OmegaConf ``ValidationError`` behind a Hydra composition failure, if any."""
    from omegaconf.errors import ValidationError

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ValidationError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _check_value(failure: BaseException, overrides: Sequence[Any], cfg: DictConfig | None) -> None:
    """Raise one line for a value its key's type refuses: a choice that is not one of the
    valid names (``sweep.sampler=bayes``), text for a number (``sweep.n_trials=abc``)."""
    import re

    from omegaconf import OmegaConf

    error = _validation_error(failure)
    key = str(getattr(error, "full_key", "") or "")
    if error is None or not key:
        return  # not a value of a known key: Hydra's message stands
    msg = str(getattr(error, "msg", "") or str(error)).strip().splitlines()[0]
    quoted = re.search(r"'(.*?)'", msg)
    values = [o.get_value_element_as_str() for o in overrides if o.key_or_group == key]
    # The refused one of the overrides that set the key (Hydra applies them in order).
    given = next((v for v in values if quoted and v == quoted.group(1)), None)
    given = given if given is not None else (values[-1] if values else None)
    choices = re.fullmatch(r"Invalid value '(.*)', expected one of \[(.*)\]", msg)
    if choices:
        value = given if given is not None else choices.group(1)
        raise UserError(f"{key}={value!r} is not one of {choices.group(2)}")
    converted = re.fullmatch(
        r"Value '(.*)' (?:of type '\w+' could not be converted to (\w+)|is not a valid (\w+).*)",
        msg,
    )
    if converted:
        value = given if given is not None else converted.group(1)
        kind = converted.group(2) or converted.group(3)
        what = _TYPE_WORDS.get(kind, _TYPE_WORDS.get(kind.capitalize(), kind))
        example = OmegaConf.select(cfg, key, default=None) if cfg is not None else None
        if isinstance(example, bool):
            example = str(example).lower()  # as the command line writes it
        hint = f", e.g. {key}={example}" if example is not None else ""
        raise UserError(f"{key}={value}: {key} takes {what}{hint}")
    shown = f"={given}" if given is not None else ""
    raise UserError(f"{key}{shown}: {msg}")


def _check_constraint_quotes(args: Sequence[str]) -> None:
    """``sweep.constraints=[n_params<=2000]`` is a Hydra syntax error (``<`` must be quoted):
    say how to write it, in one line, instead of Hydra's parser trace."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    for arg in args:
        if arg.lstrip("+").startswith("sweep.constraints=") and any(c in arg for c in "<>"):
            try:
                OverridesParser.create().parse_overrides([arg])
            except HydraException:
                raise UserError(
                    f"{arg}: quote each constraint, inside the shell's quotes: "
                    '\'sweep.constraints=["n_params<=200000","latency_ms<=2"]\''
                ) from None


def selected_plugins(argv: Sequence[str]) -> list[str]:
    """Names given as ``plugins=[a,b]`` (or ``plugins=a``) on the command line."""
    names: list[str] = []
    for arg in argv:
        if arg.startswith(("plugins=", "+plugins=", "++plugins=")):
            value = arg.split("=", 1)[1].strip().strip("[]")
            names += [n.strip().strip("'\"") for n in value.split(",") if n.strip()]
    return names


def _objective_text(plugin: Any) -> str:
    """``acc↑ rmse↓``: the metric of each task the model takes (↑ maximized, ↓ minimized)."""
    from automl.core.plugin import TASK_METRICS

    arrow = {"maximize": "↑", "minimize": "↓"}
    if plugin.metric:
        return f"{plugin.metric}{arrow.get(plugin.direction, '')}"
    return " ".join(f"{TASK_METRICS[t][0]}{arrow[TASK_METRICS[t][1]]}" for t in plugin.tasks)


def _package_width(texts: list[str], width: int) -> int:
    """Width of the package column: whole ``name version`` on a wide console or when short,
    else the longest word (the version wraps under the name; a name is never cut)."""
    limit = 40 if width >= 120 else 24
    return max((len(t) if len(t) <= limit else max(map(len, t.split())) for t in texts), default=7)


def _plugin_table(title: str, caption: str | None = None) -> Table:
    from rich import box

    return Table(
        title=title,
        caption=caption,
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        title_justify="left",
        caption_justify="left",
    )


def print_plugins(models: Registry, data: Registry, console: Console | None = None) -> int:
    """Print model and data plugins (and failures) without importing any heavy code.

    Fits 100 columns without cutting a name: names, metrics and default data never wrap, a
    package wraps only between its name and version, descriptions take what is left.
    """
    if console is None:
        console = Console()
        if not console.is_terminal:  # piped: do not squeeze columns into 80 characters
            console = Console(width=200)
    table = _plugin_table(
        "model plugins (automl.models)",
        "metric: what the study optimizes per task (↑ maximized, ↓ minimized); "
        "kind: lightning (torch) or estimator",
    )
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("kind", no_wrap=True)
    table.add_column("metric", no_wrap=True)
    table.add_column("default data", no_wrap=True)
    packages = [f"{i.package} {i.version}" for i in models.plugins.values()]
    packages += [f"{f.package} {f.version}" for f in models.failures.values()]
    table.add_column("package", max_width=_package_width(packages, console.width))
    table.add_column("description", min_width=24, ratio=1)
    for name in models.names():
        info = models.plugins[name]
        p = info.plugin
        table.add_row(
            name,
            p.kind,
            _objective_text(p),
            p.default_data,
            f"{info.package} {info.version}",
            p.description,
        )
    for name, fail in sorted(models.failures.items()):
        table.add_row(
            name,
            "[red]FAILED[/red]",
            "",
            "",
            f"{fail.package} {fail.version}",
            f"[red]{fail.reason}[/red]",
        )
    console.print(table)
    dtable = _plugin_table("data plugins (automl.data)")
    dtable.add_column("name", no_wrap=True, style="bold")
    packages = [f"{i.package} {i.version}" for i in data.plugins.values()]
    packages += [f"{f.package} {f.version}" for f in data.failures.values()]
    packages += [f"{p} {v}" for p, v in data.skipped.values()]
    dtable.add_column("package", max_width=_package_width(packages, console.width))
    dtable.add_column("description", min_width=24, ratio=1)
    for name in data.names():
        info = data.plugins[name]
        dtable.add_row(name, f"{info.package} {info.version}", info.plugin.description)
    for name, fail in sorted(data.failures.items()):
        dtable.add_row(name, f"{fail.package} {fail.version}", f"[red]FAILED: {fail.reason}[/red]")
    for name, (package, version) in sorted(data.skipped.items()):
        dtable.add_row(name, f"{package} {version}", "[dim]not loaded (autoload disabled)[/dim]")
    console.print(dtable)
    from automl.core.registry import closest_group, lookalike_groups

    for group, eps in sorted(lookalike_groups().items()):
        who = ", ".join(sorted({f"{p} {v}" for _, p, v in eps}))
        console.print(
            f"note: {who} declares entry points in group '{group}' "
            f"({', '.join(n for n, _, _ in eps)}), which automl "
            f"does not read; did you mean '{closest_group(group)}'? Rename the group in the "
            "package's pyproject.toml and reinstall it",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    return 0


def with_default_data(argv: Sequence[str], models: Registry) -> list[str]:
    """Add ``data=<the model's default data>`` unless the user chose data themselves.

    Hydra cannot let one group's choice pick another group's default from a config stored in
    Python (an ``override /data`` there is not honoured), so the choice is made here, where
    it is visible in ``.hydra/overrides.yaml``.
    """
    args = list(argv)
    if any(a.startswith(("data=", "+data=", "++data=", "+recipe=", "recipe=")) for a in args):
        return args  # chosen by the user, or by a recipe's own defaults list
    if any(
        a in ("-cn", "--config-name", "-cd", "--config-dir")
        or a.startswith(("--config-name=", "--config-dir="))
        for a in args
    ):
        return args  # a recipe config chooses its own data
    model = "cnn"
    for a in args:
        if a.startswith("model="):
            model = a.split("=", 1)[1]
    if model == AUTO:
        args.insert(0, f"data={AUTO_DEFAULT_DATA}")
    elif model in models.plugins:
        # First: argparse takes no positional overrides after options such as `--cfg job`.
        args.insert(0, f"data={models.plugins[model].plugin.default_data}")
    return args


def plugins_command(argv: Sequence[str]) -> int:
    """``python -m automl plugins``: the plugin tables (``plugins=[x]`` with autoload off)."""
    from automl.core.registry import autoload_disabled, discover_data, discover_models

    only = set(selected_plugins(argv)) if autoload_disabled() else None
    return print_plugins(discover_models(only=only), discover_data(only=only))


# Hydra's flags that take a value (the value is not an override).
_VALUED_FLAGS = ("--cfg", "-c", "--package", "-p", "--config-name", "-cn", "--config-dir", "-cd")


def composed_choices(args: Sequence[str]) -> str | None:
    """``# model=cnn data=digits sweep=optuna trainer=default``: what ``--cfg job`` composed,
    as a YAML comment to print above Hydra's config (which names no group it chose);
    ``None`` when the command cannot be composed (Hydra then says why)."""
    from hydra import compose, initialize_config_module

    from automl.study.config import CONFIG_NAME

    overrides, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in _VALUED_FLAGS:
            skip = True
        elif not arg.startswith("-"):
            overrides.append(arg)
    try:
        with initialize_config_module("automl.conf", version_base="1.3"):
            cfg = compose(CONFIG_NAME, overrides=overrides, return_hydra_config=True)
        choices = dict(cfg.hydra.runtime.choices)
    except Exception:  # a bad override: Hydra's own run reports it
        return None
    shown = [f"{group}={choices[group]}" for group in ("model", "data", "sweep", "trainer")
             if choices.get(group)]  # fmt: skip
    recipe = choices.get("recipe")
    return "# composed: " + " ".join(shown) + (f" (recipe {recipe})" if recipe else "")
