"""Training batches held on the device equal the loader processes' batches, and both resume exactly.

Run on ``device=cpu``: the device path is the same code on a GPU (one ``index_select`` of a
strided view), so what is checked here is that its crops are the loader's crops to the bit.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ssl_core.config import ConfigError, load_config
from ssl_core.data import EpochSampler
from ssl_core.data.train_batches import DeviceBatches, LoaderBatches
from ssl_core.data_pipeline import load_and_split, train_batches

CPU = torch.device("cpu")


def _batches(overrides: list[str], placement: str, batch: int = 8, steps: int = 4, seed: int = 0):
    cfg = load_config(None, ["data.num_workers=1", f"train.seed={seed}", f"data.placement={placement}", *overrides])
    index, splits = load_and_split(cfg)
    sampler = EpochSampler(len(splits["train"]), seed=seed)
    return train_batches(cfg, index, splits["train"], sampler, batch, steps, CPU)


def _epoch(batches, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.clone(), y.clone()) for x, y in batches.epoch(epoch)]


def _assert_same(a: list, b: list) -> None:
    assert len(a) == len(b) > 0
    for (xa, ya), (xb, yb) in zip(a, b):
        assert xa.dtype == xb.dtype and xa.shape == xb.shape
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


@pytest.mark.parametrize("overrides", [
    ["data.crop_seconds=0.5"],
    # 5 s crops: birdsong has 3-15 s recordings, so some crops wrap round a tiled recording.
    ["data.crop_seconds=5", "data.crops_per_item=3"],
    ["data.crop_seconds=1", "data.window_weighting=energy"],
], ids=["short-crops", "tiled-recordings", "energy-windows"])
def test_device_audio_batches_equal_the_loaders(overrides, birdsong_root) -> None:
    device, loader = _batches(overrides, "device"), _batches(overrides, "loader")
    try:
        assert isinstance(device, DeviceBatches) and isinstance(loader, LoaderBatches)
        for epoch in (0, 1):
            _assert_same(_epoch(device, epoch), _epoch(loader, epoch))
        if "data.crop_seconds=5" in overrides:
            assert (device.lengths < device.dataset.crop_samples).any(), "no tiled recording was exercised"
    finally:
        device.close()
        loader.close()


def test_device_image_batches_equal_the_loaders(digits_root) -> None:
    overrides = ["data.dataset=digits"]
    device, loader = _batches(overrides, "device"), _batches(overrides, "loader")
    try:
        assert isinstance(device, DeviceBatches)
        _assert_same(_epoch(device, 0), _epoch(loader, 0))
        x, _ = _epoch(device, 0)[0]
        assert x.dtype == torch.uint8 and x.dim() == 4
    finally:
        device.close()
        loader.close()


@pytest.mark.parametrize("placement", ["device", "loader"])
def test_a_fresh_source_resumes_at_any_epoch(placement, birdsong_root) -> None:
    """Epoch 2 from a fresh object (a resumed run) equals epoch 2 after epochs 0 and 1 ran:
    the loader's pass spans epochs and the device's next epoch is planned ahead, and neither
    may carry anything from the epochs before into the batches."""
    overrides = ["data.crop_seconds=0.5"]
    running = _batches(overrides, placement)
    fresh = _batches(overrides, placement)
    try:
        first = _epoch(running, 0)
        _epoch(running, 1)
        _assert_same(_epoch(running, 2), _epoch(fresh, 2))
        # Epochs differ (new order and crop seeds), so the equality above is not vacuous.
        assert not torch.equal(first[0][0], _epoch(fresh, 0)[1][0])
        # An epoch abandoned half-way, then asked for again, restarts it whole.
        partial = running.epoch(3)
        next(partial)
        partial.close()
        _assert_same(_epoch(running, 3), _epoch(fresh, 3))
    finally:
        running.close()
        fresh.close()


def test_auto_placement_follows_the_budget(birdsong_root, capsys) -> None:
    small = _batches(["data.crop_seconds=0.5", "data.device_data_gb=0.001"], "auto")
    big = _batches(["data.crop_seconds=0.5"], "auto")
    try:
        assert isinstance(small, LoaderBatches) and isinstance(big, DeviceBatches)
        printed = capsys.readouterr().out
        assert "train data: loader (0.092 GB decoded > data.device_data_gb=0.001" in printed
        assert "train data: device (0.092 GB decoded on cpu" in printed
        # The held split is the decoded train split: float16, every sample once (no tiling at 0.5 s).
        assert big.flat.dtype == torch.float16 and big.flat.numel() == int(big.lengths.sum())
    finally:
        small.close()
        big.close()


def test_device_placement_over_budget_names_the_fix(birdsong_root) -> None:
    with pytest.raises(ConfigError, match=r"data.device_data_gb=0.001; raise data.device_data_gb to at least 0.09"):
        _batches(["data.device_data_gb=0.001"], "device")
    for bad in ["data.placement=gpu", "data.device_data_gb=-1", "data.device_data_gb=inf"]:
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            load_config(None, [bad])


def _losses(tmp_path: Path, placement: str, resume_from=None, run: str = "run") -> dict[int, float]:
    from ssl_core.trainer import train

    cfg = load_config(None, ["data.batch_size=8", "data.crop_seconds=0.5", "train.epochs=2",
                             "train.max_steps_per_epoch=3", "train.progress=off", "data.num_workers=1",
                             "eval.before_training=false", "model.backbone=resnet10t", "method.name=simclr",
                             "train.device=cpu", f"data.placement={placement}"])
    losses: dict[int, float] = {}
    train(cfg, run_dir=tmp_path / run, resume_from=resume_from,
          step_callback=lambda step, loss, logs: losses.__setitem__(step, loss))
    return losses


def test_training_is_the_same_on_both_paths_and_resumes(tmp_path, birdsong_root) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny steps on shared cores
    try:
        device = _losses(tmp_path, "device", run="device")
        loader = _losses(tmp_path, "loader", run="loader")
        assert device == loader  # same crops, same augmentations, same steps: bit for bit
        resumed = _losses(tmp_path, "loader", resume_from=tmp_path / "loader" / "checkpoints" / "epoch_0001",
                          run="resumed")
        assert sorted(resumed) == [3, 4, 5] and all(resumed[s] == loader[s] for s in resumed)
    finally:
        torch.set_num_threads(before)
