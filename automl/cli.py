"""Command-line pieces outside Hydra: ``plugins`` listing and argument preparation."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from automl.registry import Registry

__all__ = ["print_plugins", "with_default_data", "selected_plugins", "check_choices"]


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
