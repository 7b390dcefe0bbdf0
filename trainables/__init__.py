"""Ray Tune trainables: the only package that imports ``ray``.

``search`` runs the Tuner (Optuna TPE, ASHA, the collapse stopper); ``trial`` is one trial,
which trains ``ssl_core.trainer.train`` in its own process (one worker) or through a Ray
Train ``TorchTrainer`` (DDP); ``worker_loop`` connects the trainer's reports, checkpoints
and failures to Ray; ``results`` writes the summary; ``replay`` drives the search-efficiency
benchmark. ``ssl_core`` trains and evaluates without any of it.
"""
