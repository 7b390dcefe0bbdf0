"""Ray Tune trainables: the only package that imports ``ray``.

Empty until the search service lands (each Tune trial will wrap ``ssl_core.trainer.train``
in a Ray Train ``TorchTrainer``); ``ssl_core`` trains and evaluates without it today.
"""
