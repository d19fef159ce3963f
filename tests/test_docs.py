"""Docs that cannot rot: code blocks that name a file must match that file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
BLOCK = re.compile(r"```(?:python|toml)\n# file: (?P<path>\S+)\n(?P<body>.*?)\n```", re.S)


def blocks(doc: str):
    return [(m["path"], m["body"]) for m in BLOCK.finditer((ROOT / doc).read_text())]


def test_plugin_guide_shows_the_example_package():
    found = blocks("docs/plugins.md")
    assert len(found) >= 5
    for path, body in found:
        assert body.strip() in (ROOT / path).read_text(), (
            f"docs/plugins.md block for {path} is stale"
        )


@pytest.mark.parametrize(
    "doc", ["README.md", "docs/quickstart.md", "docs/sweeps.md", "docs/plugins.md"]
)
def test_documented_recipes_and_models_exist(doc):
    from automl.core.registry import discover_models

    text = (ROOT / doc).read_text()
    recipes = {p.stem for p in (ROOT / "sweeps").glob("*.yaml")}
    for name in re.findall(r"\+recipe=(\w+)", text):
        assert name in recipes or name in ("mine", "NAME"), name
    models = set(discover_models().names())
    for name in re.findall(r"model=(\w+)", text):
        # model=auto is the search across families (automl.study.families), not a plugin.
        assert name in models or name in ("their", "name", "auto"), name


def test_models_page_covers_every_builtin_and_is_current():
    import subprocess
    import sys

    from automl.core.registry import discover_models

    text = (ROOT / "docs" / "models.md").read_text()
    builtin = [
        n for n in discover_models().names() if discover_models().info(n).package == "automl"
    ]
    for name in builtin:
        assert f"<!-- generated:{name} -->" in text, f"docs/models.md has no section for {name}"
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_model_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout


def test_the_skops_example_saves_and_loads_a_model_without_pickle(tmp_path):
    import types

    import skops.io
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    from automl.core.errors import ExportError

    text = (ROOT / "docs" / "plugins.md").read_text()
    section = text.split("### Saving a scikit-learn model without pickle", 1)[1]
    code = re.search(r"```python\n(.*?)\n```", section, re.S)[1]
    module = types.ModuleType("skops_example")
    exec(compile(code, "docs/plugins.md", "exec"), module.__dict__)
    x, y = load_wine(return_X_y=True)
    cfg = types.SimpleNamespace(c=1.0)
    model = module.Logistic(cfg, None)
    reported = []
    model.fit((x[:120], y[:120]), (x[120:], y[120:]), lambda step, v: reported.append(v))
    assert len(reported) == 1 and 0.0 <= reported[0] <= 1.0
    model.save(str(tmp_path))
    loaded = module.load(str(tmp_path), cfg, None)
    assert (loaded.predict(x) == model.predict(x)).all()
    # A file that names a type the plugin never writes (a tree's Cython state) is refused.
    skops.io.dump(DecisionTreeClassifier().fit(x, y), tmp_path / "model.skops")
    with pytest.raises(ExportError, match="sklearn.tree._tree.Tree"):
        module.load(str(tmp_path), cfg, None)
