"""The study report: ``report/index.html`` (one offline page) and a PNG of each figure.

``write_report(storage, study_name, run_dir)`` writes it; ``python -m automl report
RUN_DIR_OR_STORAGE_URL`` is its command line (``automl.results.report.cli:main``). Plotting
libraries
are imported only when a report is written.
"""

from __future__ import annotations

from automl.results.report.build import REPORT_DIR, write_report

__all__ = ["write_report", "REPORT_DIR"]
