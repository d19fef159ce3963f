"""The command line: ``python -m automl`` and its subcommands.

Owns argument checks and ``--help`` (``argv``), the subcommand table (``commands``), recipe
checks (``recipes``), the Hydra task that turns a composed config into a study or one fit
(``app``), and the ``report`` and ``watch`` commands that open a stored study through
``tuning`` and hand it to ``results`` to draw (``report``, ``watch``). It sits on top: it
may import every other package, and none imports it.
"""
