"""The untrained backbone's batch-norm statistics (:func:`ssl_core.baselines.recalibrate_batch_norm`).

A tiny birdsong run (timm's test_resnet, one training step) gives the checkpoint; its untrained
network is recalibrated and every batch-norm buffer is compared with a pass the test makes
itself through the evaluator's own centre-window bank (``data.eval_windows=centre``), a second
code path that cuts the windows. With ``data.eval_windows=mean`` (the default search's) the
default still uses one centre window a recording.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from ssl_core.baselines import recalibrate_batch_norm
from ssl_core.eval.evaluate import eval_encoder
from ssl_core.eval_runner import Evaluator
from ssl_core.run import LoadedRun, load_run
from ssl_core.trainer import train
from tests.tiny import tiny_config


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, birdsong_root) -> Path:
    out = tmp_path_factory.mktemp("untrained") / "run"
    train(tiny_config("simclr", out, epochs=1, steps=1, extra=("eval.linear_probe=never", "eval.clustering=false")))
    return out / "checkpoints" / "best"


def _untrained(checkpoint: Path) -> LoadedRun:
    """The run's network before training, evaluated (as the default search does) on the mean
    over windows; set here rather than in training, whose evaluation it would slow."""
    run = load_run(checkpoint, trained=False)
    run.cfg.data.eval_windows = "mean"
    return run


def _norm_buffers(run: LoadedRun) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in run.method.state_dict().items()
            if name.endswith(("running_mean", "running_var"))}


@torch.no_grad()
def _pass_over_centre_bank(run: LoadedRun) -> dict[str, torch.Tensor]:
    """The reference: reset every batch norm, then one train-mode pass over the evaluator's
    centre-window bank of the train split, a cumulative average as AdaBN estimates it."""
    for module in run.method.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    cfg = replace(run.cfg, data=replace(run.cfg.data, eval_windows="centre"))
    evaluator = Evaluator(cfg, run.data, run.device)
    encode = eval_encoder(run.method, cfg.eval.features)
    run.method.train()
    for batch in evaluator.bank_loader:
        windows, counts = batch[0], batch[1]
        assert int(counts.max()) == 1  # one centre window a recording
        encode(run.data.view_maker.embed_input(windows))
    run.method.eval()
    return _norm_buffers(run)


def test_centre_recalibration_matches_a_pass_over_the_centre_window_bank(checkpoint) -> None:
    run = _untrained(checkpoint)
    recalibrate_batch_norm(run)
    ours = _norm_buffers(run)
    reference = _pass_over_centre_bank(_untrained(checkpoint))
    assert ours.keys() == reference.keys() and ours
    for name in ours:
        torch.testing.assert_close(ours[name], reference[name], rtol=1e-5, atol=1e-6, msg=name)
    # Estimated, not the initial 0 / 1: the pass really ran.
    assert any(not torch.allclose(v, torch.zeros_like(v)) for k, v in ours.items() if k.endswith("running_mean"))


def test_an_unknown_window_choice_is_refused(checkpoint) -> None:
    with pytest.raises(ValueError, match="'centre' or 'eval'"):
        recalibrate_batch_norm(_untrained(checkpoint), windows="all")
