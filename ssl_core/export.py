"""Export a trained backbone as a plain state dict that timm loads for fine-tuning.

``timm.create_model(name, pretrained=False, num_classes=0, in_chans=C,
checkpoint_path="backbone.pth")`` loads the file: the users' "convert the SSL checkpoint"
step. Only the backbone is kept; projectors, predictors and EMA targets are dropped.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from ssl_core.atomic import atomic_file, atomic_write_text
from ssl_core.models import timm_global_pool
from ssl_core.run import LoadedRun


def export_backbone(run: LoadedRun, out_path: str | Path) -> Path:
    """Write the run's backbone weights (CPU tensors, timm's key names) to ``out_path`` atomically.

    ``<out_path>.yaml`` beside it records the timm name, ``in_chans`` and the pooling
    (``model.global_pool`` resolved, when not the model's own) needed to rebuild it;
    each file is replaced atomically. Returns ``out_path``.
    """
    out_path = Path(out_path)
    state = {key: value.detach().cpu() for key, value in run.method.backbone.state_dict().items()}
    name, in_chans = run.cfg.model.backbone, int(run.data.in_chans)
    pool = timm_global_pool(run.cfg.model.global_pool, run.data.index.modality)
    with atomic_file(out_path, binary=True) as handle:
        torch.save(state, handle)
    # The pooling has no weights, so the file loads under any; the embedding is the run's under its own.
    pooling = {"global_pool": pool} if pool else {}
    pool_arg = f"global_pool='{pool}', " if pool else ""
    info = {"timm_model": name, "in_chans": in_chans, "num_classes": 0, **pooling,
            "load_with": f"timm.create_model('{name}', pretrained=False, num_classes=0, in_chans={in_chans}, "
                         f"{pool_arg}checkpoint_path='{out_path.name}')"}
    atomic_write_text(out_path.with_suffix(".yaml"), yaml.safe_dump(info, sort_keys=False))
    return out_path


def load_backbone_weights(backbone: torch.nn.Module, path: str | Path) -> None:
    """Load a file written by :func:`export_backbone` into ``backbone`` (strict: every key, every shape).

    Fine-tuning starts from it (``model.init_backbone``). A file of another architecture or
    channel count is refused naming both, before any training.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.init_backbone={str(path)!r} does not exist; point it at a backbone "
                                f"exported by a search (<experiment>/best_backbone.pth)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    info_path = path.with_suffix(".yaml")
    if info_path.is_file():
        exported = (yaml.safe_load(info_path.read_text()) or {}).get("timm_model")
        built = (getattr(backbone, "pretrained_cfg", None) or {}).get("architecture")
        if exported and built and exported != built:
            raise ValueError(f"{path} holds a {exported} backbone, but the run builds {built}; "
                             f"set model.backbone={exported}")
    try:
        backbone.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path} does not fit model.backbone ({err}); fine-tune with the backbone and "
                         f"input channels it was exported with (its .yaml says which)") from None

