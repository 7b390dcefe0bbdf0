"""Export a trained backbone as a plain state dict that timm loads for fine-tuning.

``timm.create_model(name, pretrained=False, num_classes=0, in_chans=C,
checkpoint_path="backbone.pth")`` loads the file: the users' "convert the SSL checkpoint"
step. Only the backbone is kept; projectors, predictors and EMA targets are dropped.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
import yaml

from ssl_core.checkpoint import CONFIG_FILE, read_checkpoint

PREFIX = "backbone."


def backbone_state_dict(checkpoint_dir: Path) -> dict[str, torch.Tensor]:
    """The online backbone's weights from a trainer checkpoint, keys as timm names them."""
    model_state = read_checkpoint(checkpoint_dir)["model"]
    state = {key[len(PREFIX):]: value for key, value in model_state.items() if key.startswith(PREFIX)}
    if not state:
        raise ValueError(f"checkpoint {checkpoint_dir} holds no '{PREFIX}*' weights; was it written by ssl_core?")
    return state


def export_backbone(checkpoint_dir: Path, out_path: Path) -> Path:
    """Write the backbone state dict atomically to ``out_path`` and describe it beside it.

    ``<out_path>.yaml`` records the timm name and ``in_chans`` needed to rebuild it.
    """
    checkpoint_dir, out_path = Path(checkpoint_dir), Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    state = backbone_state_dict(checkpoint_dir)
    config = yaml.safe_load((checkpoint_dir / CONFIG_FILE).read_text())
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", dir=out_path.parent)
    os.close(fd)
    torch.save(state, tmp)
    os.replace(tmp, out_path)
    first_conv = next(v for v in state.values() if v.ndim == 4)
    info = {"timm_model": config["model"]["backbone"], "in_chans": int(first_conv.shape[1]),
            "num_classes": 0, "load_with": f"timm.create_model('{config['model']['backbone']}', pretrained=False, "
            f"num_classes=0, in_chans={int(first_conv.shape[1])}, checkpoint_path='{out_path.name}')"}
    out_path.with_suffix(".yaml").write_text(yaml.safe_dump(info, sort_keys=False))
    return out_path
