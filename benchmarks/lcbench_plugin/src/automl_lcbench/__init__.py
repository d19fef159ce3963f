"""automl benchmark plugin: LCBench (YAHPO Gym's surrogate) as a model whose epochs are queries.

``automl_lcbench.surrogate`` needs only numpy and onnxruntime (benchmark peers import it
without automl); ``automl_lcbench.plugin`` holds the plugin specs, ``automl_lcbench.model``
the estimator.
"""
