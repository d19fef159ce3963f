"""The study report: ``report/index.html`` (one offline page) and a PNG of each figure.

``draw_report(snapshot, plots, run_dir)`` writes it from a study as read; opening the storage
and Optuna's plots are ``automl.tuning.report.write_report(storage, study_name, run_dir)``,
and ``python -m automl report RUN_DIR_OR_STORAGE_URL`` is its command line
(``automl.cli.report``). Plotting libraries are imported only when a report is written.
"""

from __future__ import annotations

from automl.results.report.build import REPORT_DIR, draw_report

__all__ = ["draw_report", "REPORT_DIR"]
