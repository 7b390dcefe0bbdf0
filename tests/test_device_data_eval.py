"""The evaluator's `align` views: both views of one view-maker call, in one pass over the align loader.

Checked against an independent loop over the same loader that makes the views and encodes
them one batch at a time, from the same RNG state.
"""
from __future__ import annotations

import pytest
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


def _metrics_and_embeddings(cfg_overrides: list[str], eval_overrides: list[str]):
    """One model, one data bundle (train split on the device); an evaluator under
    ``eval_overrides`` (its placement decides where the evaluation batches come from)."""
    base = ["data.batch_size=16", "data.crop_seconds=0.5", "model.backbone=test_resnet", "method.name=simclr",
            "train.device=cpu", "eval.shortcut_windows=3", *cfg_overrides]
    cfg = load_config(None, base)
    torch.manual_seed(0)
    data = build_data(cfg, 0, 1, CPU)
    method = build_model(cfg, data, CPU).eval()
    return cfg, data, method, (lambda extra: Evaluator(load_config(None, [*base, *extra]), data, CPU))


@pytest.mark.parametrize("windows", ["centre", "mean"])
def test_held_evaluation_batches_give_the_loaders_metrics(birdsong_root, windows, capsys) -> None:
    """Evaluation from batches held on the device equals evaluation through loader processes:
    the same embeddings (bank, queries, both align views) bit for bit, the same metrics."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg, data, method, evaluator = _metrics_and_embeddings([f"data.eval_windows={windows}"], [])
        held = evaluator(["data.num_workers=0"])
        loaders = evaluator(["data.placement=loader", "data.num_workers=1"])
        assert held.placement == "device" and loaders.placement == "loader"
        assert "evaluation data: device (" in capsys.readouterr().out
        assert not isinstance(held.bank_batches, torch.utils.data.DataLoader)
        results = []
        for evaluator_ in (held, loaders):
            torch.manual_seed(5)  # align's augmentations draw from the global RNG
            embedded = evaluator_.embed(method)
            torch.manual_seed(5)
            results.append((embedded, evaluator_.run(method, epoch=1, final=False)))
        (bank, queries, views), metrics = results[0]
        (bank_l, queries_l, views_l), metrics_l = results[1]
        assert torch.equal(bank.features, bank_l.features) and torch.equal(bank.labels, bank_l.labels)
        assert torch.equal(queries.features, queries_l.features) and torch.equal(queries.labels, queries_l.labels)
        assert torch.equal(views[0], views_l[0]) and torch.equal(views[1], views_l[1])
        assert bank.features.shape[0] == len(data.splits["bank"])
        assert metrics.keys() == metrics_l.keys() and "recording_share" in metrics and "align" in metrics
        for name, value in metrics.items():
            assert value == metrics_l[name] or (value != value and metrics_l[name] != metrics_l[name]), name
    finally:
        torch.set_num_threads(before)
        data.train_batches.close()


def test_evaluation_batches_over_the_budget_stay_in_loaders(birdsong_root, capsys) -> None:
    """The evaluation batches share ``data.device_data_gb`` with the train split: a budget that
    holds the train split but not them keeps them in loaders, and says why."""
    cfg, data, method, evaluator = _metrics_and_embeddings([], [])
    try:
        just_train = (data.train_batches.nbytes + 1000) / 1e9
        tight = evaluator([f"data.device_data_gb={just_train}", "data.num_workers=0"])
        assert tight.placement == "loader" and isinstance(tight.bank_batches, torch.utils.data.DataLoader)
        assert "evaluation data: loader (the evaluation batches need more than" in capsys.readouterr().out
        roomy = evaluator(["data.num_workers=0"])
        assert roomy.placement == "device"
        sizes = [b.nbytes for b in (roomy.bank_batches, roomy.query_batches, roomy.align_batches)]
        # float16 audio (the decode cache's), exact: 2 bytes a sample, plus labels and positions.
        crop = int(round(cfg.data.crop_seconds * cfg.data.sample_rate))
        assert sizes[0] >= 2 * crop * len(data.splits["bank"])
        assert sizes[0] < 4 * crop * len(data.splits["bank"])
    finally:
        data.train_batches.close()
