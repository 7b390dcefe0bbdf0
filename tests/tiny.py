"""Tiny run configs for tests: timm's test_resnet, short crops, few steps, no loader processes."""

from __future__ import annotations

from pathlib import Path

from ssl_core.config import Config, load_config


def tiny_config(method: str, output_dir: Path, dataset: str = "birdsong", epochs: int = 2,
                steps: int = 6, extra: tuple[str, ...] = ()) -> Config:
    overrides = [
        f"method.name={method}", f"data.dataset={dataset}", f"train.output_dir={output_dir}",
        f"train.epochs={epochs}", f"train.max_steps_per_epoch={steps}",
        "model.backbone=test_resnet", "model.proj_hidden_dim=64", "model.embedding_dim=32",
        "model.pred_hidden_dim=32", "method.dino_out_dim=64", "method.queue_size=64",
        "data.batch_size=16", "data.num_workers=0", "data.crop_seconds=1.0",
        "optim.lr=0.002", "optim.scale_lr_with_batch=false", "optim.warmup_epochs=0", "eval.linear_probe=final", "eval.before_training=false", "train.progress=off",
    ]
    return load_config(None, overrides + list(extra))
