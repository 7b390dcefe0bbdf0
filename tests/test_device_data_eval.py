"""The evaluator's `align` views: both views of one view-maker call, in one pass over the align loader.

Checked against an independent loop over the same loader that makes the views and encodes
them one batch at a time, from the same RNG state.
"""
from __future__ import annotations

import torch

from ssl_core.config import load_config
from ssl_core.data_pipeline import build_data
from ssl_core.eval.evaluate import eval_encoder
from ssl_core.eval_runner import Evaluator
from ssl_core.trainer import build_model

CPU = torch.device("cpu")


def test_align_views_are_one_call_of_the_view_maker(birdsong_root) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = load_config(None, ["data.batch_size=16", "data.crop_seconds=0.5", "data.num_workers=0",
                                 "model.backbone=resnet10t", "method.name=simclr", "train.device=cpu"])
        torch.manual_seed(0)
        data = build_data(cfg, 0, 1, CPU)
        method = build_model(cfg, data, CPU).eval()
        evaluator = Evaluator(cfg, data, CPU)
        torch.manual_seed(123)
        _, queries, (first, second) = evaluator.embed(method)

        torch.manual_seed(123)
        encode = eval_encoder(method, cfg.eval.features)
        expected_first, expected_second = [], []
        with torch.no_grad():
            for x, _ in evaluator.align_loader:
                views = data.view_maker(x)
                expected_first.append(encode(views[0]).float())
                expected_second.append(encode(views[1]).float())
        assert torch.equal(first, torch.cat(expected_first)) and torch.equal(second, torch.cat(expected_second))
        assert first.shape == queries.features.shape  # one row per query item, in split order
        assert not torch.equal(first, second)  # two different augmentations
    finally:
        torch.set_num_threads(before)
        data.train_batches.close()
