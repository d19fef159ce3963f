"""What a study leaves behind, and reading it back.

Owns the export of the chosen configuration to ``best/`` (``finalize``, ``model_card``,
``schema``, ``input_validation``, ``drift``), loading ``best/`` as untrusted
(``exported``, ``predictor``), trial selection on one or several objectives (``pareto``),
the leaderboard (``leaderboard``), the report (``report``) and the live view of a study
another process runs (``watch``), drawn from what ``tuning`` reads of a stored study (a
``StudySnapshot``) and hands down. It may import ``study``, ``backends``, ``data`` and
``core``; it never imports tuning (nor Optuna), serving, parallel or the command line.
"""
