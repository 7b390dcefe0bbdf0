"""Leave-one-out kNN against the plain kNN run once per item with that item removed from the bank."""

from __future__ import annotations

import pytest
import torch

from ssl_core.config import Config
from ssl_core.eval.knn import knn_class_scores
from ssl_core.eval.knn_loo import knn_class_scores_leave_one_out


@pytest.mark.parametrize("k, chunk", [(1, 7), (5, 1024), (50, 16)])
def test_equals_the_plain_knn_without_the_item(k: int, chunk: int) -> None:
    gen = torch.Generator().manual_seed(k)
    features, labels = torch.randn(40, 8, generator=gen), torch.randint(0, 4, (40,), generator=gen)
    loo = knn_class_scores_leave_one_out(features, labels, 4, k=k, temperature=0.1, chunk_size=chunk)
    for i in range(40):
        keep = torch.arange(40) != i
        ref = knn_class_scores(features[keep], labels[keep], features[i:i + 1], 4, k=k, temperature=0.1)
        assert torch.allclose(loo[i], ref[0].float(), atol=1e-5), i


def test_refuses_a_single_item_and_bad_shapes() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        knn_class_scores_leave_one_out(torch.randn(1, 3), torch.zeros(1, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="expected"):
        knn_class_scores_leave_one_out(torch.randn(4, 3), torch.zeros(3, dtype=torch.long), 2)


def test_eval_queries_is_validated() -> None:
    cfg = Config()
    cfg.eval.queries = "train"
    with pytest.raises(ValueError, match="eval.queries"):
        cfg.validate()


@pytest.mark.parametrize("method, label_free", [("simclr", True), ("supervised", False)])
def test_the_evaluator_queries_train_and_val_only_for_label_free_methods(tmp_path, birdsong_root, method: str,
                                                                          label_free: bool) -> None:
    from ssl_core.data_pipeline import build_data
    from ssl_core.eval_runner import Evaluator
    from ssl_core.trainer import build_model
    from tests.tiny import tiny_config

    cfg = tiny_config(method, tmp_path, extra=("eval.queries=train+val", "eval.linear_probe=never",
                                                "eval.clustering=false", "eval.views_for_align=false",
                                                "eval.shortcut_windows=0"))
    device = torch.device("cpu")
    data = build_data(cfg, 0, 1, device)
    metrics = Evaluator(cfg, data, device).run(build_model(cfg, data, device), epoch=0, final=False)
    bank, val = len(data.splits["bank"]), len(data.splits["val"])
    assert metrics["knn_queries"] == (bank + val if label_free else val)
    assert metrics["knn_top1_low"] <= metrics["knn_top1"] <= metrics["knn_top1_high"]


def test_the_verdicts_val_hits_are_the_objectives_items(tmp_path, birdsong_root) -> None:
    """split_hits on val (what the confirmation stage's lead is computed from) scores the same
    items as the objective: train + val leave-one-out, so its mean is the reported knn_top1."""
    from pathlib import Path

    from ssl_core.data_pipeline import build_data
    from ssl_core.eval_runner import Evaluator
    from ssl_core.run import LoadedRun
    from ssl_core.run_report import split_hits
    from ssl_core.trainer import build_model
    from tests.tiny import tiny_config

    cfg = tiny_config("simclr", tmp_path, extra=("eval.queries=train+val", "eval.linear_probe=never",
                                                "eval.clustering=false", "eval.views_for_align=false",
                                                "eval.shortcut_windows=0"))
    device = torch.device("cpu")
    data = build_data(cfg, 0, 1, device)
    method = build_model(cfg, data, device).eval()
    metrics = Evaluator(cfg, data, device).run(method, epoch=0, final=False)
    hits, labels = split_hits(LoadedRun(cfg, data, method, 0, {}, device, Path(tmp_path)), "val")
    assert len(hits) == metrics["knn_queries"]
    assert 100 * hits.mean() == pytest.approx(metrics["knn_top1"])
