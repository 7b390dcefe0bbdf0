"""The kNN bank the best checkpoint saves: written by the trainer, equal to a fresh embedding of
the train split, read by the reports only while it still fits."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ssl_core.bank_cache import BANK_FILE
from ssl_core.baselines import untrained_run
from ssl_core.eval.evaluate import embed_loader, eval_encoder
from ssl_core.eval_runner import Evaluator
from ssl_core.run import LoadedRun, best_checkpoint, epoch_checkpoint, load_run
from ssl_core.run_report import evaluate_test_split, evaluator_for, split_hits
from ssl_core.trainer import train
from tests.tiny import tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("bank") / "run"
    cfg = tiny_config("simclr", run_dir, dataset="digits", epochs=2, steps=2,
                      extra=("eval.queries=train+val", "train.keep_checkpoints=2"))
    train(cfg)
    return run_dir


def fresh_bank(run: LoadedRun) -> torch.Tensor:
    """The train split embedded now by the run's network, with no saved bank: ``[N, F]``."""
    evaluator = Evaluator(run.cfg, run.data, run.device, query_split="test")
    return embed_loader(eval_encoder(run.method, run.cfg.eval.features), evaluator.bank_loader,
                        run.data.view_maker.embed_input, run.device).features


def test_the_best_checkpoint_saves_the_bank_its_network_embeds(trained: Path) -> None:
    best = best_checkpoint(trained)
    saved = torch.load(best / BANK_FILE, weights_only=True)
    run = load_run(best)
    again = fresh_bank(run)
    assert saved["features"].shape == again.shape == (len(run.data.splits["bank"]), again.shape[1])
    assert torch.equal(saved["labels"], torch.as_tensor(run.data.split_labels("bank")).long())
    torch.testing.assert_close(saved["features"], again, rtol=1e-4, atol=1e-5)
    # Only the checkpoint that reports read carries it: a periodic one (for resuming) stays as small as before.
    assert not (epoch_checkpoint(trained, 1) / BANK_FILE).exists()


def test_reports_with_the_saved_bank_equal_reports_without_it(trained: Path, tmp_path: Path) -> None:
    copy = tmp_path / "best"
    shutil.copytree(best_checkpoint(trained), copy)
    (copy / BANK_FILE).unlink()
    with_bank, without = load_run(best_checkpoint(trained)), load_run(copy)
    assert evaluator_for(with_bank, "test").given_bank is not None
    assert evaluator_for(without, "test").given_bank is None
    for split in ("val", "test"):  # val: train + val leave-one-out, the objective's queries
        hits_a, labels_a = split_hits(with_bank, split)
        hits_b, labels_b = split_hits(without, split)
        np.testing.assert_array_equal(labels_a, labels_b)
        np.testing.assert_array_equal(hits_a, hits_b)
    report_a, report_b = evaluate_test_split(with_bank), evaluate_test_split(without)
    for metric in ("knn_top1", "linear_top1", "nmi"):
        assert report_a[metric] == pytest.approx(report_b[metric], abs=1e-6), metric


def test_the_saved_bank_is_not_used_where_it_does_not_describe_the_network(trained: Path, tmp_path: Path) -> None:
    checkpoint = best_checkpoint(trained)
    # The data changed since training (other labels in the bank split): the saved rows are not its items.
    changed = tmp_path / "best"
    shutil.copytree(checkpoint, changed)
    payload = torch.load(changed / BANK_FILE, weights_only=True)
    payload["labels"] = payload["labels"].roll(1)
    torch.save(payload, changed / BANK_FILE)
    assert evaluator_for(load_run(changed), "test").given_bank is None
    # Another size of the evaluated images, another embedding of the same network.
    resized = load_run(checkpoint, overrides=("data.image_size=24",))
    assert evaluator_for(resized, "test").given_bank is None
    # Settings that only decide how batches load keep it.
    loaders = load_run(checkpoint, overrides=("data.batch_size=8",))
    assert evaluator_for(loaders, "test").given_bank is not None
    # The same checkpoint's network before training is another network.
    untrained = untrained_run(checkpoint)
    assert not untrained.trained
    assert evaluator_for(untrained, "test").given_bank is None
