"""Tiny run configs and search spaces for tests: timm's test_resnet, short crops, few steps,
no loader processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

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


# The base of every tiny search the tests launch: SimCLR on 1 s birdsong crops with timm's
# test_resnet, 4 steps per epoch, no loader processes. Trials take seconds per epoch.
TINY_SPACE_BASE: dict[str, dict[str, Any]] = {
    "method": {"name": "simclr"},
    "data": {"dataset": "birdsong", "batch_size": 16, "num_workers": 0, "crop_seconds": 1.0},
    "model": {"backbone": "test_resnet", "proj_hidden_dim": 64, "embedding_dim": 32},
    "train": {"max_steps_per_epoch": 4, "progress": "off"},
    "optim": {"lr": 0.002, "warmup_epochs": 0},
}


def tiny_space_text(params: dict[str, dict[str, list]], *, trials: int, epochs: int, concurrent: int,
                    scheduler: dict[str, Any] | None = None, base: dict[str, dict[str, Any]] | None = None,
                    searched: tuple[str, ...] = (), description: str = "tiny test search",
                    objective: dict[str, str] | None = None, confirm: Any = "none") -> str:
    """Search-space YAML over :data:`TINY_SPACE_BASE`, objective max knn_top1 unless ``objective``.

    ``base`` adds or replaces entries per section (``{"eval": {"linear_probe": "never"}}``);
    ``searched`` removes dotted base keys (``"optim.lr"``) so that ``params`` may search
    them; ``scheduler`` None means no early stopping; ``confirm`` is the space's confirmation
    stage (none by default: most tests are about the search itself).
    """
    sections = {name: dict(values) for name, values in TINY_SPACE_BASE.items()}
    for name, values in (base or {}).items():
        sections.setdefault(name, {}).update(values)
    for dotted in searched:
        name, key = dotted.split(".", 1)
        del sections[name][key]
    space = {"description": description, "base": sections, "params": params,
             "objective": objective or {"metric": "knn_top1", "mode": "max"},
             "budget": {"trials": trials, "epochs": epochs, "max_concurrent": concurrent},
             "scheduler": scheduler or {"name": "none"}, "confirm": confirm}
    return yaml.safe_dump(space, sort_keys=False)
