"""The study's plan and its decisions, made once, before any trial or file exists.

Owns the typed configs (``config``), the validated plan (``plan``, ``settings``), the run
(``run``: a frozen ``Run`` of data, families, goal, budget, seeds, identity and the study's
record, decided once; ``services``: what a trial asks of it), the study's identity
(``identity``), model families and ``model=auto`` (``families``), search plans without
Optuna (``search``), the process's role in a fleet (``role``), the run directory
(``rundir``) and training outside a study (``train``). It may import ``backends``, ``data``
and ``core``; it never imports Optuna, results, tuning, serving, parallel or the command line.
"""
