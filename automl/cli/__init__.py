"""The command line: ``python -m automl`` and its subcommands.

Owns argument checks and ``--help`` (``argv``), the subcommand table (``commands``), recipe
checks (``recipes``) and the Hydra task that turns a composed config into a study or one
fit (``app``). It sits on top: it may import every other package, and none imports it.
"""
