"""ssl_core: everything that trains and measures self-supervised models, runnable without Ray.

``ssl_core.trainer.train(config, report=...)`` trains a registered method
(``ssl_core.methods.METHODS``) on a dataset (``ssl_core.data``) and reports kNN accuracy
and collapse metrics (``ssl_core.eval``) at every evaluation.
"""

__version__ = "0.1.0"
