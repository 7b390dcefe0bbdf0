"""A checkpoint's kNN bank, embedded once: saved beside its weights, read back by every report.

Every report of a trained run scores queries against the same bank: the labelled train
split embedded by the checkpoint's network (:class:`ssl_core.eval_runner.Evaluator`). The
trainer has just embedded it for the evaluation it checkpoints, with exactly those weights,
so it writes it into the best checkpoint (``BANK_FILE``; the periodic ones only resume
training), and the verdict, the test report, the confirmation's paired interval and the
benches read it instead of embedding the train split again: in the default search on
birdsong, 314 train recordings for every 69 test ones (README, "The search", has the wall
time it saved). Its size is the train split's labelled items x the feature width in float32:
0.6 MB on birdsong, ~50 MB for 25,000 recordings at resnet10t's 512 features (2.5 times the
backbone's weights).

The file is used only while it still describes what a report would compute: the settings
that shape an embedding beyond the weights (the data's windows and splits, the front end, the
model, ``eval.features``) are hashed into it, and a report that overrides one of them
(``load_run(overrides=...)``) or the untrained network of the same checkpoint embeds afresh.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from ssl_core.config import Config
from ssl_core.eval.evaluate import SplitEmbeddings

BANK_FILE = "bank_embeddings.pt"

#: Data settings that only decide how batches are loaded or how training draws windows: a bank
#: embedded under one value is the same under another (evaluation is deterministic, eval mode).
LOADING_ONLY = ("num_workers", "placement", "device_data_gb", "batch_size", "cache_decoded", "decode_cache",
                "cache_dir", "windows_per_epoch", "window_weighting", "crops_per_item")


def bank_key(cfg: Config) -> str:
    """A digest of the settings (besides the weights) that the bank's embeddings depend on."""
    as_dict = cfg.to_dict()
    data = {k: v for k, v in as_dict["data"].items() if k not in LOADING_ONLY}
    shaping = {"data": data, "frontend": as_dict["frontend"], "model": as_dict["model"],
               "features": as_dict["eval"]["features"]}
    return hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()


def bank_payload(cfg: Config, bank: SplitEmbeddings) -> dict:
    """What ``BANK_FILE`` holds: ``features [N, F]`` float32 and ``labels [N]`` on the CPU, and the key."""
    return {"key": bank_key(cfg), "features": bank.features.detach().float().cpu(),
            "labels": bank.labels.detach().long().cpu()}


def read_bank(checkpoint_dir: Path, cfg: Config, device: torch.device, labels: torch.Tensor) -> SplitEmbeddings | None:
    """The bank saved with ``checkpoint_dir`` if it matches ``cfg`` and the bank's ``labels [N]``
    as the data reads them now (a data folder changed since training does not); else None."""
    path = Path(checkpoint_dir) / BANK_FILE
    if not path.is_file():
        return None
    payload = torch.load(path, map_location="cpu", weights_only=True)
    saved = payload["labels"]
    same_items = saved.shape == labels.shape and torch.equal(saved, labels.long().cpu())
    if payload.get("key") != bank_key(cfg) or not same_items:
        return None
    return SplitEmbeddings(payload["features"].to(device), saved.to(device))
