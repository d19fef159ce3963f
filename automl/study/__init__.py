"""The study's plan and its decisions, made once, before any trial or file exists.

Owns the typed configs (``config``), the validated plan (``plan``, ``settings``), the run
(``run``: data, families, goal, identity, decided once), the study's identity
(``identity``), model families and ``model=auto`` (``families``), search plans without
Optuna (``search``), the process's role in a fleet (``role``), the run directory
(``rundir``) and training outside a study (``train``). It may import ``backends``, ``data``
and ``core``; it never imports Optuna, results, tuning, serving, parallel or the command line.
"""
