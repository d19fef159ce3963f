"""The Hydra task: turn a composed config into a study (``sweep=optuna``) or one fit (``none``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from automl.plan import RunPlan, make_plan

__all__ = ["run", "run_once"]


def run_once(plan: RunPlan, console: Console) -> dict[str, float]:
    """Train the model once with its (possibly overridden) config; print val and test metrics."""
    from automl import train
    from automl.data import load_dataset
    from automl.finalize import describe_budget, refit_wanted
    from automl.leaderboard import format_params

    dataset = load_dataset(plan.data_plugin, plan.data_cfg)
    plan.plugin.check_data(dataset.spec)
    if plan.plugin.kind == "lightning":
        from automl.train import check_trainer

        check_trainer(plan.trainer)
    workdir = plan.run_dir / "single"
    workdir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(plan.model_node, workdir / "config.yaml")
    cfg = OmegaConf.to_object(plan.model_node)
    result = train.fit(
        plan.plugin,
        cfg,
        dataset,
        plan.trainer,
        workdir=workdir,
        seed=plan.trainer.seed,
    )
    model, tested, refit_line = result.model, dataset, []
    if refit_wanted(plan.sweep.refit, dataset) and dataset.merged is not None:
        # Same rule as after a study: retrain on every non-test row for the length found.
        tested = dataset.merged()
        again = train.refit(
            plan.plugin,
            cfg,
            tested,
            plan.trainer,
            result.budget,
            workdir=workdir,
            seed=plan.trainer.seed,
        )
        model = again.model
        budget = describe_budget(result.budget)
        refit_line = [f"refit:      retrained on {len(tested.train)} train+val rows ({budget})"]
    test = train.evaluate(plan.plugin, model, tested, plan.trainer, "test")
    if plan.plugin.export:  # e.g. the GAN's sample grid
        from automl.plugin import resolve

        resolve(plan.plugin.export)(model, str(workdir), dataset.spec)
    metrics = {**result.metrics, **test}
    (workdir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    for line in (
        f"model={plan.model_name} data={plan.data_name} epochs={result.epochs} "
        f"time={result.wall_time:.1f}s",
        f"validation: {format_params(result.metrics)}",
        *refit_line,
        f"test:       {format_params(test)}",
        f"results:    {workdir}",
    ):
        console.print(line, highlight=False, soft_wrap=True)
    return metrics


def run(cfg: DictConfig, models: Any, data: Any, console: Console | None = None) -> int:
    """Run the composed config; return the process exit code (130 after Ctrl-C)."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    choices = hc.runtime.choices
    plan = make_plan(
        cfg, choices["model"], choices["data"], models, data, Path(hc.runtime.output_dir)
    )
    console = console or Console()
    if plan.sweep.engine == "none":
        run_once(plan, console)
        return 0
    from automl.tuning import run_study

    outcome = run_study(plan, console)
    return 130 if outcome.interrupted else 0
