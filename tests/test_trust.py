"""Trust warnings: ties at the top, a validation split too small to rank the top trials,
importances from too few trials; in the summary of a real study and in the report."""

from __future__ import annotations

import optuna
import pytest
import yaml
from helpers import run_cli
from optuna.trial import TrialState

from automl.core.records import TrialRecord
from automl.core.study_record import StudyRecord
from automl.results.leaderboard import rank_rows, row_from_trial
from automl.results.trust import trust_warnings
from automl.tuning.report import write_report

X = {"x": optuna.distributions.FloatDistribution(0, 1)}


def _study(values, losses, n_val: int | None = None) -> optuna.Study:
    study = optuna.create_study(direction="maximize", study_name="t")
    for key, value in StudyRecord(metric="acc", n_val=n_val).attrs().items():
        study.set_user_attr(key, value)
    for value, loss in zip(values, losses, strict=True):
        trial = study.ask(X)
        metrics = {"val_acc": value, **({"val_loss": loss} if loss is not None else {})}
        for key, attr in TrialRecord(metrics=metrics).attrs().items():
            trial.set_user_attr(key, attr)
        study.tell(trial, value)
    return study


def _warnings(study, n_val):
    ranked = rank_rows([row_from_trial(t) for t in study.trials], "maximize", "val_acc")
    return trust_warnings(ranked, "val_acc", n_val)


def test_ties_say_how_many_share_the_best_and_what_chose_among_them():
    study = _study([1.0, 0.9, 1.0, 1.0], [0.3, 0.2, 0.1, 0.5])
    tie, *_ = _warnings(study, 1000)
    assert tie == (
        "3 trials share the best val_acc 1.0000 (#2 #0 #3); #2 was chosen by its lower "
        "val_loss (0.1)"
    )
    by_number = _study([1.0, 1.0], [None, None])
    assert _warnings(by_number, 1000)[0].endswith(
        "nothing else tells them apart: #0 was chosen by trial number"
    )
    apart = _warnings(_study([1.0, 0.9], [0.1, 0.2]), 1000)
    assert not [w for w in apart if "share the best" in w or "validation" in w]


def test_a_small_validation_split_and_top_trials_within_one_row_are_said():
    study = _study([0.95, 0.948, 0.9, 0.5], [0.1, 0.2, 0.3, 0.4])
    (small,) = [w for w in _warnings(study, 91) if "validation" in w]
    assert small == (
        "the validation split has only 91 rows (one row moves val_acc by 0.011); the top 2 "
        "trials are within one row of each other: differences this small are noise; use more "
        "data or data.folds=5"
    )
    close = [w for w in _warnings(study, 400) if "validation" in w]
    assert close == [
        "the top 2 trials (#0 #1) are within one validation row (0.0025 of val_acc, 400 rows) "
        "of each other: the split cannot rank them"
    ]
    assert not [w for w in _warnings(study, 10_000) if "validation" in w]


def test_importance_from_fewer_than_20_complete_trials_is_a_rough_guide():
    few = _study([0.1 * i for i in range(10)], [None] * 10)
    assert any(w.startswith("parameter importance rests on 10 complete trials") for w in
               _warnings(few, 10_000))  # fmt: skip
    many = _study([0.01 * i for i in range(25)], [None] * 25)
    assert not any("importance" in w for w in _warnings(many, 10_000))


def test_the_report_shows_the_warnings(tmp_path):
    study = _study([1.0, 1.0, 0.8, 0.7], [0.2, 0.1, 0.3, 0.4], n_val=91)
    storage = study._storage
    page = write_report(storage, "t", tmp_path).read_text()
    assert "warning: 2 trials share the best val_acc 1.0000 (#1 #0); #1 was chosen" in page
    assert "warning: the validation split has only 91 rows" in page
    assert "warning: parameter importance rests on 4 complete trials" in page


@pytest.mark.heavy
def test_a_real_study_on_small_data_warns_and_rechecks_its_top_three(tmp_path):
    # wine: 178 rows, so a few dozen validation rows; the top 3 are trained twice more.
    out = run_cli(
        ["model=forest", "data=wine", "sweep.live=false", "sweep.n_trials=4",
         "space.n_estimators=10", "sweep.recheck_top=3", f"hydra.run.dir={tmp_path / 'run'}"],
        tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = out.stdout.split("automl summary", 1)[1]
    flat = " ".join(line.strip(" │") for line in summary.splitlines())
    db = f"sqlite:///{tmp_path / 'run' / 'study.db'}"
    study = optuna.load_study(study_name="forest-wine", storage=db)
    record = StudyRecord.from_attrs(study.user_attrs)
    n_val = record.n_val
    assert n_val is not None and 20 < n_val < 40
    assert "warning" in summary
    assert (
        f"the validation split has only {n_val} rows (one row moves val_acc by {1 / n_val:.3g})"
        in flat
    )
    complete = sum(t.state == TrialState.COMPLETE for t in study.trials)
    assert f"parameter importance rests on {complete} complete trials" in flat
    assert study.metric_names == ["val_acc"]  # what optuna-dashboard labels the objective with
    # sweep.recheck_top=3: three configurations, each with its search value and 2 more seeds;
    # the exported trial is the best mean, and the summary says how it was selected.
    rechecked = {int(k): v for k, v in (record.recheck or {}).items()}
    assert len(rechecked) == 3 and all(len(v) == 3 for v in rechecked.values())
    assert all(v[0] == study.trials[n].value for n, v in rechecked.items())
    best = max(rechecked, key=lambda n: sum(rechecked[n]))
    exported = yaml.safe_load((tmp_path / "run" / "best" / "config.yaml").read_text())
    assert exported["trial"] == best
    assert "selected    best mean val_acc over 3 seeds of the top 3 (#" in summary
