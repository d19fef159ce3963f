"""Command-line pieces outside Hydra: ``plugins`` listing and argument preparation."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from automl.registry import Registry

__all__ = [
    "print_plugins",
    "print_help",
    "with_default_data",
    "selected_plugins",
    "check_choices",
]


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

    texts = OmegaConf.load(files("automl.conf").joinpath("hydra/help/automl.yaml"))
    overrides = [a for a in argv if not a.startswith(("-", "hydra.", "+hydra."))]
    with initialize_config_module("automl.conf", version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    groups = {
        "data": data.names(),
        "model": models.names(),
        "recipe": _preset_names("recipe"),
        "sweep": _preset_names("sweep"),
        "trainer": _preset_names("trainer"),
    }
    from automl.commands import commands_help

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
                if name not in registry.plugins:
                    registry.get(name)  # raises PluginError: the reason, or the valid names


def selected_plugins(argv: Sequence[str]) -> list[str]:
    """Names given as ``plugins=[a,b]`` (or ``plugins=a``) on the command line."""
    names: list[str] = []
    for arg in argv:
        if arg.startswith(("plugins=", "+plugins=", "++plugins=")):
            value = arg.split("=", 1)[1].strip().strip("[]")
            names += [n.strip().strip("'\"") for n in value.split(",") if n.strip()]
    return names


def print_plugins(models: Registry, data: Registry, console: Console | None = None) -> int:
    """Print model and data plugins (and failures) without importing any heavy code."""
    from automl.plugin import TASK_METRICS

    if console is None:
        console = Console()
        if not console.is_terminal:  # piped: do not squeeze columns into 80 characters
            console = Console(width=200)
    table = Table(title="model plugins (automl.models)", header_style="bold")
    for col in ("name", "kind", "tasks", "metric", "default data", "package", "description"):
        table.add_column(col)
    for name in models.names():
        info = models.plugins[name]
        p = info.plugin
        metric = (
            f"{p.metric} ({p.direction})"
            if p.metric
            else ", ".join(f"{TASK_METRICS[t][0]} ({TASK_METRICS[t][1]})" for t in p.tasks)
        )
        table.add_row(
            name,
            p.kind,
            "/".join(p.tasks),
            metric,
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
            "",
            f"{fail.package} {fail.version}",
            f"[red]{fail.reason}[/red]",
        )
    console.print(table)
    dtable = Table(title="data plugins (automl.data)", header_style="bold")
    for col in ("name", "package", "description"):
        dtable.add_column(col)
    for name in data.names():
        info = data.plugins[name]
        dtable.add_row(name, f"{info.package} {info.version}", info.plugin.description)
    for name, fail in sorted(data.failures.items()):
        dtable.add_row(name, f"{fail.package} {fail.version}", f"[red]FAILED: {fail.reason}[/red]")
    for name, (package, version) in sorted(data.skipped.items()):
        dtable.add_row(name, f"{package} {version}", "[dim]not loaded (autoload disabled)[/dim]")
    console.print(dtable)
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
    if model in models.plugins:
        # First: argparse takes no positional overrides after options such as `--cfg job`.
        args.insert(0, f"data={models.plugins[model].plugin.default_data}")
    return args
