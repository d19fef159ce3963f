"""The core: the values every layer reads and the contract third parties code against.

Owns the plugin contract (``plugin``: ``ModelPlugin``, ``DataPlugin``, ``DataSpec``,
``Estimator``), search-space values (``space``), errors (``errors``), plugin discovery
(``registry``), task metrics (``metrics``), objectives and constraints (``objectives``), the
trial record and step units (``records``), the study's record and header
(``study_record``: ``StudyRecord``, ``StudyHeader``, ``StudySnapshot``), atomic file
writes (``atomic``), the driver's GPU count (``gpus``) and the JSON value types
(``jsonvalue``). It imports nothing else of automl: every other package may import it. Its
public names are re-exported by ``automl`` itself and by the documented paths
(``automl.plugin``, ``automl.errors``, ``automl.registry``, ``automl.records``).
"""
