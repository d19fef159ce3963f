"""Regenerate the config/space tables of docs/models.md from the installed plugins.

python scripts/gen_model_docs.py          # rewrite the generated blocks in place
python scripts/gen_model_docs.py --check  # exit 1 if the page is stale (the tests run this)
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "models.md"
BLOCK = re.compile(
    r"(<!-- generated:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.S
)


def table(name: str) -> str:
    """Markdown table of a plugin's config fields, defaults and default search space."""
    from automl.core.plugin import TASK_METRICS
    from automl.core.registry import discover_models
    from automl.core.space import describe

    plugin = discover_models().get(name)
    metric = (
        f"`{plugin.metric}` ({plugin.direction})"
        if plugin.metric
        else ", ".join(
            f"`{TASK_METRICS[t][0]}` ({TASK_METRICS[t][1]}) for {t}" for t in plugin.tasks
        )
    )
    reads = {"signal": "channels x length", "sequence": "steps x features"}
    layout = f" (rank 2 read as {reads[plugin.layout]})" if plugin.layout else ""
    lines = [
        f"kind `{plugin.kind}` · tasks {', '.join(plugin.tasks)} · per-sample rank "
        f"{'/'.join(map(str, plugin.input_ranks))}{layout} · metric {metric} · default data "
        f"`{plugin.default_data}`",
        "",
        "| field | default | searched over |",
        "| --- | --- | --- |",
    ]
    for f in dataclasses.fields(plugin.config):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        space = describe(plugin.search_space[f.name]) if f.name in plugin.search_space else ""
        lines.append(f"| `{f.name}` | `{default!r}` | {space} |")
    return "\n".join(lines) + "\n"


def render(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + table(m["name"]) + m.group(4), text)


def main(argv: list[str]) -> int:
    text = DOC.read_text()
    new = render(text)
    if "--check" in argv:
        if new != text:
            print("docs/models.md is stale: run python scripts/gen_model_docs.py")
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
