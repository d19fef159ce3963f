"""The end-to-end matrix's cases, generated from automl's own registries.

Like timm's model tests (one test per name ``list_models()`` returns), the axes are read from
the code, not copied into the tests: a sampler, pruner, built-in model family or data plugin
added later gets a case (or fails ``test_every_value_of_every_axis_has_a_case`` until the
settings that make it tiny are written down here).

Axes and how the cases were chosen (the full cross product is thousands of studies; the cases
below put every value of every axis in at least one case, and every pair of sampler x
objective kind in exactly one):

- **sampler x objective kind** (``SAMPLERS`` x {one objective, two objectives,
  ``model=auto``}): all pairs, 3 trials each. The one- and two-objective cases spread the
  built-in model families over the samplers (``SAMPLER_FAMILY``: every family at least once,
  the costly torch families with the samplers that cost least per trial); ``model=auto``
  searches ``linear`` and ``xgboost`` (the cheapest families) with the defaults not enqueued,
  so the sampler draws every trial. Pairs automl refuses
  (``REFUSED``) must be refused in one line with exit 2.
- **pruner** (``PRUNERS``): one case each, on a family that reports several steps, with the
  pruner's start-up and warm-up at zero so it can act from the second trial on;
  ``wilcoxon`` on 5 folds (it compares folds); ``threshold`` with a bound no trial reaches
  prunes every trial (a study with no complete trial: exit 1, no ``best/``).
- **model family** (the built-in plugins: those ``automl`` itself registers): covered by the
  rotations above; each family's tiny settings are ``TINY``.
- **data plugin** (every registered one): the built-ins appear as the families' home data;
  ``npz``, ``csv``, ``images`` get files the session makes; any other plugin (the example
  package's ``waves``, a new one) gets an ``mlp`` study on its defaults.
- **storage x workers x launcher** ({SQLite, journal, PostgreSQL} x {1, 2} x {local,
  submitit's local executor}): six cases that hold every pair of the three axes
  (``FLEET``).
- **engine**: ``sweep=none`` for a torch and an estimator family.
- **results**: every case that exports runs ``predict`` and ``watch`` on its run directory
  and loads ``best/`` (or ``single/``) with ``automl.predictor.load_best``; ``serve`` (a real
  server, a real HTTP client) runs on a classifier (on PostgreSQL), a regressor, a generator
  (``/generate``), ``model=auto`` and ``sweep=none``; ``report`` on a pruned torch study, a
  Pareto front, a grid and ``model=auto``.
- **edges**: a grid run to its last point, a grid smaller than ``sweep.n_trials``, a budget
  smaller than the grid, a space of one point, a study whose every trial fails.

``SLICE`` names the few cases the default ``bash scripts/test`` runs; ``.ci/run`` runs all of
them (``-m matrix``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from automl.core.registry import BUILTIN_PACKAGE, discover_data, discover_models
from automl.study.search import PRUNERS, SAMPLERS

__all__ = [
    "Case",
    "AXES",
    "OBJECTIVE_KINDS",
    "REFUSED",
    "SLICE",
    "TINY",
    "builtin_families",
    "data_plugins",
    "cases",
]

OBJECTIVE_KINDS = ("one", "two", "auto")
STORAGES = ("sqlite", "journal", "postgres")
WORKERS = (1, 2)
LAUNCHERS = ("local", "slurm-local")
ENGINES = ("optuna", "none")
COMMANDS = ("serve", "predict", "report", "watch")
RESULTS = ("predict", "watch")
"""What runs on every case that exports (``serve`` and ``report`` run where a case lists them)."""

REFUSED = {
    # model=auto's space is conditional (a family's parameters exist only in its trials).
    ("gp", "auto"): "cannot search model=auto's conditional space",
    ("cmaes", "auto"): "cannot search model=auto's conditional space",
    ("qmc", "auto"): "cannot search model=auto's conditional space",
    ("grid", "auto"): "cannot search model=auto's conditional space",
    ("cmaes", "two"): "cmaes optimizes one objective",
}
"""Sampler x objective kind pairs automl refuses before anything runs, and why."""

# What makes each built-in family's trial take about a second: its home data, and settings.
TINY: dict[str, tuple[str, list[str]]] = {
    "cnn": ("digits", ["trainer.max_epochs=2", "space.batch_size=128", "space.channels=16"]),
    "gan": ("digits", ["trainer.max_epochs=2", "space.batch_size=128", "space.width=32"]),
    "mlp": ("wine", ["trainer.max_epochs=2"]),
    "rnn": ("digits_seq", ["trainer.max_epochs=2", "space.batch_size=128", "space.hidden=32"]),
    "xgboost": ("wine", ["model.n_estimators=30"]),
    "forest": ("wine", ["space.n_estimators=10"]),
    "linear": ("wine", []),
}

# Arguments that let 3 trials reach each sampler's model (not only its random start-up).
SAMPLER_ARGS: dict[str, list[str]] = {
    "tpe": ["+sweep.sampler_args.n_startup_trials=2"],
    "gp": ["+sweep.sampler_args.n_startup_trials=2"],
    "grid": ["+sweep.sampler_args.grid_points=2"],
    "nsga2": ["+sweep.sampler_args.population_size=2"],
}

AUTO_FAMILIES = ("linear", "xgboost")
AUTO_TINY = ["model.xgboost.n_estimators=30", "data.folds=0", "sweep.enqueue_defaults=false"]

# Data plugins that read files: the session's files (matrix_checks.data_files) fill {files}.
FILE_DATA: dict[str, tuple[str, list[str]]] = {
    "npz": ("cnn", ["data.path={files}/signals.npz", "data.layout=signal"]),
    "csv": ("forest", ["data.path={files}/table.csv", "data.target=label"]),
    "images": ("cnn", ["data.path={files}/pictures", "data.size=8"]),
}
# Settings that keep a known third-party data plugin small (others run on their defaults).
SMALL_DATA: dict[str, list[str]] = {"waves": ["data.n_samples=300"]}


@dataclass(frozen=True)
class Case:
    """One end-to-end study (or refusal) and what a user relies on afterwards.

    Attributes:
        id: The test id.
        args: The command line after ``python -m automl``; ``{run}``, ``{files}`` and
            ``{postgres}`` are filled in when it runs.
        refused: Words of the one-line error when the command must be refused (exit 2).
        rc: The exit code otherwise.
        trials: How many finished trials the storage must hold (``None``: ``sweep.n_trials``).
        states: The states those trials may have.
        distinct: Every trial's parameters differ from every other's.
        export: ``best`` (a study's), ``single`` (``sweep=none``) or ``None`` (none written).
        commands: What runs on the results (``predict`` and ``watch`` whenever it exports).
        notes: Words the command's output must hold.
        plugins: Test plugins to install for the case (``fake_plugins`` entry points).
    """

    id: str
    args: tuple[str, ...]
    refused: str | None = None
    rc: int = 0
    trials: int | None = None
    states: frozenset[str] = frozenset({"COMPLETE", "PRUNED"})
    distinct: bool = True
    export: str | None = "best"
    commands: tuple[str, ...] = ("predict", "watch")
    notes: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()

    def arg(self, key: str) -> str | None:
        """The value the command line gives ``key`` (the last one wins, as in Hydra)."""
        found = None
        for a in self.args:
            name, _, value = a.lstrip("+").partition("=")
            if name == key:
                found = value
        return found

    @property
    def n_trials(self) -> int:
        return int(self.arg("sweep.n_trials") or 20)

    @property
    def expected_trials(self) -> int:
        return self.n_trials if self.trials is None else self.trials


def builtin_families() -> list[str]:
    """The model families automl ships (registered by automl's own package)."""
    models = discover_models()
    return sorted(n for n, i in models.plugins.items() if i.package == BUILTIN_PACKAGE)


def data_plugins() -> list[str]:
    """Every data plugin that loads here (built-in and third-party)."""
    return discover_data().names()


def _family_args(model: str, data: str | None = None) -> list[str]:
    home, tiny = TINY[model]
    return [f"model={model}", f"data={data or home}", *tiny]


def _objectives(model: str, kind: str) -> list[str]:
    if kind == "one":
        return []
    plugin = discover_models().get(model)
    metric = plugin.objective("classification")[0]
    return [f"sweep.objectives=[val_{metric},n_params]"]


# Which family each sampler meets. Every family meets at least one; the torch families,
# whose trials cost the most, meet the samplers that cost the least per trial (GP fits a
# model for seconds before each trial). A sampler not listed here rotates over the families.
SAMPLER_FAMILY: dict[tuple[str, str], str] = {
    ("tpe", "one"): "gan",
    ("tpe", "two"): "cnn",
    ("random", "one"): "rnn",
    ("random", "two"): "linear",
    ("gp", "one"): "xgboost",
    ("gp", "two"): "forest",
    ("cmaes", "one"): "mlp",
    ("cmaes", "two"): "xgboost",
    ("qmc", "one"): "forest",
    ("qmc", "two"): "mlp",
    ("grid", "one"): "linear",
    ("grid", "two"): "xgboost",
    ("nsga2", "one"): "cnn",
    ("nsga2", "two"): "xgboost",
    ("auto", "one"): "mlp",
    ("auto", "two"): "linear",
}


def _sampler_cases() -> Iterator[Case]:
    families = builtin_families()
    for i, sampler in enumerate(SAMPLERS):
        for kind in OBJECTIVE_KINDS:
            extra = [f"sweep.sampler={sampler}", *SAMPLER_ARGS.get(sampler, []), "sweep.n_trials=3"]
            commands: tuple[str, ...] = RESULTS
            if kind == "auto":
                args = ["model=auto", "data=wine", f"model.families=[{','.join(AUTO_FAMILIES)}]"]
                args += AUTO_TINY
                name = f"sampler-{sampler}-auto"
            else:
                rotated = families[(i + (0 if kind == "one" else 3)) % len(families)]
                model = SAMPLER_FAMILY.get((sampler, kind), rotated)
                args = [*_family_args(model), *_objectives(model, kind)]
                name = f"sampler-{sampler}-{kind}-{model}"
                if model == "gan":
                    commands += ("serve",)  # a generator: /generate
            refused = REFUSED.get((sampler, kind))
            if (sampler, kind) == ("nsga2", "two"):
                commands += ("serve", "report")  # a Pareto front's export and figures
            yield Case(
                name,
                (*args, *extra),
                refused=refused,
                rc=2 if refused else 0,
                export=None if refused else "best",
                commands=() if refused else commands,
            )


def _pruner_cases() -> Iterator[Case]:
    early = ["+sweep.pruner_args.n_startup_trials=1", "+sweep.pruner_args.n_warmup_steps=0"]
    settings: dict[str, tuple[str, list[str], dict[str, Any]]] = {
        "median": ("mlp", ["trainer.max_epochs=3", *early], {"commands": (*RESULTS, "report")}),
        "percentile": ("xgboost", early, {}),
        "successive_halving": ("forest", ["+sweep.pruner_args.min_resource=1"], {}),
        "hyperband": ("xgboost", [], {}),
        "patient": ("xgboost", ["+sweep.pruner_args.patience=0", *early], {}),
        "wilcoxon": ("linear", ["data.folds=5"], {}),
        # No trial reaches accuracy 1.01: each is pruned at its second epoch.
        "threshold": (
            "mlp",
            ["trainer.max_epochs=3", "+sweep.pruner_args.lower=1.01",
             "+sweep.pruner_args.n_warmup_steps=1"],
            {"rc": 1, "states": frozenset({"PRUNED"}), "export": None, "commands": ("watch",),
             "notes": ("no trial completed",)},
        ),
        "none": ("forest", [], {}),
    }  # fmt: skip
    for pruner in PRUNERS:
        model, extra, expect = settings.get(pruner, ("xgboost", [], {}))
        yield Case(
            f"pruner-{pruner}-{model}",
            (*_family_args(model), f"sweep.pruner={pruner}", *extra, "sweep.n_trials=4"),
            **expect,
        )


# storage, workers, launcher: every pair of the three axes in six cases.
FLEET = [
    ("sqlite", 1, "local", "linear"),
    ("sqlite", 2, "slurm-local", "xgboost"),
    ("journal", 1, "slurm-local", "linear"),
    ("journal", 2, "local", "forest"),
    ("postgres", 1, "local", "xgboost"),
    ("postgres", 2, "slurm-local", "linear"),
]
_STORAGE_ARGS = {
    "sqlite": "sweep.storage=sqlite:///{run}/study.db",
    "journal": "sweep.storage={run}/study.jsonl",
    "postgres": "sweep.storage={postgres}",
}


def _fleet_cases() -> Iterator[Case]:
    for storage, workers, launcher, model in FLEET:
        args = [*_family_args(model), _STORAGE_ARGS[storage], f"sweep.workers={workers}"]
        if launcher == "slurm-local":
            args += ["sweep.launcher=slurm", "sweep.slurm.executor=local"]
        name = f"fleet-{storage}-{workers}w-{launcher}-{model}"
        yield Case(
            name,
            (*args, "sweep.n_trials=4", "sweep.study_name=" + name),
            commands=(*RESULTS, "serve") if (storage, workers) == ("postgres", 1) else RESULTS,
        )  # fmt: skip


def _engine_cases() -> Iterator[Case]:
    for model, commands in (("cnn", ("predict", "serve")), ("xgboost", ("predict",))):
        yield Case(
            f"none-{model}",
            (*_family_args(model), "sweep=none"),
            trials=0,
            export="single",
            commands=commands,
        )


def _data_cases() -> Iterator[Case]:
    homes = {home for home, _ in TINY.values()} | {"wine", "breast_cancer"}
    for name in data_plugins():
        if name in homes and name not in FILE_DATA:
            continue  # a family's home data, or model=auto's: in the cases above
        if name in FILE_DATA:
            model, extra = FILE_DATA[name]
        else:
            model, extra = "mlp", SMALL_DATA.get(name, [])
        yield Case(
            f"data-{name}-{model}",
            (*_family_args(model, name), *extra, "sweep.n_trials=2"),
            # A regressor behind a real server (diabetes is the regression data set).
            commands=(*RESULTS, "serve") if name == "diabetes" else RESULTS,
        )


def _edge_cases() -> Iterator[Case]:
    # The command of issue 20: a 2-point grid run to its last point crashed at that trial.
    grid = ["model=forest", "data=wine", "sweep.sampler=grid", "+sweep.sampler_args.grid_points=2",
            "space.algorithm=random_forest", "space.n_estimators=10", "space.max_depth=4",
            "space.min_samples_leaf=1"]  # fmt: skip
    yield Case("grid-to-its-last-point", (*grid, "sweep.n_trials=2"))
    yield Case(
        "grid-smaller-than-n-trials",
        (*grid, "sweep.n_trials=5"),
        trials=2,
        commands=("predict", "watch", "report"),
        notes=("grid: 2 points; the study stops once each has run",),
    )
    yield Case(
        "grid-larger-than-n-trials",
        (*grid[:-2], "sweep.n_trials=3"),  # 2 x 2 x 2 x 2 points, 3 trials
        notes=("grid: sweep.n_trials=3 covers 3 of the grid's 16 points",),
    )
    yield Case(
        "space-of-one-point",
        ("model=linear", "data=diabetes", "space.alpha=0.5", "space.l1_ratio=0.5",
         "sweep.n_trials=3"),
        trials=1,
        notes=("the search space is one point",),
    )  # fmt: skip
    yield Case(
        "every-trial-fails",
        # NaN metrics, or a crash at build: every trial fails by itself, each with its reason.
        ("model=flaky", "data=wine", "space.explode=true", "sweep.n_trials=3"),
        rc=1,
        states=frozenset({"FAIL"}),
        distinct=False,
        export=None,
        commands=("watch",),
        notes=("no trial completed",),
        plugins=("flaky",),
    )
    families = [f"model.families=[{','.join(AUTO_FAMILIES + ('mlp', 'forest'))}]"]
    yield Case(
        "auto-every-family-default",
        ("model=auto", "data=breast_cancer", "model.xgboost.n_estimators=30",
         "space.forest.n_estimators=10", "trainer.max_epochs=2", *families, "sweep.n_trials=5"),
        commands=("predict", "watch", "serve", "report"),
        notes=("each trial is judged on the mean of 5 folds",),
    )  # fmt: skip


def cases() -> list[Case]:
    """Every case of the matrix, in a stable order."""
    return [
        *_sampler_cases(),
        *_pruner_cases(),
        *_fleet_cases(),
        *_engine_cases(),
        *_data_cases(),
        *_edge_cases(),
    ]


SLICE = (
    "grid-to-its-last-point",
    "sampler-cmaes-two-xgboost",
    "sampler-random-two-linear",
    "none-xgboost",
    "space-of-one-point",
)
"""The cases the default tier runs (well under a minute): the grid defect of issue 20, a
refusal, a study with its commands, ``sweep=none``, the one-point space."""

AXES: dict[str, list[Any]] = {
    "sampler": list(SAMPLERS),
    "objectives": list(OBJECTIVE_KINDS),
    "pruner": list(PRUNERS),
    "model": [],  # filled by test_matrix from builtin_families() (+ auto)
    "data": [],  # filled by test_matrix from data_plugins()
    "storage": list(STORAGES),
    "workers": list(WORKERS),
    "launcher": list(LAUNCHERS),
    "engine": list(ENGINES),
}
