"""A run's home: its folder layout, and ``load_run`` rebuilding it on the training device."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ssl_core.checkpoint import CONFIG_FILE
from ssl_core.run import best_checkpoint, epoch_checkpoint, load_run, read_run_config
from ssl_core.run_report import embed_split, evaluate_test_split
from ssl_core.trainer import train
from tests.tiny import tiny_config

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (pytest -k cuda on a GPU machine)")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digits_root) -> Path:
    run_dir = tmp_path_factory.mktemp("run")
    cfg = tiny_config("simclr", run_dir, dataset="digits", epochs=2, steps=2, extra=("train.keep_checkpoints=2",))
    train(cfg, run_dir=run_dir)
    return run_dir


def test_the_trainer_writes_the_layout_the_run_module_names(trained: Path) -> None:
    for checkpoint in (epoch_checkpoint(trained, 1), epoch_checkpoint(trained, 2), best_checkpoint(trained)):
        assert (checkpoint / CONFIG_FILE).is_file(), checkpoint
    assert read_run_config(best_checkpoint(trained)).model.backbone == "test_resnet"


def test_load_run_uses_the_training_device_and_the_checkpoint_weights(trained: Path) -> None:
    run = load_run(epoch_checkpoint(trained, 2))
    expected = "cuda" if torch.cuda.is_available() else "cpu"  # train.device=auto
    assert run.device.type == expected and next(run.method.parameters()).device.type == expected
    assert run.epoch == 2 and not run.method.training
    assert run.cfg.data.num_workers == 0 and run.cfg.train.compile is False
    earlier = load_run(epoch_checkpoint(trained, 1), device="cpu")
    first = next(earlier.method.backbone.parameters())
    assert not torch.equal(first, next(run.method.backbone.parameters()).cpu())


def test_a_missing_run_config_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="expected a checkpoint folder written by the trainer"):
        read_run_config(tmp_path)


@CUDA
def test_the_test_report_on_cuda_matches_the_cpu(trained: Path) -> None:
    checkpoint = best_checkpoint(trained)
    on_cpu = load_run(checkpoint, device="cpu")
    on_gpu = load_run(checkpoint, device="cuda")
    cpu_features, cpu_labels, _ = embed_split(on_cpu)
    gpu_features, gpu_labels, _ = embed_split(on_gpu)
    assert torch.equal(cpu_labels, gpu_labels)
    torch.testing.assert_close(gpu_features, cpu_features, rtol=1e-3, atol=1e-3)
    cpu_metrics, gpu_metrics = evaluate_test_split(on_cpu), evaluate_test_split(on_gpu)
    # kNN votes can flip on a near-tie between float paths: allow one test item either way.
    one_item = 100.0 / len(cpu_labels)
    for key in ("knn_top1", "knn_top5"):
        assert abs(cpu_metrics[key] - gpu_metrics[key]) <= one_item + 1e-9, key
    assert gpu_metrics["emb_std"] == pytest.approx(cpu_metrics["emb_std"], rel=1e-3)
